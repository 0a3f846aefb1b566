//! The cargo-fuzz targets of `fuzz/` (libFuzzer; built with `--sanitizer none`, so the stable
//! toolchain builds them), each starting from its stored, minimised corpus
//! `fuzz/corpus/<target>`. `cargo xtask fuzz [TARGET…] [--seconds N]` fuzzes the targets named
//! (default: all) for N seconds each; [`smoke`] is what `cargo xtask ci` runs: every target
//! replays its corpus and fuzzes a few seconds more, so a crash on the corpus fails CI. New
//! inputs go to `fuzz/target/corpus/<target>`, never into the stored corpus.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace_root;

/// Every target in `fuzz/Cargo.toml`.
const TARGETS: [&str; 9] =
    ["decode", "broker", "config", "acl", "passwd", "persist", "ws", "client", "http"];
/// Seconds each target fuzzes in CI, after replaying its corpus.
const SMOKE_SECONDS: u64 = 10;

/// `cargo xtask fuzz`; `args` are what follows `fuzz` on the command line.
pub(crate) fn fuzz(args: &[String]) -> Result<()> {
    let (targets, seconds) = parse_args(args)?;
    run(&targets, seconds)
}

/// Every target on its stored corpus, then [`SMOKE_SECONDS`] of fuzzing.
pub(crate) fn smoke() -> Result<()> {
    run(&TARGETS, SMOKE_SECONDS)
}

/// Builds the targets once, then runs each for `seconds`, failing on the first crash.
fn run(targets: &[&str], seconds: u64) -> Result<()> {
    let fuzz_dir = workspace_root().join("fuzz");
    let probe = cargo_fuzz(&fuzz_dir).arg("--version").output();
    if !probe.is_ok_and(|out| out.status.success()) {
        bail!(
            "cargo-fuzz is not installed: run `cargo install cargo-fuzz --locked` (.ci/run does)"
        );
    }
    eprintln!("xtask: cargo fuzz build --sanitizer none");
    let status = cargo_fuzz(&fuzz_dir)
        .args(["build", "--sanitizer", "none"])
        .status()
        .context("starting cargo fuzz build")?;
    if !status.success() {
        bail!("cargo fuzz build failed ({status})");
    }
    for target in targets {
        let scratch = fuzz_dir.join("target/corpus").join(target);
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        eprintln!("xtask: fuzzing {target} for {seconds} s on fuzz/corpus/{target}");
        let status = cargo_fuzz(&fuzz_dir)
            .args(["run", "--sanitizer", "none", target])
            .arg(&scratch)
            .arg(fuzz_dir.join("corpus").join(target))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1")
            .status()
            .with_context(|| format!("starting cargo fuzz run {target}"))?;
        if !status.success() {
            bail!(
                "fuzz target {target} failed ({status}); the crashing input is in {}",
                fuzz_dir.join("artifacts").join(target).display()
            );
        }
    }
    Ok(())
}

/// `cargo fuzz` in `fuzz_dir`.
fn cargo_fuzz(fuzz_dir: &Path) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.arg("fuzz").current_dir(fuzz_dir);
    command
}

/// `[TARGET…] [--seconds N]`: the targets (default: all) and the seconds each (default 60).
fn parse_args(args: &[String]) -> Result<(Vec<&'static str>, u64)> {
    let mut targets = Vec::new();
    let mut seconds = 60;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--seconds" {
            let Some(value) = args.next() else { bail!("--seconds needs a number") };
            seconds = value.parse().with_context(|| format!("--seconds {value:?}"))?;
        } else if let Some(target) = TARGETS.iter().find(|target| *target == arg) {
            targets.push(*target);
        } else {
            bail!(
                "usage: cargo xtask fuzz [TARGET…] [--seconds N] (got {arg:?}; targets: {})",
                TARGETS.join(", ")
            );
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    Ok((targets, seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_name_targets_and_seconds() {
        type Parsed = Option<(Vec<&'static str>, u64)>;
        let cases: [(&[&str], Parsed); 6] = [
            (&[], Some((TARGETS.to_vec(), 60))),
            (&["--seconds", "5"], Some((TARGETS.to_vec(), 5))),
            (&["ws", "acl", "--seconds", "9"], Some((vec!["ws", "acl"], 9))),
            (&["--minutes", "5"], None),
            (&["--seconds"], None),
            (&["nothing"], None),
        ];
        for (args, expected) in cases {
            let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
            assert_eq!(parse_args(&args).ok(), expected, "{args:?}");
        }
    }

    #[test]
    fn every_target_is_in_the_fuzz_manifest_with_a_corpus() {
        let fuzz_dir = workspace_root().join("fuzz");
        let manifest = std::fs::read_to_string(fuzz_dir.join("Cargo.toml")).unwrap();
        for target in TARGETS {
            assert!(manifest.contains(&format!("name = \"{target}\"")), "{target}");
            assert!(fuzz_dir.join("corpus").join(target).is_dir(), "{target} has no corpus");
        }
        assert_eq!(manifest.matches("[[bin]]").count(), TARGETS.len());
    }
}
