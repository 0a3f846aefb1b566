//! Floods: a connection flood that runs the broker out of file descriptors. The broker keeps
//! serving the clients it has, logs the failing accepts once, and accepts again once
//! descriptors free up (docs/security.md, "What culex bounds").

use std::io::Write as _;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use crate::broker_21::{ACCEPTED, first_packet, try_connect};
use crate::differential::wire::{V3_1_1, connect, hex, publish, subscribe};
use crate::support::{BrokerProcess, COMMAND_DEADLINE, TempDir, our_bin};

/// The broker's file descriptor limit in the flood test: room for its own files, the two
/// clients and a few more, far fewer than the flood.
const NOFILE: u32 = 64;
/// How many sockets the flood opens: more than [`NOFILE`], well under the listen backlog.
const FLOOD: usize = 2 * NOFILE as usize;
/// The start of the line logged when accepting fails for want of descriptors.
const ACCEPT_FAILED: &str = "Error: accepting a connection: Too many open files";

#[test]
fn connection_flood_past_the_file_limit_keeps_clients_served_and_recovers() {
    // culex started through a script that lowers its file limit (`exec` keeps the pid).
    let dir = TempDir::new("broker-flood");
    let wrapper = dir.join("culex-nofile");
    let script =
        format!("#!/bin/sh\nulimit -n {NOFILE}\nexec '{}' \"$@\"\n", our_bin("culex").display());
    std::fs::write(&wrapper, script).expect("writing the wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let config = |ports: &[u16]| format!("listener {} 127.0.0.1\nallow_anonymous true\n", ports[0]);
    let broker = BrokerProcess::start_with(&wrapper, 1, config, &[]);
    let (connack, _, mut subscriber) = try_connect(broker.port, &connect(V3_1_1, "sub"));
    assert_eq!(connack, ACCEPTED);
    subscriber.write_all(&subscribe(V3_1_1, 1, &[("flood/t", 0)])).expect("subscribing");
    assert_eq!(first_packet(&mut subscriber), hex("90 03 00 01 00"));
    let (connack, _, mut publisher) = try_connect(broker.port, &connect(V3_1_1, "pub"));
    assert_eq!(connack, ACCEPTED);

    let flood: Vec<TcpStream> = (0..FLOOD)
        .map(|_| TcpStream::connect(("127.0.0.1", broker.port)).expect("a flood connection"))
        .collect();
    broker.wait_for_log(|line| line.contains(ACCEPT_FAILED));
    // Several retries later the run of failures is still one line.
    std::thread::sleep(Duration::from_millis(500));
    let failures = broker.log_lines().iter().filter(|line| line.contains(ACCEPT_FAILED)).count();
    assert_eq!(failures, 1, "{:#?}", broker.log_lines());

    // The clients the broker has are still served.
    publisher.write_all(&publish(V3_1_1, "flood/t", b"still here", 0, 0)).expect("publishing");
    let expected = publish(V3_1_1, "flood/t", b"still here", 0, 0);
    assert_eq!(first_packet(&mut subscriber), expected);

    // Closing the flood frees descriptors; a new client gets in.
    drop(flood);
    broker.wait_for_log(|line| line.ends_with("Accepting connections again."));
    let start = Instant::now();
    loop {
        let (connack, _, _) = try_connect(broker.port, &connect(V3_1_1, "late"));
        if connack == ACCEPTED {
            break;
        }
        assert!(start.elapsed() < COMMAND_DEADLINE, "no new client after the flood");
        std::thread::sleep(Duration::from_millis(100));
    }
}
