//! Project automation behind `cargo xtask`: one entry point for humans and CI.
//!
//! - `cargo xtask ci` — fmt check, clippy (warnings denied), every test, docs (warnings denied),
//!   and a smoke run of every fuzz target on its stored corpus.
//! - `cargo xtask fuzz [TARGET…] [--seconds N]` — the cargo-fuzz targets of `fuzz/` (`fuzz.rs`).
//! - `cargo xtask bench [--quick]` — culex against Mosquitto, side by side (`bench.rs`).
//! - `cargo xtask deb [--target T] [--profile P] [--out DIR]` — the Debian packages (`deb.rs`).
//! - `cargo xtask dashboard-vendor` — Chart.js and MQTT.js for the dashboard, from the npm lock
//!   file into `crates/broker/dashboard/vendor/` (`dashboard.rs`).
#![forbid(unsafe_code)]

mod bench;
mod dashboard;
mod deb;
mod fuzz;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match task.as_str() {
        "ci" => ci(),
        "fuzz" => fuzz::fuzz(&rest),
        "bench" => bench::bench(&rest),
        "deb" => deb::deb(&rest),
        "dashboard-vendor" => dashboard::vendor(&rest),
        "" | "help" | "--help" => {
            println!(
                "usage: cargo xtask <task>\n\ntasks:\n  ci    fmt, clippy, tests, docs and a fuzz smoke run, as CI runs them\n  fuzz  [TARGET...] [--seconds N] run the fuzz targets of fuzz/ (needs cargo-fuzz)\n  bench [--quick] [--hardening] [--cores 1,2] [culex-bench flags] culex vs Mosquitto throughput, latency, memory; --hardening: slowloris; --cores: throughput with the brokers on 1, 2 CPUs (docs/benchmarks.md)\n  deb   [--target T] [--profile P] [--out DIR] culex_<version>_<arch>.deb and culex-mosquitto-compat (docs/service.md)\n  dashboard-vendor  refresh crates/broker/dashboard/vendor/ from its npm lock file (needs npm)"
            );
            Ok(())
        }
        other => bail!("unknown task `{other}` (args {rest:?}); try `cargo xtask help`"),
    }
}

/// The workspace root (the parent of this crate's manifest directory).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Runs `cargo` with `args` in the workspace root and fails if it fails.
fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("starting cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Everything CI checks, in the order that fails fastest.
fn ci() -> Result<()> {
    cargo(&["fmt", "--all", "--check"], &[])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"], &[])?;
    cargo(&["test", "--workspace", "--locked"], &[])?;
    cargo(&["doc", "--workspace", "--no-deps", "--locked"], &[("RUSTDOCFLAGS", "-D warnings")])?;
    fuzz::smoke()
}
