//! Go's `time.ParseDuration`, for HEALTHCHECK flags: Docker accepts exactly Go's syntax
//! (`1m30s`, `1.5h`, `500ms`, `10us`) and reports errors in Go's words. The logic follows
//! `crates/berth-image/src/healthcheck.rs` (copied rather than depended on, to keep this crate
//! free of the image store), made exact with integer arithmetic and Go's messages.

/// Nanoseconds, possibly negative (callers reject durations under 1ms, negatives included).
pub(crate) fn parse_go_duration(orig: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration {orig:?}");
    let mut s = orig;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        negative = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !s.is_empty() {
        let int_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (int_digits, tail) = s.split_at(int_end);
        let (frac_digits, tail) = match tail.strip_prefix('.') {
            Some(t) => {
                let end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
                t.split_at(end)
            }
            None => ("", tail),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid());
        }
        let unit_end = tail.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale: i128 = match unit {
            "" => return Err(format!("time: missing unit in duration {orig:?}")),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {orig:?}")),
        };
        // Bound the digits so the arithmetic cannot overflow; such values are out of range anyway.
        if int_digits.len() > 20 {
            return Err(invalid());
        }
        let int: i128 = if int_digits.is_empty() { 0 } else { int_digits.parse().map_err(|_| invalid())? };
        let mut value = int * scale;
        // Go truncates fractional nanoseconds; only the leading digits can matter.
        let frac = &frac_digits[..frac_digits.len().min(18)];
        if !frac.is_empty() {
            let f: i128 = frac.parse().map_err(|_| invalid())?;
            value += f * scale / 10i128.pow(frac.len() as u32);
        }
        total += value;
        if total > i64::MAX as i128 {
            return Err(invalid());
        }
        s = tail;
    }
    Ok(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration as d;

    #[test]
    fn go_syntax() {
        assert_eq!(d("30s"), Ok(30_000_000_000));
        assert_eq!(d("1m30s"), Ok(90_000_000_000));
        assert_eq!(d("500ms"), Ok(500_000_000));
        assert_eq!(d("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(d(".5s"), Ok(500_000_000));
        assert_eq!(d("10us"), Ok(10_000));
        assert_eq!(d("0"), Ok(0));
        assert_eq!(d("-1s"), Ok(-1_000_000_000));
    }

    #[test]
    fn go_errors() {
        assert_eq!(d("abc"), Err(r#"time: invalid duration "abc""#.into()));
        assert_eq!(d(""), Err(r#"time: invalid duration """#.into()));
        assert_eq!(d("10"), Err(r#"time: missing unit in duration "10""#.into()));
        assert_eq!(d("3x"), Err(r#"time: unknown unit "x" in duration "3x""#.into()));
        assert_eq!(d("99999999999h"), Err(r#"time: invalid duration "99999999999h""#.into()));
    }
}
