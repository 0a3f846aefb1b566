//! Facts about the machine a run happened on, for the results header: CPU, cores, memory,
//! kernel, load average, and the date (UTC) without a date crate.

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

/// One line describing the machine: CPU model, cores, memory and kernel.
pub(crate) fn describe() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name").map(|rest| rest.trim_start_matches([' ', '\t', ':']))
        })
        .unwrap_or("unknown CPU")
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores, {:.0} GiB RAM, Linux {}",
        memory_kib as f64 / (1024.0 * 1024.0),
        kernel.trim()
    )
}

/// The 1-, 5- and 15-minute load averages as the kernel prints them.
pub(crate) fn load_average() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Now as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn utc_now() -> String {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format_utc(seconds)
}

/// `seconds` since the Unix epoch as `YYYY-MM-DD HH:MM UTC` (proleptic Gregorian calendar).
fn format_utc(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let minute_of_day = seconds % 86_400 / 60;
    let (year, month, day) = culex_compat::time::civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", minute_of_day / 60, minute_of_day % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(format_utc(1_795_316_426), "2026-11-22 03:00 UTC");
        assert_eq!(format_utc(4_107_542_399), "2100-02-28 23:59 UTC");
    }

    #[test]
    fn machine_line_names_cores_and_kernel() {
        let line = describe();
        assert!(line.contains(" cores, "), "{line}");
        assert!(line.contains("Linux "), "{line}");
        assert_eq!(load_average().split(' ').count(), 3);
    }
}
