//! `cargo xtask bench [--quick] [...]`: builds the release binaries (culex, culex_pub and the
//! load generator) and runs `culex-bench` with the remaining arguments from the workspace
//! root. Everything else (brokers, scenarios, tables, plot) lives in `crates/bench`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, workspace_root};

/// Builds and runs the benchmark; `args` are passed to `culex-bench` as they are.
pub(crate) fn bench(args: &[String]) -> Result<()> {
    cargo(
        &["build", "--release", "-p", "culex-broker", "-p", "culex-pub", "-p", "culex-bench"],
        &[],
    )?;
    let exe = target_dir().join("release").join("culex-bench");
    let status = Command::new(&exe)
        .args(args)
        .env("CULEX_BENCH_COMMAND", command_line(args))
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("starting {}", exe.display()))?;
    if !status.success() {
        bail!("culex-bench failed ({status})");
    }
    Ok(())
}

/// Where cargo puts build output: `CARGO_TARGET_DIR` if set, else `target/` in the workspace.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { workspace_root().join(dir) }
        }
        None => workspace_root().join("target"),
    }
}

/// The command as a person would type it, for the results header.
fn command_line(args: &[String]) -> String {
    std::iter::once("cargo xtask bench")
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_quotes_what_was_typed() {
        assert_eq!(command_line(&[]), "cargo xtask bench");
        assert_eq!(command_line(&["--quick".into()]), "cargo xtask bench --quick");
    }
}
