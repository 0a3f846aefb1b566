//! `log_dest syslog` with `log_facility`, in culex and Debian's Mosquitto 2.0.11: each broker
//! runs in a mount namespace of its own (`unshare -m`) whose `/dev` is a test folder, so its
//! `/dev/log` is a datagram socket the test reads. Both send the same lines with the same
//! priorities in the C library's `syslog()` format.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{
    BrokerProcess, COMMAND_DEADLINE, TempDir, our_bin, reference_client, reference_tool, run,
};

/// The device files a broker may open, bound into the fake `/dev`.
const DEVICES: [&str; 4] = ["null", "zero", "random", "urandom"];

/// A script that runs its arguments as `program` in a new mount namespace whose `/dev` is
/// `dev` (with the real [`DEVICES`] bound into it).
fn in_fake_dev(dir: &TempDir, dev: &Path, program: &Path) -> PathBuf {
    let mut script = String::from("#!/bin/sh\nset -e\n");
    for device in DEVICES {
        std::fs::write(dev.join(device), "").expect("device placeholder");
        script.push_str(&format!("mount --bind /dev/{device} {}/{device}\n", dev.display()));
    }
    script.push_str(&format!(
        "mount --rbind {} /dev\nexec {} \"$@\"\n",
        dev.display(),
        program.display()
    ));
    let inner = dir.join("inner.sh");
    std::fs::write(&inner, script).expect("inner script");
    let outer = dir.join("broker.sh");
    std::fs::write(&outer, format!("#!/bin/sh\nexec unshare -m sh {} \"$@\"\n", inner.display()))
        .expect("outer script");
    std::fs::set_permissions(&outer, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    outer
}

/// The datagrams `program` sends to `/dev/log` with facility `local5` while a client connects
/// and subscribes, as `(priority, text after "<ident>[<pid>]: <seconds>: ")`, after checking
/// the header of each.
fn syslog_lines(program: &Path, ident: &str) -> Vec<(u32, String)> {
    let dir = TempDir::new("syslog");
    let dev = dir.join("dev");
    std::fs::create_dir_all(&dev).expect("fake /dev");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&dev, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let logger = UnixDatagram::bind(dev.join("log")).expect("binding the fake /dev/log");
    // Mosquitto drops to its own user before it logs.
    std::fs::set_permissions(dev.join("log"), std::fs::Permissions::from_mode(0o666))
        .expect("chmod");
    logger.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    // Read all along: Mosquitto (the C library) blocks when the logger's queue is full.
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut datagrams = Vec::new();
        let mut buf = vec![0; 65536];
        loop {
            match logger.recv(&mut buf) {
                Ok(n) => datagrams.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(_) if stopped.try_recv().is_ok() => return datagrams,
                Err(_) => {}
            }
        }
    });
    let wrapper = in_fake_dev(&dir, &dev, program);
    let broker = BrokerProcess::start_with(
        &wrapper,
        1,
        |ports| {
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\nlog_type all\nlog_dest stderr\n\
                 log_dest syslog\nlog_facility 5\n",
                ports[0]
            )
        },
        &[],
    );
    let done = run(
        reference_client("mosquitto_sub", broker.port).args(["-i", "sys", "-t", "s/#", "-E"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "{}", done.stderr);
    broker.wait_for_log(|line| line == "Client sys disconnected.");
    let prefix = format!(" {ident}[{}]: ", broker.pid());
    stop.send(()).expect("reader runs");
    let mut lines = Vec::new();
    for datagram in reader.join().expect("reader") {
        let (priority, rest) = datagram[1..].split_once('>').expect("<priority>");
        // `Mmm dd hh:mm:ss`, then the ident and pid.
        let (stamp, text) = rest.split_at(15);
        assert_eq!(stamp.as_bytes()[9], b':', "{datagram}");
        let text = text.strip_prefix(&prefix).unwrap_or_else(|| panic!("{datagram}"));
        let (_, text) = text.split_once(": ").expect("timestamp");
        lines.push((priority.parse().expect("priority"), text.to_owned()));
    }
    lines
}

#[test]
fn log_dest_syslog_sends_mosquittos_lines_and_priorities() {
    let ours = syslog_lines(&our_bin("culex"), "culex");
    let theirs = syslog_lines(&reference_tool("mosquitto"), "mosquitto");
    // local5 = 21: information 174, notice (and subscribe) 173, debug 175.
    let expected = [
        (174, "Opening ipv4 listen socket on port"),
        (173, "New connection from 127.0.0.1:"),
        (173, "New client connected from 127.0.0.1:"),
        (175, "Sending CONNACK to sys (0, 0)"),
        (175, "Received SUBSCRIBE from sys"),
        (173, "sys 0 s/#"),
        (173, "Client sys disconnected."),
    ];
    for (name, lines) in [("culex", &ours), ("mosquitto", &theirs)] {
        for (priority, start) in expected {
            assert!(
                lines.iter().any(|(p, text)| *p == priority && text.starts_with(start)),
                "{name} sent no <{priority}>{start}…: {lines:#?}"
            );
        }
    }
}
