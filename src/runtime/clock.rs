//! Wall-clock timestamps in the upstream's format: ISO 8601, UTC, milliseconds, `Z`.

use chrono::{DateTime, SecondsFormat, Utc};

/// The current time.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Formats a time as the upstream does: `2026-05-17T01:15:26.670Z`.
pub fn format(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The current time, formatted.
pub fn now_string() -> String {
    format(now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_with_milliseconds_and_z() {
        let t = Utc.with_ymd_and_hms(2026, 5, 17, 1, 15, 26).unwrap()
            + chrono::Duration::milliseconds(670);
        assert_eq!(format(t), "2026-05-17T01:15:26.670Z");
    }
}
