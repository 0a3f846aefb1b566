//! Local-time formatting for `-F`'s `@` specifiers, `%I`, `%U` and the JSON `tst` field.
//!
//! Mosquitto hands these to the C library's `strftime` on the local time, so we do too: every
//! conversion character, the time zone (`TZ`) and the C locale then behave exactly as there,
//! including unknown conversions that glibc copies through literally (`@q` prints `%q`).

use std::time::{SystemTime, UNIX_EPOCH};

/// One instant, taken once per received message and used for every time field in its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp {
    /// Whole seconds since the Unix epoch.
    pub(crate) secs: i64,
    /// Nanoseconds within that second.
    pub(crate) nanos: u32,
}

impl Timestamp {
    /// The current wall-clock time.
    pub(crate) fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Converts a `SystemTime` (times before 1970 count as the epoch).
    pub(crate) fn from_system_time(time: SystemTime) -> Self {
        let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        Self {
            secs: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
            nanos: since_epoch.subsec_nanos(),
        }
    }

    /// `strftime` of a single conversion character (`@Y` ⇒ `strftime("%Y")`) in local time.
    pub(crate) fn strftime_char(self, conversion: u8) -> Vec<u8> {
        self.strftime(&[b'%', conversion, 0])
    }

    /// `%I`: `strftime("%FT%T%z")`, e.g. `2026-11-22T01:58:12+0000`.
    pub(crate) fn iso8601(self) -> Vec<u8> {
        self.strftime(b"%FT%T%z\0")
    }

    /// `%U`: seconds, a point and nine digits of nanoseconds.
    pub(crate) fn unix_with_nanos(self) -> Vec<u8> {
        format!("{}.{:09}", self.secs, self.nanos).into_bytes()
    }

    /// The JSON `tst` value as Mosquitto 2.0.11 writes it: local time with microseconds, then a
    /// literal `Z` and the numeric zone (`2026-11-22T01:58:12.817305Z+0000`).
    pub(crate) fn json_tst(self) -> Vec<u8> {
        let mut text = self.strftime(b"%Y-%m-%dT%H:%M:%S\0");
        text.extend_from_slice(format!(".{:06}Z", self.nanos / 1000).as_bytes());
        text.extend_from_slice(&self.strftime(b"%z\0"));
        text
    }

    /// Runs the C library's `strftime` with a NUL-terminated `format` on this local time.
    fn strftime(self, format: &[u8]) -> Vec<u8> {
        debug_assert_eq!(format.last(), Some(&0), "strftime formats are NUL-terminated");
        let time = libc::time_t::try_from(self.secs).unwrap_or(libc::time_t::MAX);
        let mut buffer = [0u8; 256];
        let written = format_local_time(time, format, &mut buffer);
        buffer[..written].to_vec()
    }
}

/// Formats `time` as local time with `strftime`, returning the number of bytes written.
#[expect(unsafe_code, reason = "localtime_r and strftime are C library calls")]
fn format_local_time(time: libc::time_t, format: &[u8], buffer: &mut [u8]) -> usize {
    if format.last() != Some(&0) {
        return 0;
    }
    // SAFETY: `tm` is plain old data that localtime_r fully initialises when it returns
    // non-null; we only read it in that case.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call; localtime_r is the
    // thread-safe variant and writes only into `tm`.
    let converted = unsafe { libc::localtime_r(&time, &mut tm) };
    if converted.is_null() {
        return 0;
    }
    // SAFETY: `buffer` is writable for `buffer.len()` bytes, `format` is NUL-terminated
    // (checked above) and `tm` was initialised by localtime_r.
    unsafe { libc::strftime(buffer.as_mut_ptr().cast(), buffer.len(), format.as_ptr().cast(), &tm) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-22T02:04:01.593903507 UTC.
    const SAMPLE: Timestamp = Timestamp { secs: 1_795_313_041, nanos: 593_903_507 };

    /// Whether the local zone is UTC, for the assertions that spell out a wall-clock time.
    fn local_zone_is_utc() -> bool {
        SAMPLE.strftime_char(b'z') == b"+0000"
    }

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
        if !local_zone_is_utc() {
            return;
        }
        assert_eq!(SAMPLE.strftime_char(b'Y'), b"2026");
        assert_eq!(SAMPLE.strftime_char(b'c'), b"Sun Nov 22 02:04:01 2026");
    }

    #[test]
    fn iso8601_and_json_timestamps_have_mosquittos_shape() {
        let iso = SAMPLE.iso8601();
        assert_eq!(iso.len(), "2026-11-22T02:04:01+0000".len());
        let tst = SAMPLE.json_tst();
        assert!(tst.windows(8).any(|w| w == b".593903Z"), "{}", String::from_utf8_lossy(&tst));
        if !local_zone_is_utc() {
            return;
        }
        assert_eq!(SAMPLE.iso8601(), b"2026-11-22T02:04:01+0000");
        assert_eq!(SAMPLE.json_tst(), b"2026-11-22T02:04:01.593903Z+0000");
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
