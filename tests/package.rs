//! The installed culex (issue 17), as root (CI runs the suite as root; elsewhere the test says
//! it is skipped). `cargo xtask deb` builds both packages; lintian reports no error and no
//! warning; `dpkg -i` makes the account, the directories and the conffiles, and `systemd-analyze
//! verify` and `man --warnings` accept the installed unit and pages. Then the installed broker,
//! started as the unit's ExecStart as the account culex, goes through the guides' password flow,
//! a reload and persistence; `dpkg --purge` leaves only what Debian keeps (the account and
//! files the administrator added). `scripts/install.sh` is checked the same way: installed
//! twice, exercised, uninstalled. Both install system-wide, so one test runs them in turn,
//! and a guard removes whatever a failure left behind.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::service::{NotifySocket, runs_as_root};
use crate::support::{
    COMMAND_DEADLINE, Finished, TempDir, our_bin, run, unused_port, wait_with_deadline,
};

/// Building the packages (cargo, strip, dpkg-shlibdeps, dpkg-deb) and lintian take longer
/// than one command usually may.
const BUILD_DEADLINE: Duration = Duration::from_secs(600);

/// The Debian package's paths that `dpkg --purge` must remove.
const PACKAGE_PATHS: [&str; 7] = [
    "/usr/sbin/culex",
    "/usr/bin/culex_passwd",
    "/etc/culex",
    "/var/lib/culex",
    "/lib/systemd/system/culex.service",
    "/usr/share/doc/culex",
    "/etc/systemd/system/multi-user.target.wants/culex.service",
];

/// Where one installation put things.
struct Installed {
    sbin: &'static str,
    bin: &'static str,
    unit: &'static str,
}

fn sh(script: &str) -> Finished {
    run(Command::new("sh").arg("-c").arg(script), BUILD_DEADLINE)
}

fn succeed(script: &str) -> Finished {
    let done = sh(script);
    assert_eq!(done.code(), 0, "{script}: {}{}", done.stdout, done.stderr);
    done
}

fn id(flag: &str) -> u32 {
    succeed(&format!("id {flag} culex")).stdout.trim().parse().expect("numeric id")
}

fn mode_and_owner(path: &str) -> (u32, u32, u32) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (meta.permissions().mode() & 0o7777, meta.uid(), meta.gid())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").into()
}

/// Removes both installations and the test's own files in /etc/culex; runs at the start and
/// on drop, so a failed run leaves the machine as it found it.
struct Cleanup;

impl Cleanup {
    fn now() {
        let install = workspace_root().join("scripts/install.sh");
        let _ = sh("rm -f /etc/culex/pwfile /etc/culex/conf.d/local.conf");
        let _ = sh("dpkg --purge culex-mosquitto-compat culex >/dev/null 2>&1");
        let _ = sh(&format!("{} --uninstall >/dev/null 2>&1", install.display()));
        let _ = sh("rm -rf /var/lib/culex");
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        Self::now();
    }
}

#[test]
fn package_and_install_script_install_run_and_remove_culex() {
    if !runs_as_root("package_and_install_script_install_run_and_remove_culex") {
        return;
    }
    Cleanup::now();
    let _cleanup = Cleanup;
    let out = TempDir::new("deb");
    let deb = build_packages(&out);
    package_lifecycle(&deb);
    install_script_lifecycle();
}

/// The cargo profile this test binary was built with, whose binaries are already built.
fn profile() -> &'static str {
    let xtask = our_bin("xtask");
    let profile_dir = xtask.parent().and_then(Path::file_name).expect("target/<profile>/xtask");
    if profile_dir == "debug" { "dev" } else { "release" }
}

/// `cargo xtask deb` with this test's profile, lintian, and the compat package's fields and
/// links; returns the path of the culex package.
fn build_packages(out: &TempDir) -> String {
    let built = run(
        Command::new(our_bin("xtask"))
            .args(["deb", "--profile", profile(), "--out"])
            .arg(out.path()),
        BUILD_DEADLINE,
    );
    assert_eq!(built.code(), 0, "cargo xtask deb: {}", built.stderr);
    let paths: Vec<&str> = built.stdout.lines().collect();
    let [deb, compat] = paths[..] else { panic!("two packages expected: {paths:?}") };
    assert!(deb.contains("/culex_0.1.0_") && deb.ends_with(".deb"), "{deb}");
    assert!(compat.ends_with("/culex-mosquitto-compat_0.1.0_all.deb"), "{compat}");
    // No error and no warning (info tags, such as the binaries' fortify functions, which Rust
    // does not use, are allowed).
    succeed(&format!("lintian --fail-on error,warning {deb} {compat}"));
    // The compat package: Mosquitto's names as links, and no coexistence with Mosquitto's.
    let fields = succeed(&format!("dpkg-deb -f {compat} Depends Conflicts")).stdout;
    assert_eq!(fields, "Depends: culex (= 0.1.0)\nConflicts: mosquitto, mosquitto-clients\n");
    let listing = succeed(&format!("dpkg-deb -c {compat}")).stdout;
    for (mosquitto, culex) in [
        ("mosquitto_pub", "culex_pub"),
        ("mosquitto_sub", "culex_sub"),
        ("mosquitto_rr", "culex_rr"),
        ("mosquitto_passwd", "culex_passwd"),
    ] {
        assert!(listing.contains(&format!("./usr/bin/{mosquitto} -> {culex}\n")), "{listing}");
    }
    deb.to_owned()
}

fn package_lifecycle(deb: &str) {
    succeed(&format!("dpkg -i {deb}"));
    let (uid, gid) = (id("-u"), id("-g"));
    assert_eq!(mode_and_owner("/var/lib/culex"), (0o750, uid, gid));
    assert_eq!(mode_and_owner("/etc/culex"), (0o2755, 0, gid));
    let conffiles = succeed("dpkg-query -W -f '${Conffiles}' culex").stdout;
    for conffile in ["/etc/culex/culex.conf", "/etc/culex/conf.d/README"] {
        assert!(conffiles.contains(conffile), "{conffile} is no conffile: {conffiles}");
    }
    let verify = succeed("systemd-analyze verify /lib/systemd/system/culex.service 2>&1").stdout;
    assert!(!verify.contains("culex"), "systemd-analyze verify: {verify}");
    let pages = [
        "man8/culex.8",
        "man5/culex.conf.5",
        "man1/culex_pub.1",
        "man1/culex_sub.1",
        "man1/culex_rr.1",
        "man1/culex_passwd.1",
    ];
    for page in pages {
        let warnings =
            succeed(&format!("man --warnings -l /usr/share/man/{page}.gz 2>&1 >/dev/null")).stdout;
        assert_eq!(warnings, "", "{page}");
    }
    exercise(&Installed {
        sbin: "/usr/sbin",
        bin: "/usr/bin",
        unit: "/lib/systemd/system/culex.service",
    });
    succeed("dpkg --purge culex");
    for path in PACKAGE_PATHS {
        assert!(!Path::new(path).exists(), "{path} survived dpkg --purge");
    }
    // Debian keeps system accounts.
    assert_eq!(id("-u"), uid);
}

fn install_script_lifecycle() {
    let script = workspace_root().join("scripts/install.sh");
    let script = script.display();
    let profile = profile();
    succeed(&format!("{script} --profile {profile}"));
    let conf_before = std::fs::metadata("/etc/culex/culex.conf").expect("culex.conf").mtime();
    succeed(&format!("{script} --profile {profile}"));
    let conf_after = std::fs::metadata("/etc/culex/culex.conf").expect("culex.conf").mtime();
    assert_eq!(conf_before, conf_after, "a second run must leave the configuration alone");
    let (uid, gid) = (id("-u"), id("-g"));
    assert_eq!(mode_and_owner("/var/lib/culex"), (0o750, uid, gid));
    assert_eq!(mode_and_owner("/etc/culex"), (0o2755, 0, gid));
    succeed("systemd-analyze verify /etc/systemd/system/culex.service 2>&1");
    exercise(&Installed {
        sbin: "/usr/local/sbin",
        bin: "/usr/local/bin",
        unit: "/etc/systemd/system/culex.service",
    });
    succeed(&format!("{script} --uninstall"));
    for path in [
        "/usr/local/sbin/culex",
        "/usr/local/bin/culex_pub",
        "/usr/local/share/man/man8/culex.8",
        "/etc/systemd/system/culex.service",
        "/etc/culex",
    ] {
        assert!(!Path::new(path).exists(), "{path} survived install.sh --uninstall");
    }
    // The broker's data stays (the guard removes it).
    assert!(Path::new("/var/lib/culex/mosquitto.db").exists());
}

/// Runs the installed broker as the unit does and walks the guides' flow.
fn exercise(installed: &Installed) {
    let unit = std::fs::read_to_string(installed.unit).expect("reading the unit");
    let exec_start = unit
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .expect("the unit has ExecStart");
    let mut words = exec_start.split_whitespace();
    let program = words.next().expect("ExecStart names a program");
    assert_eq!(program, format!("{}/culex", installed.sbin));
    let args: Vec<&str> = words.collect();
    let passwd = format!("{}/culex_passwd", installed.bin);
    let port = unused_port();

    // The guide: a password file, a listener for it, anonymous clients refused.
    succeed(&format!("{passwd} -c -b /etc/culex/pwfile leo leopw"));
    assert_eq!(mode_and_owner("/etc/culex/pwfile"), (0o640, 0, id("-g")));
    std::fs::write(
        "/etc/culex/conf.d/local.conf",
        format!(
            "listener {port} 127.0.0.1\npassword_file /etc/culex/pwfile\nallow_anonymous false\n"
        ),
    )
    .expect("writing local.conf");

    let dir = TempDir::new("unit");
    let notify = NotifySocket::bind(dir.path());
    let mut broker = Command::new(program)
        .args(&args)
        .uid(id("-u"))
        .gid(id("-g"))
        .env("NOTIFY_SOCKET", notify.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the installed culex");
    notify.wait_for("READY", |text| text.starts_with("READY=1"));

    let publish = |user: &str, password: &str| {
        run(
            Command::new(format!("{}/culex_pub", installed.bin)).args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-t",
                "guide/t",
                "-m",
                "kept",
                "-r",
                "-q",
                "1",
                "-u",
                user,
                "-P",
                password,
            ]),
            COMMAND_DEADLINE,
        )
    };
    let refused = publish("leo", "wrong");
    assert_eq!(
        (refused.code(), refused.stderr.lines().next()),
        (5, Some("Connection error: Connection Refused: not authorised.")),
        "Mosquitto's message for a wrong password"
    );
    let accepted = publish("leo", "leopw");
    assert_eq!((accepted.code(), accepted.stderr.as_str()), (0, ""));

    // A user added later is picked up by a reload (the file is re-read as the account culex).
    succeed(&format!("{passwd} -b /etc/culex/pwfile mia miapw"));
    succeed(&format!("kill -HUP {}", broker.id()));
    let start = Instant::now();
    while publish("mia", "miapw").code() != 0 {
        assert!(start.elapsed() < COMMAND_DEADLINE, "the reload did not add mia");
        std::thread::sleep(Duration::from_millis(100));
    }

    succeed(&format!("kill -TERM {}", broker.id()));
    assert!(wait_with_deadline(&mut broker, "installed culex", COMMAND_DEADLINE).success());
    let (_, owner, _) = mode_and_owner("/var/lib/culex/mosquitto.db");
    assert_eq!(owner, id("-u"), "persistence is written by the account culex");
    succeed("rm -f /etc/culex/pwfile /etc/culex/conf.d/local.conf");
}
