//! CPU placement for `--cores`: the CPUs this process may use (`Cpus_allowed_list` in
//! `/proc/self/status`), which of them the broker gets at N cores and which the load
//! generator gets, and pinning with util-linux's `taskset` (a broker is started under it, so
//! every thread it makes inherits the mask; the generator's threads are re-pinned with
//! `taskset -a -p`). The bench forbids unsafe code, so it does not call `sched_setaffinity`
//! itself.

use std::fmt::Write as _;
use std::fs;
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail, ensure};

/// Parses a kernel CPU list (`0-3,8,10-11`) into CPU numbers, ascending.
pub(crate) fn parse_list(text: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',') {
        let (first, last): (usize, usize) = match part.split_once('-') {
            Some((first, last)) => (first.parse().ok()?, last.parse().ok()?),
            None => {
                let cpu: usize = part.parse().ok()?;
                (cpu, cpu)
            }
        };
        if first > last {
            return None;
        }
        cpus.extend(first..=last);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// `cpus` as a kernel CPU list with ranges (`0-1,4`), as `taskset -c` reads it.
pub(crate) fn format_list(cpus: &[usize]) -> String {
    let mut text = String::new();
    let mut index = 0;
    while index < cpus.len() {
        let first = cpus[index];
        while index + 1 < cpus.len() && cpus[index + 1] == cpus[index] + 1 {
            index += 1;
        }
        let separator = if text.is_empty() { "" } else { "," };
        let _ = match cpus[index] {
            last if last == first => write!(text, "{separator}{first}"),
            last => write!(text, "{separator}{first}-{last}"),
        };
        index += 1;
    }
    text
}

/// The CPUs this process may run on.
pub(crate) fn allowed() -> Result<Vec<usize>> {
    let status = fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .and_then(parse_list)
        .filter(|cpus| !cpus.is_empty())
        .context("no Cpus_allowed_list line in /proc/self/status")
}

/// Where the broker and the load generator run when the broker is allowed `cores` CPUs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    /// The first `cores` of the allowed CPUs.
    pub(crate) broker: Vec<usize>,
    /// The allowed CPUs the broker does not have; all of them when it has every one.
    pub(crate) generator: Vec<usize>,
}

impl Placement {
    /// The placement for each of `counts` (sorted, repeats dropped) on the `allowed` CPUs.
    pub(crate) fn for_counts(allowed: &[usize], counts: &[usize]) -> Result<Vec<Self>> {
        ensure!(!counts.is_empty(), "--cores needs at least one number of cores");
        let mut counts = counts.to_vec();
        counts.sort_unstable();
        counts.dedup();
        counts
            .iter()
            .map(|&cores| {
                if cores == 0 || cores > allowed.len() {
                    bail!(
                        "--cores {cores}: this process may use {} CPUs ({})",
                        allowed.len(),
                        format_list(allowed)
                    );
                }
                let (broker, rest) = allowed.split_at(cores);
                let generator = if rest.is_empty() { allowed } else { rest };
                Ok(Self { broker: broker.to_vec(), generator: generator.to_vec() })
            })
            .collect()
    }

    /// How many CPUs the broker has.
    pub(crate) fn cores(&self) -> usize {
        self.broker.len()
    }
}

/// `taskset -c CPUS PROGRAM`: a command that runs `program` on `cpus` only (taskset sets the
/// mask and then execs it, so the process id is the program's).
pub(crate) fn pinned_command(cpus: &[usize], program: &std::path::Path) -> Command {
    let mut command = Command::new("taskset");
    command.arg("-c").arg(format_list(cpus)).arg(program);
    command
}

/// Moves every thread of process `pid` onto `cpus` (`taskset -a -p -c`); threads it starts
/// later inherit the mask.
pub(crate) fn pin_process(pid: u32, cpus: &[usize]) -> Result<()> {
    let output = Command::new("taskset")
        .args(["-a", "-p", "-c", &format_list(cpus), &pid.to_string()])
        .stdin(Stdio::null())
        .output()
        .context("running taskset (util-linux)")?;
    if !output.status.success() {
        bail!(
            "taskset -a -p -c {} {pid} failed ({}): {}",
            format_list(cpus),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_read_and_write_ranges() {
        assert_eq!(parse_list("0-1\n"), Some(vec![0, 1]));
        assert_eq!(parse_list("0-2,5,7-8"), Some(vec![0, 1, 2, 5, 7, 8]));
        assert_eq!(parse_list("3"), Some(vec![3]));
        assert_eq!(parse_list("2-1"), None);
        assert_eq!(parse_list("a"), None);
        assert_eq!(format_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(format_list(&[1]), "1");
        assert_eq!(format_list(&[]), "");
        assert!(!allowed().unwrap().is_empty());
    }

    #[test]
    fn the_generator_gets_the_cpus_the_broker_does_not() {
        let placements = Placement::for_counts(&[0, 1], &[2, 1, 2]).unwrap();
        assert_eq!(
            placements,
            [
                Placement { broker: vec![0], generator: vec![1] },
                Placement { broker: vec![0, 1], generator: vec![0, 1] },
            ]
        );
        assert_eq!(placements[1].cores(), 2);
        let four = Placement::for_counts(&[2, 3, 6, 7], &[3]).unwrap();
        assert_eq!(four, [Placement { broker: vec![2, 3, 6], generator: vec![7] }]);
        for counts in [&[0][..], &[3], &[]] {
            assert!(Placement::for_counts(&[0, 1], counts).is_err(), "{counts:?}");
        }
    }

    /// Waits (up to 5 s) until process `pid` may run on `cpus` exactly, as the kernel
    /// reports it: taskset sets the mask a moment after it starts.
    fn wait_for_mask(pid: u32, cpus: &[usize]) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            let mask = status.lines().find_map(|line| line.strip_prefix("Cpus_allowed_list:"));
            if mask.and_then(parse_list).as_deref() == Some(cpus) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{pid} has {mask:?}, not {cpus:?}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn taskset_pins_a_started_program_and_a_running_process() {
        let allowed = allowed().unwrap();
        let mut child = pinned_command(&allowed[..1], std::path::Path::new("sleep"))
            .arg("10")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_mask(child.id(), &allowed[..1]);
        pin_process(child.id(), &allowed).unwrap();
        wait_for_mask(child.id(), &allowed);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
