//! `culex` as a systemd service runs it, without systemd (not PID 1 here): the notifications
//! on `NOTIFY_SOCKET` (`READY=1` once the listeners are open, `WATCHDOG=1` at half
//! `WATCHDOG_USEC`, `STOPPING=1`, `STATUS=` with the error line of a failed start), and the
//! `user` switch of a broker started as root, with Mosquitto's lines.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    COMMAND_DEADLINE, TempDir, our_bin, reference_tool, run, strip_timestamp, unused_port,
    wait_with_deadline,
};

/// The service manager's end of `NOTIFY_SOCKET`: a datagram socket anyone may send to (the
/// broker may have switched to its own account).
pub(crate) struct NotifySocket {
    socket: UnixDatagram,
    path: String,
}

impl NotifySocket {
    /// Binds `notify.sock` in `dir`.
    pub(crate) fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("binding the notify socket");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
            .expect("chmod notify socket");
        socket.set_read_timeout(Some(Duration::from_millis(200))).expect("read timeout");
        Self { socket, path: path.display().to_string() }
    }

    /// The value for `NOTIFY_SOCKET`.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Waits (within the command deadline) for a datagram that `wanted` accepts, skipping
    /// others; returns it.
    pub(crate) fn wait_for(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        let mut seen = Vec::new();
        let mut buffer = [0; 4096];
        while start.elapsed() < COMMAND_DEADLINE {
            if let Ok(received) = self.socket.recv(&mut buffer) {
                let text = String::from_utf8_lossy(&buffer[..received]).into_owned();
                if wanted(&text) {
                    return text;
                }
                seen.push(text);
            }
        }
        panic!("no {what} notification; got {seen:?}");
    }
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u"), COMMAND_DEADLINE).stdout.trim() == "0"
}

/// Whether the test `name` can run (as root, as on CI); says so when it cannot.
///
/// # Panics
/// Under `CI=true` when not root: CI runs the suite as root, so there a skip would hide a test.
pub(crate) fn runs_as_root(name: &str) -> bool {
    let root = is_root();
    if !root {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name}: needs root, and CI=true runs every test: run the suite as root"
        );
        eprintln!("{name}: needs root, skipped");
    }
    root
}

/// Starts `culex -c <dir>/culex.conf` with `config` and `NOTIFY_SOCKET` (and the watchdog).
fn start(dir: &TempDir, config: &str, notify: &NotifySocket) -> Child {
    let path = dir.join("culex.conf");
    std::fs::write(&path, config).expect("writing config");
    Command::new(our_bin("culex"))
        .arg("-c")
        .arg(&path)
        .env("NOTIFY_SOCKET", notify.path())
        .env("WATCHDOG_USEC", "200000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting culex")
}

/// A fresh directory `name` with a notification socket, and culex started there with `config`.
fn start_notified(name: &str, config: &str) -> (TempDir, NotifySocket, Child) {
    let dir = TempDir::new(name);
    let notify = NotifySocket::bind(dir.path());
    let child = start(&dir, config, &notify);
    (dir, notify, child)
}

/// The real user id of a process, from /proc.
fn uid_of(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let line = status.lines().find(|line| line.starts_with("Uid:")).expect("Uid line");
    line.split_whitespace().nth(1).expect("real uid").to_owned()
}

#[test]
fn notifications_follow_the_broker_from_ready_to_stopping() {
    let (_dir, notify, mut child) = start_notified("notify", "listener 0 127.0.0.1\n");
    let ready = notify.wait_for("READY", |text| text.starts_with("READY=1"));
    assert_eq!(ready, "READY=1\nSTATUS=culex version 0.1.0 running");
    // Pings at half the 200 ms asked for, several of them.
    for _ in 0..3 {
        notify.wait_for("WATCHDOG", |text| text == "WATCHDOG=1");
    }
    if is_root() {
        // Started as root, the broker runs as the account `culex` by now.
        let culex = run(Command::new("id").args(["-u", "culex"]), COMMAND_DEADLINE);
        assert_eq!(uid_of(child.id()), culex.stdout.trim());
    }
    let killed = Command::new("kill").arg(child.id().to_string()).status().expect("kill");
    assert!(killed.success());
    notify.wait_for("STOPPING", |text| text == "STOPPING=1");
    assert!(wait_with_deadline(&mut child, "culex", COMMAND_DEADLINE).success());
}

#[test]
fn a_failed_start_reports_its_error_line_as_the_status() {
    let config = "listener 0 127.0.0.1\nno_such_option 1\n";
    let (_dir, notify, mut child) = start_notified("notify-fail", config);
    let status = notify.wait_for("STATUS", |text| text.starts_with("STATUS="));
    assert_eq!(status, "STATUS=Error: Unknown configuration variable \"no_such_option\".");
    assert_eq!(wait_with_deadline(&mut child, "culex", COMMAND_DEADLINE).code(), Some(3));
}

/// Started as root, both brokers print the same lines for `user` (culex after opening its
/// listener, Mosquitto before); culex names itself in the root warning.
#[test]
fn user_lines_match_mosquitto_when_started_as_root() {
    if !runs_as_root("user_lines_match_mosquitto_when_started_as_root") {
        return;
    }
    let dir = TempDir::new("user");
    let rows = [
        (
            "user nosuchuser\n",
            "Error: Unable to drop privileges to 'nosuchuser' because this user does not exist.",
            1,
        ),
        // timeout(1) reports 124 for a command it had to stop.
        ("user root\n", "Warning: Mosquitto should not be run as root/administrator.", 124),
    ];
    for (option, mosquitto_line, code) in rows {
        let culex_line = mosquitto_line.replace("Mosquitto should", "culex should");
        for (program, line) in
            [(our_bin("culex"), culex_line.as_str()), (reference_tool("mosquitto"), mosquitto_line)]
        {
            // Both brokers get a second to run; `user root` keeps running and is stopped.
            let config = dir.join("user.conf");
            std::fs::write(&config, format!("{option}listener {} 127.0.0.1\n", unused_port()))
                .expect("writing config");
            let done = run(
                Command::new("timeout")
                    .args(["-s", "INT", "1"])
                    .arg(&program)
                    .arg("-c")
                    .arg(&config),
                COMMAND_DEADLINE,
            );
            let lines: Vec<&str> = done.stderr.lines().map(strip_timestamp).collect();
            assert!(lines.contains(&line), "{program:?} {option:?}: {lines:?}");
            assert_eq!(done.code(), code, "{program:?} {option:?}: {lines:?}");
        }
    }
}

/// A broker started as root recovers its journal after a crash and writes the checkpoint
/// before it switches account; the files are then the account's, so a later start as that
/// account (the service) can read them.
#[test]
fn persistence_written_as_root_is_handed_to_the_account() {
    if !runs_as_root("persistence_written_as_root_is_handed_to_the_account") {
        return;
    }
    let dir = TempDir::new("handover");
    let port = unused_port();
    let config = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}\n",
        dir.path().display()
    );
    let notify = NotifySocket::bind(dir.path());
    let mut first = start(&dir, &config, &notify);
    notify.wait_for("READY", |text| text.starts_with("READY=1"));
    let published = run(
        Command::new(our_bin("culex_pub"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "kept", "-m", "1", "-r"])
            .args(["-q", "1"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(published.code(), 0, "{}", published.stderr);
    // A crash: the retained message is only in the journal.
    first.kill().expect("kill -9");
    wait_with_deadline(&mut first, "culex", COMMAND_DEADLINE);
    let mut second = start(&dir, &config, &notify);
    notify.wait_for("READY", |text| text.starts_with("READY=1"));
    let culex = run(Command::new("id").args(["-u", "culex"]), COMMAND_DEADLINE).stdout;
    for file in ["mosquitto.db", "mosquitto.db.journal"] {
        use std::os::unix::fs::MetadataExt as _;
        let owner = std::fs::metadata(dir.join(file)).expect("persistence file").uid();
        assert_eq!(owner.to_string(), culex.trim(), "{file}");
    }
    assert!(Command::new("kill").arg(second.id().to_string()).status().expect("kill").success());
    assert!(wait_with_deadline(&mut second, "culex", COMMAND_DEADLINE).success());
}
