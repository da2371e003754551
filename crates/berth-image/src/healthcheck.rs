//! The `HEALTHCHECK` instruction (of `docker commit --change` and `docker import --change`, and of
//! Dockerfiles once they are built): `HEALTHCHECK NONE`, or options then `CMD` in shell or exec form.

use crate::config::HealthConfig;
use crate::error::ImageError;

fn invalid(msg: impl Into<String>) -> ImageError {
    ImageError::InvalidInput(msg.into())
}

/// Parses what follows `HEALTHCHECK`. `json_array` reads the exec form.
pub fn parse(rest: &str, json_array: fn(&str) -> Option<Vec<String>>) -> Result<HealthConfig, ImageError> {
    let mut h = HealthConfig::default();
    let mut rest = rest.trim();
    while let Some(opt) = rest.strip_prefix("--") {
        let end = opt.find(char::is_whitespace).unwrap_or(opt.len());
        let (flag, tail) = opt.split_at(end);
        rest = tail.trim_start();
        let (name, value) = flag.split_once('=').ok_or_else(|| invalid(format!("flag --{flag} needs a value")))?;
        let duration = |what: &str| -> Result<i64, ImageError> {
            let d =
                parse_go_duration(value).ok_or_else(|| invalid(format!("invalid duration {value:?} for --{name}")))?;
            if d != 0 && d < 1_000_000 {
                return Err(invalid(format!("{what} cannot be less than 1ms")));
            }
            Ok(d)
        };
        match name {
            "interval" => h.interval = duration("Interval")?,
            "timeout" => h.timeout = duration("Timeout")?,
            "start-period" => h.start_period = duration("StartPeriod")?,
            "start-interval" => h.start_interval = duration("StartInterval")?,
            "retries" => {
                h.retries = value.parse().map_err(|_| invalid(format!("invalid --retries value {value:?}")))?;
                if h.retries < 0 {
                    return Err(invalid(format!("--retries cannot be negative ({})", h.retries)));
                }
            }
            _ => return Err(invalid(format!("unknown flag: --{name}"))),
        }
    }
    let (kind, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    match kind.to_ascii_uppercase().as_str() {
        "NONE" if args.is_empty() => h.test = vec!["NONE".into()],
        "NONE" => return Err(invalid("HEALTHCHECK NONE takes no arguments")),
        "CMD" if args.is_empty() => return Err(invalid("Missing command after HEALTHCHECK CMD")),
        "CMD" => match json_array(args) {
            Some(argv) => h.test = std::iter::once("CMD".to_string()).chain(argv).collect(),
            None => h.test = vec!["CMD-SHELL".into(), args.to_string()],
        },
        other => return Err(invalid(format!("Unknown type {other:?} in HEALTHCHECK (try CMD)"))),
    }
    Ok(h)
}

/// Go's `time.ParseDuration` for what Dockerfiles use: a sequence of decimal numbers with units
/// ns, us/µs, ms, s, m, h ("1m30s", "1.5s", "500ms"). Nanoseconds; None when malformed.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_end);
        let value: f64 = num.parse().ok()?;
        let unit_end = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * scale;
        rest = tail;
    }
    (total <= i64::MAX as f64).then_some(total.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> Option<Vec<String>> {
        s.starts_with('[').then(|| serde_json::from_str(s).ok()).flatten()
    }

    #[test]
    fn forms_and_options() {
        let h = parse("--interval=1s --timeout=500ms --start-period=1m30s --retries=2 CMD curl -f http://x/", json)
            .unwrap();
        assert_eq!(h.test, ["CMD-SHELL", "curl -f http://x/"]);
        assert_eq!((h.interval, h.timeout, h.start_period, h.retries), (1_000_000_000, 500_000_000, 90_000_000_000, 2));
        assert_eq!(parse(r#"CMD ["true", "x"]"#, json).unwrap().test, ["CMD", "true", "x"]);
        assert_eq!(parse("none", json).unwrap().test, ["NONE"]);
    }

    #[test]
    fn refusals_name_the_problem() {
        let e = |s: &str| parse(s, json).unwrap_err().to_string();
        assert!(e("--interval=1us CMD true").contains("less than 1ms"));
        assert!(e("--retries=-1 CMD true").contains("negative"));
        assert!(e("--bogus=1 CMD true").contains("--bogus"));
        assert!(e("--interval=abc CMD true").contains("invalid duration"));
        assert!(e("CMD").contains("Missing command"));
        assert!(e("RUN true").contains("Unknown type"));
        assert!(e("NONE x").contains("no arguments"));
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration("1h2m3s"), Some(3_723_000_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("10"), None, "a number needs a unit");
        assert_eq!(parse_go_duration("1x"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
