//! `culex_passwd` in temporary directories: its edits and messages side by side with Debian's
//! `mosquitto_passwd`, its files read by Debian's `mosquitto` and libargon2, its prompts on a
//! real terminal; and `mqtt_core::acl` checked against Mosquitto's ACL decisions.

mod acl_matrix;
mod batch;
mod interop;
mod messages;
mod prompts;

use std::path::Path;

use crate::support::{Finished, TempDir, our_bin, reference_tool, run_in};

/// Runs `culex_passwd args` in `dir` with no input.
fn ours(dir: &TempDir, args: &[&str]) -> Finished {
    run_in(dir.path(), &our_bin("culex_passwd"), args, b"")
}

/// Runs `mosquitto_passwd args` in `dir` with no input.
fn mosquittos(dir: &TempDir, args: &[&str]) -> Finished {
    run_in(dir.path(), &reference_tool("mosquitto_passwd"), args, b"")
}

/// Reads a file as text.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
