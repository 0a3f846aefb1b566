//! The C library's `strftime(3)` on the local time, behind one safe function.
//!
//! Mosquitto formats its log timestamps and `mosquitto_sub`'s time fields with `localtime_r`
//! and `strftime`, so culex does too rather than use a Rust date crate: every conversion
//! character, the time zone (`TZ`) and the C locale then behave exactly as there, including
//! unknown conversions that glibc copies through literally (`%q` prints `%q`).
//!
//! This module holds the only `unsafe` of the crate. It also has [`civil_from_days`], the
//! UTC calendar date of a day count, for stamps that must not depend on the local zone.

use std::ffi::CStr;

/// Results this long or longer come out empty, as `strftime` returns 0 when its buffer is
/// too small (Mosquitto's own buffers are smaller).
pub const MAX_LEN: usize = 4096;

/// `strftime(format)` of `seconds` since the Unix epoch, in the local time zone. Empty when
/// the result would be [`MAX_LEN`] bytes or longer, is empty itself, or the time cannot be
/// converted.
pub fn strftime_local(seconds: i64, format: &CStr) -> Vec<u8> {
    let time = libc::time_t::try_from(seconds).unwrap_or(libc::time_t::MAX);
    let mut buffer = [0u8; MAX_LEN];
    let written = format_local_time(time, format, &mut buffer);
    buffer[..written].to_vec()
}

/// The proleptic Gregorian date `(year, month, day)` that is `days` after 1970-01-01 (Howard
/// Hinnant's algorithm: eras of 400 years from 0000-03-01, years starting in March so that
/// the leap day comes last).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // month is 1..=12 and day 1..=31 by construction.
    (year, u32::try_from(month).unwrap_or(1), u32::try_from(day).unwrap_or(1))
}

/// Formats `time` as local time into `buffer`, returning the number of bytes written.
#[expect(unsafe_code, reason = "localtime_r(3) and strftime(3) have no safe wrappers")]
fn format_local_time(time: libc::time_t, format: &CStr, buffer: &mut [u8]) -> usize {
    // SAFETY: `tm` is a plain C struct for which all zeroes is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call; localtime_r is the
    // thread-safe variant and writes only into `tm`.
    if unsafe { libc::localtime_r(&raw const time, &raw mut tm) }.is_null() {
        return 0;
    }
    // SAFETY: `buffer` is writable for `buffer.len()` bytes, `format` is NUL-terminated and
    // `tm` was initialised by localtime_r; strftime writes at most `buffer.len()` bytes.
    unsafe {
        libc::strftime(buffer.as_mut_ptr().cast(), buffer.len(), format.as_ptr(), &raw const tm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{child_zone, in_zone};

    /// 2026-11-22T02:04:01 UTC.
    const SAMPLE: i64 = 1_795_313_041;

    fn format(text: &CStr) -> String {
        String::from_utf8_lossy(&strftime_local(SAMPLE, text)).into_owned()
    }

    #[test]
    fn zone_independent_conversions() {
        assert_eq!(format(c"%s"), "1795313041");
        assert_eq!(format(c"%q"), "%q");
        assert_eq!(format(c"%%"), "%");
        assert_eq!(format(c""), "");
    }

    #[test]
    fn results_of_max_len_come_out_empty() {
        let long = std::ffi::CString::new("x".repeat(MAX_LEN)).unwrap_or_default();
        assert_eq!(format(&long), "");
        let fits = std::ffi::CString::new("x".repeat(MAX_LEN - 1)).unwrap_or_default();
        assert_eq!(format(&fits).len(), MAX_LEN - 1);
    }

    /// Zones (POSIX TZ strings, no database needed) and what `%FT%T%z` and `%c` give there.
    const ZONES: [(&str, &str, &str); 2] = [
        ("UTC0", "2026-11-22T02:04:01+0000", "Sun Nov 22 02:04:01 2026"),
        ("IST-5:30", "2026-11-22T07:34:01+0530", "Sun Nov 22 07:34:01 2026"),
    ];

    #[test]
    fn local_time_follows_tz() {
        for (zone, ..) in ZONES {
            in_zone(zone, "time::tests::formats_in_the_child_zone");
        }
    }

    #[test]
    #[ignore = "run by local_time_follows_tz in a child process with TZ set"]
    fn formats_in_the_child_zone() {
        let Some(zone) = child_zone() else { return };
        let found = ZONES.iter().find(|(name, ..)| *name == zone);
        let (_, iso, c) = found.unwrap_or_else(|| panic!("no expectations for TZ={zone}"));
        assert_eq!(format(c"%FT%T%z"), *iso);
        assert_eq!(format(c"%c"), *c);
    }
}
