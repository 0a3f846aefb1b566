//! Test support for output that depends on the local time zone: the zone of a running test
//! process cannot be changed safely (other test threads read it), so [`in_zone`] runs one
//! test again in a child process with `TZ` set. Enabled by the `testing` feature.

use std::process::Command;

/// Set in the child process that [`in_zone`] starts, to the zone it was given.
const CHILD_MARK: &str = "CULEX_TEST_ZONE";

/// Runs the `#[ignore]`d test `test` (its full path, e.g. `clock::tests::in_utc`) of the
/// current test binary in a child process with `TZ=zone`, and panics unless it passed.
/// `zone` is a POSIX TZ string (`UTC0`, `IST-5:30`), which needs no time zone database.
///
/// # Panics
/// When the child cannot be started or the test did not pass there.
pub fn in_zone(zone: &str, test: &str) {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let output = Command::new(exe)
        .args([test, "--exact", "--ignored", "--test-threads=1", "--nocapture"])
        .env("TZ", zone)
        .env(CHILD_MARK, zone)
        .output()
        .expect("the test binary can be run again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{test} with TZ={zone} failed:\n{stdout}\n{stderr}"
    );
}

/// The zone [`in_zone`] gave this process, or `None` when it is not such a child: the
/// `#[ignore]`d test picks its expectations by it, and does nothing under
/// `cargo test -- --include-ignored` in the parent.
pub fn child_zone() -> Option<String> {
    std::env::var(CHILD_MARK).ok()
}
