//! `cargo xtask dashboard-vendor`: refreshes the browser libraries the dashboard embeds.
//!
//! `crates/broker/dashboard/package.json` names Chart.js and MQTT.js, and `package-lock.json`
//! locks them. This task runs `npm ci` on those two files in a temporary directory (install
//! scripts off) and copies each library's minified browser bundle and licence into
//! `crates/broker/dashboard/vendor/`, which is committed: building culex never needs npm or
//! the network. To move to a newer version, change `package.json`, run
//! `npm install --package-lock-only` there, then this task, and commit all three.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace_root;

/// What is copied: (file under the temporary `node_modules/`, name under `vendor/`).
const VENDORED: [(&str, &str); 4] = [
    ("chart.js/dist/chart.umd.min.js", "chart.umd.min.js"),
    ("chart.js/LICENSE.md", "chart.js.LICENSE.md"),
    ("mqtt/dist/mqtt.min.js", "mqtt.min.js"),
    ("mqtt/LICENSE.md", "mqtt.LICENSE.md"),
];

/// Installs the locked packages in a temporary directory and copies the bundles into
/// `vendor/`; the temporary directory is removed whether or not that worked.
pub(crate) fn vendor(args: &[String]) -> Result<()> {
    if !args.is_empty() {
        bail!("dashboard-vendor takes no arguments (got {args:?})");
    }
    let dashboard = workspace_root().join("crates/broker/dashboard");
    let scratch = std::env::temp_dir().join(format!("culex-dashboard-{}", std::process::id()));
    fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let result = install_and_copy(&dashboard, &scratch);
    let cleaned =
        fs::remove_dir_all(&scratch).with_context(|| format!("removing {}", scratch.display()));
    result.and(cleaned)
}

fn install_and_copy(dashboard: &Path, scratch: &Path) -> Result<()> {
    for manifest in ["package.json", "package-lock.json"] {
        let from = dashboard.join(manifest);
        fs::copy(&from, scratch.join(manifest))
            .with_context(|| format!("copying {}", from.display()))?;
    }
    eprintln!("xtask: npm ci in {}", scratch.display());
    let status = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(scratch)
        .status()
        .context("starting npm (install it with `apt-get install npm`)")?;
    if !status.success() {
        bail!("npm ci failed ({status})");
    }
    let vendor = dashboard.join("vendor");
    fs::create_dir_all(&vendor).with_context(|| format!("creating {}", vendor.display()))?;
    for (from, to) in VENDORED {
        let from: PathBuf = scratch.join("node_modules").join(from);
        let to = vendor.join(to);
        fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        eprintln!("xtask: {}", to.display());
    }
    Ok(())
}
