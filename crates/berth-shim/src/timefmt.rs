//! RFC 3339 timestamps with nanoseconds in UTC, hand-rolled: chrono would cost more binary and
//! memory than the twenty lines it replaces.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub fn now() -> String {
    format(SystemTime::now())
}

/// Formats a wall-clock time; times before the epoch are clamped to it (never happens on a sane clock).
pub fn format(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format_unix(d.as_secs() as i64, d.subsec_nanos())
}

fn format_unix(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, (rem / 60) % 60, rem % 60)
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_unix(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(format_unix(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        // 2026-11-22T22:55:14Z, cross-checked with `date -u -d @1795388114`.
        assert_eq!(format_unix(1_795_388_114, 123_456_789), "2026-11-22T22:55:14.123456789Z");
        assert_eq!(format_unix(4_107_542_399, 999_999_999), "2100-02-28T23:59:59.999999999Z");
    }
}
