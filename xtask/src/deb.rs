//! `cargo xtask deb`: the Debian packages, built with `dpkg-deb` from the files in
//! `packaging/` (no cargo-deb):
//! - `culex_<version>_<arch>.deb`: the broker and the tools, the systemd unit, /etc/culex,
//!   the man pages, the `culex` account and /var/lib/culex (made by the maintainer scripts);
//! - `culex-mosquitto-compat_<version>_all.deb`: `mosquitto_pub`, `mosquitto_sub` and
//!   `mosquitto_passwd` as links to culex's tools, for scripts that call those names.
//!
//! Flags: `--target <triple>` cross-builds (the Debian architecture follows from the triple),
//! `--profile <name>` picks the cargo profile (default `release`), `--out <dir>` where the
//! packages go (default `target/deb`). The binaries are stripped with `strip` (or
//! `<gnu triple>-strip` when cross-building); the library dependencies come from
//! `dpkg-shlibdeps`, which for a cross build needs the target's libc installed (Debian's
//! `crossbuild-essential-<arch>`).

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, workspace_root};

/// The binaries of the package, each with its directory in the package.
const BINARIES: [(&str, &str); 5] = [
    ("culex", "usr/sbin"),
    ("culex_pub", "usr/bin"),
    ("culex_sub", "usr/bin"),
    ("culex_rr", "usr/bin"),
    ("culex_passwd", "usr/bin"),
];

/// The man pages in `packaging/man`, each with its section.
const MAN_PAGES: [(&str, u8); 6] = [
    ("culex.8", 8),
    ("culex.conf.5", 5),
    ("culex_pub.1", 1),
    ("culex_sub.1", 1),
    ("culex_rr.1", 1),
    ("culex_passwd.1", 1),
];

/// Mosquitto's tool names that the compat package links to culex's tools.
const COMPAT_LINKS: [(&str, &str); 4] = [
    ("mosquitto_pub", "culex_pub"),
    ("mosquitto_sub", "culex_sub"),
    ("mosquitto_rr", "culex_rr"),
    ("mosquitto_passwd", "culex_passwd"),
];

/// What `cargo xtask deb` was asked for.
struct Options {
    target: Option<String>,
    profile: String,
    out: PathBuf,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        target: None,
        profile: "release".to_owned(),
        out: workspace_root().join("target/deb"),
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--target" => options.target = Some(value.clone()),
            "--profile" => options.profile.clone_from(value),
            "--out" => options.out = PathBuf::from(value),
            other => bail!("unknown flag {other} (flags: --target, --profile, --out)"),
        }
    }
    Ok(options)
}

/// Builds both packages and prints their paths.
pub(crate) fn deb(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    // The whole workspace's binaries, as the tests build them: the same features, so neither
    // build undoes the other's.
    let mut build =
        vec!["build", "--locked", "--workspace", "--bins", "--profile", &options.profile];
    if let Some(target) = &options.target {
        build.extend(["--target", target]);
    }
    cargo(&build, &[])?;
    let arch = debian_arch(options.target.as_deref())?;
    let version = env!("CARGO_PKG_VERSION");
    fs::create_dir_all(&options.out)
        .with_context(|| format!("creating {}", options.out.display()))?;
    let main = build_main(&options, &arch, version)?;
    let compat = build_compat(&options, version)?;
    println!("{}\n{}", main.display(), compat.display());
    Ok(())
}

/// The Debian architecture of a Rust target triple (the host's without one).
fn debian_arch(target: Option<&str>) -> Result<String> {
    let Some(target) = target else {
        return output(Command::new("dpkg").arg("--print-architecture"));
    };
    let arch = match target.split('-').next().unwrap_or_default() {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "armv7" | "thumbv7neon" => "armhf",
        "arm" if target.ends_with("gnueabi") => "armel",
        "arm" => "armhf",
        "i686" | "i586" => "i386",
        "riscv64gc" => "riscv64",
        "powerpc64le" => "ppc64el",
        "s390x" => "s390x",
        other => bail!("no Debian architecture known for the target {target} ({other})"),
    };
    Ok(arch.to_owned())
}

/// `culex_<version>_<arch>.deb`.
fn build_main(options: &Options, arch: &str, version: &str) -> Result<PathBuf> {
    let root = workspace_root();
    let packaging = root.join("packaging");
    let stage = fresh_dir(&options.out.join(format!("culex_{version}_{arch}")))?;
    let mut target_dir = root.join("target");
    if let Some(target) = &options.target {
        target_dir.push(target);
    }
    let profile_dir = if options.profile == "dev" { "debug" } else { options.profile.as_str() };
    let built = target_dir.join(profile_dir);
    let mut installed = Vec::new();
    for (binary, dir) in BINARIES {
        let to = stage.join(dir).join(binary);
        copy(&built.join(binary), &to, 0o755)?;
        run(Command::new(strip_tool(options.target.as_deref()))
            .args(["--strip-unneeded", "--remove-section=.comment"])
            .arg(&to))?;
        installed.push(to);
    }
    copy(&packaging.join("culex.conf"), &stage.join("etc/culex/culex.conf"), 0o644)?;
    copy(&packaging.join("conf.d/README"), &stage.join("etc/culex/conf.d/README"), 0o644)?;
    copy(&packaging.join("culex.service"), &stage.join("lib/systemd/system/culex.service"), 0o644)?;
    for (page, section) in MAN_PAGES {
        let to = stage.join(format!("usr/share/man/man{section}/{page}"));
        copy(&packaging.join("man").join(page), &to, 0o644)?;
        gzip(&to)?;
    }
    let doc = stage.join("usr/share/doc/culex");
    copy_docs(&packaging, &doc)?;
    for page in ["configuration.md", "cli.md", "security.md", "service.md"] {
        copy(&root.join("docs").join(page), &doc.join(page), 0o644)?;
    }
    fs::create_dir_all(stage.join("var/lib/culex"))?;
    let depends = shlib_depends(&options.out, &installed, arch)?;
    let control = fs::read_to_string(packaging.join("debian/control"))?
        .replace("@VERSION@", version)
        .replace("@ARCH@", arch)
        .replace("@DEPENDS@", &depends)
        .replace("@SIZE@", &installed_size(&stage)?.to_string());
    let debian = stage.join("DEBIAN");
    fs::create_dir_all(&debian)?;
    fs::write(debian.join("control"), control)?;
    for script in ["postinst", "prerm", "postrm"] {
        copy(&packaging.join("debian").join(script), &debian.join(script), 0o755)?;
    }
    fs::write(debian.join("conffiles"), "/etc/culex/culex.conf\n/etc/culex/conf.d/README\n")?;
    write_md5sums(&stage)?;
    dpkg_deb(&stage, &options.out.join(format!("culex_{version}_{arch}.deb")))
}

/// `culex-mosquitto-compat_<version>_all.deb`.
fn build_compat(options: &Options, version: &str) -> Result<PathBuf> {
    let packaging = workspace_root().join("packaging");
    let name = "culex-mosquitto-compat";
    let stage = fresh_dir(&options.out.join(format!("{name}_{version}_all")))?;
    let bin = stage.join("usr/bin");
    let man = stage.join("usr/share/man/man1");
    fs::create_dir_all(&bin)?;
    fs::create_dir_all(&man)?;
    for (mosquitto, culex) in COMPAT_LINKS {
        std::os::unix::fs::symlink(culex, bin.join(mosquitto))?;
        std::os::unix::fs::symlink(format!("{culex}.1.gz"), man.join(format!("{mosquitto}.1.gz")))?;
    }
    copy_docs(&packaging, &stage.join(format!("usr/share/doc/{name}")))?;
    let control = fs::read_to_string(packaging.join("debian/control.compat"))?
        .replace("@VERSION@", version)
        .replace("@SIZE@", &installed_size(&stage)?.to_string());
    let debian = stage.join("DEBIAN");
    fs::create_dir_all(&debian)?;
    fs::write(debian.join("control"), control)?;
    write_md5sums(&stage)?;
    dpkg_deb(&stage, &options.out.join(format!("{name}_{version}_all.deb")))
}

/// The copyright file and the changelog (gzipped) into a package's doc directory.
fn copy_docs(packaging: &Path, doc: &Path) -> Result<()> {
    copy(&packaging.join("debian/copyright"), &doc.join("copyright"), 0o644)?;
    let changelog = doc.join("changelog");
    copy(&packaging.join("debian/changelog"), &changelog, 0o644)?;
    gzip(&changelog)
}

fn fresh_dir(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.to_owned())
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// `gzip -9n`: no name or time stamp inside, so the package is reproducible.
fn gzip(path: &Path) -> Result<()> {
    run(Command::new("gzip").args(["-9nf"]).arg(path))
}

fn strip_tool(target: Option<&str>) -> String {
    match target {
        Some(target) => {
            let gnu = target.replacen("-unknown-", "-", 1).replace("armv7-", "arm-");
            format!("{gnu}-strip")
        }
        None => "strip".to_owned(),
    }
}

/// The `Depends` of the binaries' shared libraries, from `dpkg-shlibdeps` (which wants a
/// `debian/control` in its working directory: a scratch one in `out`).
fn shlib_depends(out: &Path, binaries: &[PathBuf], arch: &str) -> Result<String> {
    let scratch = fresh_dir(&out.join("shlibdeps"))?;
    fs::create_dir_all(scratch.join("debian"))?;
    fs::write(
        scratch.join("debian/control"),
        "Source: culex\n\nPackage: culex\nArchitecture: any\n",
    )?;
    let mut command = Command::new("dpkg-shlibdeps");
    command.arg("-O").current_dir(&scratch).env("DEB_HOST_ARCH", arch);
    for binary in binaries {
        command.arg(format!("-e{}", binary.display()));
    }
    let printed = output(&mut command)?;
    fs::remove_dir_all(&scratch)?;
    printed
        .lines()
        .find_map(|line| line.strip_prefix("shlibs:Depends="))
        .map(str::to_owned)
        .context("dpkg-shlibdeps printed no shlibs:Depends")
}

/// The staged files' size in KiB, as `Installed-Size` wants it.
fn installed_size(stage: &Path) -> Result<u64> {
    fn walk(dir: &Path, total: &mut u64) -> Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let meta = fs::symlink_metadata(entry.path())?;
            if meta.is_dir() {
                walk(&entry.path(), total)?;
            }
            *total += meta.len().div_ceil(1024).max(1);
        }
        Ok(())
    }
    let mut total = 0;
    walk(stage, &mut total)?;
    Ok(total)
}

/// DEBIAN/md5sums: every regular file outside DEBIAN and /etc (conffiles have their own).
fn write_md5sums(stage: &Path) -> Result<()> {
    let printed = output(
        Command::new("sh")
            .arg("-c")
            .arg("find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\\0' | sort -z | xargs -0 md5sum")
            .current_dir(stage),
    )?;
    fs::write(stage.join("DEBIAN/md5sums"), printed + "\n")?;
    Ok(())
}

fn dpkg_deb(stage: &Path, deb: &Path) -> Result<PathBuf> {
    run(Command::new("dpkg-deb").args(["--root-owner-group", "--build"]).arg(stage).arg(deb))?;
    fs::remove_dir_all(stage)?;
    Ok(deb.to_owned())
}

fn run(command: &mut Command) -> Result<()> {
    output(command).map(drop)
}

/// Runs `command`, failing with its stderr when it fails; its stdout, trimmed.
fn output(command: &mut Command) -> Result<String> {
    let done = command.output().with_context(|| format!("starting {command:?}"))?;
    if !done.status.success() {
        bail!("{command:?} failed ({}): {}", done.status, String::from_utf8_lossy(&done.stderr));
    }
    Ok(String::from_utf8_lossy(&done.stdout).trim().to_owned())
}
