//! What the kernel says about a broker process: CPU time from `/proc/PID/stat`, resident
//! memory (`VmRSS`) and its high-water mark (`VmHWM`, reset through `/proc/PID/clear_refs`)
//! from `/proc/PID/status`, and bytes sent to storage from `/proc/PID/io`.

use std::fs;
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context as _, Result};

/// CPU time a process has used in user and kernel mode, in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CpuTicks {
    pub(crate) user: u64,
    pub(crate) system: u64,
}

impl CpuTicks {
    /// Seconds of CPU from `self` to `later`.
    pub(crate) fn seconds_until(self, later: Self) -> f64 {
        let ticks = (later.user + later.system).saturating_sub(self.user + self.system);
        ticks as f64 / clock_ticks_per_second() as f64
    }
}

/// Parses `utime` and `stime` (fields 14 and 15) from the text of `/proc/PID/stat`. The command
/// name (field 2) is in parentheses and may hold spaces or parentheses itself, so fields are
/// counted after the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<CpuTicks> {
    let after_name = &text[text.rfind(')')? + 1..];
    // After the name come field 3 (state), 4, 5 … so utime (14) is the 12th token.
    let mut fields = after_name.split_whitespace().skip(11);
    let user = fields.next()?.parse().ok()?;
    let system = fields.next()?.parse().ok()?;
    Some(CpuTicks { user, system })
}

/// Parses a `NAME:   1234 kB` line (`VmRSS`, `VmHWM`) from the text of `/proc/PID/status`,
/// in bytes.
pub(crate) fn parse_status_kib(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))?;
    let mut words = line.split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => Some(value * 1024),
        _ => None,
    }
}

/// Parses `write_bytes: N` from the text of `/proc/PID/io`: bytes the process caused to be
/// sent to the storage layer (counted when it dirties a page cache page, so a small append
/// after a sync counts the whole page again).
pub(crate) fn parse_write_bytes(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("write_bytes:"))?;
    line["write_bytes:".len()..].trim().parse().ok()
}

/// Bytes process `pid` has caused to be written to storage so far.
pub(crate) fn write_bytes(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/io");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_write_bytes(&text).with_context(|| format!("no write_bytes line in {path}"))
}

/// CPU time used so far by process `pid`.
pub(crate) fn cpu(pid: u32) -> Result<CpuTicks> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat(&text).with_context(|| format!("no utime/stime in {path}: {text:?}"))
}

/// Resident memory of process `pid`, in bytes.
pub(crate) fn rss(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS")
}

/// The most resident memory process `pid` has had since it started or since
/// [`reset_peak_rss`], in bytes.
pub(crate) fn peak_rss(pid: u32) -> Result<u64> {
    status_kib(pid, "VmHWM")
}

/// Sets process `pid`'s `VmHWM` back to its resident memory now (writing 5 to
/// `/proc/PID/clear_refs`, Linux 4.0 and later), so [`peak_rss`] tells the peak from here on.
pub(crate) fn reset_peak_rss(pid: u32) -> Result<()> {
    let path = format!("/proc/{pid}/clear_refs");
    fs::write(&path, "5").with_context(|| format!("writing 5 to {path}"))
}

fn status_kib(pid: u32, name: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status_kib(&text, name).with_context(|| format!("no {name} line in {path}"))
}

/// `CLK_TCK` as `getconf` reports it (100 on every Linux this runs on; asked once).
fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|ticks| *ticks > 0)
            .unwrap_or(100)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let text = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    517 203 0 0 20 0 3 0 12345 123456789 2345 18446744073709551615";
        assert_eq!(parse_stat(text), Some(CpuTicks { user: 517, system: 203 }));
        assert_eq!(parse_stat("12 (x) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn status_sizes_are_read_in_bytes() {
        let text = "Name:\tculex\nVmPeak:\t  9000 kB\nVmHWM:\t    6144 kB\nVmRSS:\t    5120 kB\n";
        assert_eq!(parse_status_kib(text, "VmRSS"), Some(5120 * 1024));
        assert_eq!(parse_status_kib(text, "VmHWM"), Some(6144 * 1024));
        assert_eq!(parse_status_kib("Name:\tx\n", "VmRSS"), None);
        assert_eq!(parse_status_kib("VmRSS:\t12 MB\n", "VmRSS"), None);
        assert_eq!(parse_status_kib("VmRSSX:\t12 kB\n", "VmRSS"), None);
    }

    #[test]
    fn write_bytes_is_read_from_its_own_line() {
        let text = "rchar: 10\nwchar: 20\nread_bytes: 4096\nwrite_bytes: 8192\n\
                    cancelled_write_bytes: 0\n";
        assert_eq!(parse_write_bytes(text), Some(8192));
        assert_eq!(parse_write_bytes("rchar: 1\n"), None);
    }

    #[test]
    fn this_process_can_be_measured() {
        let pid = std::process::id();
        assert!(rss(pid).unwrap() > 0);
        let before = cpu(pid).unwrap();
        assert!(before.seconds_until(cpu(pid).unwrap()) >= 0.0);
        assert!(write_bytes(pid).is_ok());
    }

    #[test]
    fn a_child_s_peak_memory_can_be_reset_and_read() {
        let mut child = Command::new("sleep").arg("10").spawn().unwrap();
        reset_peak_rss(child.id()).unwrap();
        // The child may still be starting: its peak read later covers its size read now.
        let now = rss(child.id()).unwrap();
        let peak = peak_rss(child.id()).unwrap();
        assert!(now > 0 && peak >= now, "{peak} < {now}");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
