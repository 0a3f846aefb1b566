//! Local-time formatting for `-F`'s `@` specifiers, `%I`, `%U` and the JSON `tst` field.
//!
//! Mosquitto hands these to the C library's `strftime` on the local time, so we do too
//! ([`culex_compat::time::strftime_local`]): every conversion character, the time zone (`TZ`)
//! and the C locale then behave exactly as there, including unknown conversions that glibc
//! copies through literally (`@q` prints `%q`).

use std::ffi::CStr;
use std::time::{SystemTime, UNIX_EPOCH};

use culex_compat::time::strftime_local;

/// One instant, taken once per received message and used for every time field in its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Whole seconds since the Unix epoch.
    pub secs: i64,
    /// Nanoseconds within that second.
    pub nanos: u32,
}

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Converts a `SystemTime` (times before 1970 count as the epoch).
    pub fn from_system_time(time: SystemTime) -> Self {
        let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        Self {
            secs: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
            nanos: since_epoch.subsec_nanos(),
        }
    }

    /// `strftime` of a single conversion character (`@Y` ⇒ `strftime("%Y")`) in local time.
    pub fn strftime_char(self, conversion: u8) -> Vec<u8> {
        let format = [b'%', conversion, 0];
        // A NUL conversion character ends the format early, as it would in C.
        let format = CStr::from_bytes_until_nul(&format).unwrap_or(c"");
        strftime_local(self.secs, format)
    }

    /// `%I`: `strftime("%FT%T%z")`, e.g. `2026-11-22T01:58:12+0000`.
    pub fn iso8601(self) -> Vec<u8> {
        strftime_local(self.secs, c"%FT%T%z")
    }

    /// `%U`: seconds, a point and nine digits of nanoseconds.
    pub fn unix_with_nanos(self) -> Vec<u8> {
        format!("{}.{:09}", self.secs, self.nanos).into_bytes()
    }

    /// The JSON `tst` value as Mosquitto 2.0.11 writes it: local time with microseconds, then a
    /// literal `Z` and the numeric zone (`2026-11-22T01:58:12.817305Z+0000`).
    pub fn json_tst(self) -> Vec<u8> {
        let mut text = strftime_local(self.secs, c"%Y-%m-%dT%H:%M:%S");
        text.extend_from_slice(format!(".{:06}Z", self.nanos / 1000).as_bytes());
        text.extend_from_slice(&strftime_local(self.secs, c"%z"));
        text
    }
}

#[cfg(test)]
mod tests {
    use culex_compat::testing::{child_zone, in_zone};

    use super::*;

    /// 2026-11-22T02:04:01.593903507 UTC.
    const SAMPLE: Timestamp = Timestamp { secs: 1_795_313_041, nanos: 593_903_507 };

    #[test]
    fn zone_independent_conversions_go_through_strftime() {
        assert_eq!(SAMPLE.strftime_char(b's'), b"1795313041");
        assert_eq!(SAMPLE.strftime_char(b'q'), b"%q");
        assert_eq!(SAMPLE.strftime_char(b'E'), b"%E");
        assert_eq!(SAMPLE.strftime_char(b'n'), b"\n");
        assert_eq!(SAMPLE.strftime_char(b'%'), b"%");
    }

    #[test]
    fn wall_clock_conversions_use_local_time() {
        for zone in ["UTC0", "IST-5:30"] {
            in_zone(zone, "print::clock::tests::wall_clock_in_the_child_zone");
        }
    }

    #[test]
    #[ignore = "run by wall_clock_conversions_use_local_time with TZ set"]
    fn wall_clock_in_the_child_zone() {
        let (hour, zone) = match child_zone().as_deref() {
            Some("UTC0") => ("02", "+0000"),
            Some("IST-5:30") => ("07", "+0530"),
            _ => return,
        };
        let minute = if zone == "+0000" { "04" } else { "34" };
        let time = format!("{hour}:{minute}:01");
        assert_eq!(SAMPLE.strftime_char(b'Y'), b"2026");
        assert_eq!(SAMPLE.strftime_char(b'c'), format!("Sun Nov 22 {time} 2026").as_bytes());
        assert_eq!(SAMPLE.iso8601(), format!("2026-11-22T{time}{zone}").as_bytes());
        assert_eq!(SAMPLE.json_tst(), format!("2026-11-22T{time}.593903Z{zone}").as_bytes());
    }

    #[test]
    fn iso8601_and_json_timestamps_have_mosquittos_shape() {
        let iso = SAMPLE.iso8601();
        assert_eq!(iso.len(), "2026-11-22T02:04:01+0000".len());
        let tst = SAMPLE.json_tst();
        assert!(tst.windows(8).any(|w| w == b".593903Z"), "{}", String::from_utf8_lossy(&tst));
    }

    #[test]
    fn unix_time_has_nine_digits_of_nanoseconds() {
        assert_eq!(SAMPLE.unix_with_nanos(), b"1795313041.593903507");
        let early = Timestamp { secs: 5, nanos: 7 };
        assert_eq!(early.unix_with_nanos(), b"5.000000007");
    }

    #[test]
    fn conversion_from_system_time_splits_seconds_and_nanoseconds() {
        let time = UNIX_EPOCH + std::time::Duration::new(12, 345);
        assert_eq!(Timestamp::from_system_time(time), Timestamp { secs: 12, nanos: 345 });
    }
}
