//! `log_dest dlt` against a fake DLT daemon: a FIFO named `dlt` in a private `DLT_PIPE_DIR`,
//! read by the test (Debian's Mosquitto, whose bytes `crates/broker/src/log/dlt.rs` holds,
//! always uses `/tmp/dlt`, which other brokers on the machine would see).

use std::io::Read as _;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{Background, COMMAND_DEADLINE, TempDir, our_bin};

/// The messages in `bytes`: (user message type, what follows the type).
fn messages(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut found = Vec::new();
    let starts: Vec<usize> =
        (0..bytes.len()).filter(|&i| bytes[i..].starts_with(b"DUH\x01")).collect();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(bytes.len());
        found.push((bytes[start + 4], bytes[start + 8..end].to_vec()));
    }
    found
}

/// The text of a log message's one string argument.
fn text(body: &[u8]) -> String {
    // Standard header with its extras (16) and extended header (10), then the type (4) and
    // the length (2); the text ends with a NUL.
    let argument = &body[16 + 10 + 6..];
    String::from_utf8_lossy(argument.strip_suffix(&[0]).expect("NUL-terminated")).into_owned()
}

#[test]
fn log_dest_dlt_registers_with_the_daemon_and_sends_error_warning_and_information_lines() {
    let dir = TempDir::new("dlt");
    let fifo = dir.join("dlt");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs").success());
    // Opened for reading and writing, the FIFO has a reader at once and never reports its end.
    let mut daemon =
        std::fs::OpenOptions::new().read(true).write(true).open(&fifo).expect("opening the FIFO");
    let (sink, received) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0_u8; 65536];
        while let Ok(n) = daemon.read(&mut buffer) {
            if n == 0 || sink.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let config = dir.join("c.conf");
    std::fs::write(&config, "listener 0 127.0.0.1\nlog_dest dlt\nlog_dest stdout\nlog_type all\n")
        .expect("writing the config");
    let broker = Background::spawn(
        Command::new(our_bin("culex")).arg("-c").arg(&config).env("DLT_PIPE_DIR", dir.path()),
    );
    broker.wait_until("running", |lines| lines.iter().any(|line| line.ends_with(" running")));
    let kill = Command::new("kill").arg(broker.id().to_string()).status().expect("kill runs");
    assert!(kill.success());
    let printed = broker.lines();
    let _ = broker.wait();
    let mut bytes = Vec::new();
    let start = Instant::now();
    while messages(&bytes).last().is_none_or(|(kind, _)| *kind != 3) {
        assert!(start.elapsed() < COMMAND_DEADLINE, "no unregistration: {:?}", messages(&bytes));
        if let Ok(chunk) = received.recv_timeout(Duration::from_millis(100)) {
            bytes.extend(chunk);
        }
    }
    let found = messages(&bytes);
    let kinds: Vec<u8> = found.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(kinds[..2], [2, 4], "register application, then context: {kinds:?}");
    assert_eq!(kinds[kinds.len() - 2..], [5, 3], "unregister context, then application");
    let texts: Vec<String> =
        found.iter().filter(|(kind, _)| *kind == 1).map(|(_, body)| text(body)).collect();
    let wanted = ["starting", "Config loaded from", "Opening ipv4 listen socket", "running"];
    for (text, wanted) in texts.iter().zip(wanted) {
        assert!(text.contains(wanted), "{text:?} should be the {wanted:?} line");
        assert!(printed.contains(text), "{text:?} is a line culex printed: {printed:?}");
    }
    // Information lines are sent; notice and debug lines are below libdlt's default level.
    assert!(texts.iter().all(|text| !text.contains("New connection")), "{texts:?}");
}
