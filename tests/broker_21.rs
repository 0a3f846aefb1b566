//! Mosquitto 2.1's options that decide who gets in: `accept_protocol_versions`,
//! `listener_allow_anonymous`, `listener_auto_id_prefix`, `global_max_clients`,
//! `global_max_connections` and `websockets_origin`. Debian's Mosquitto 2.0.11 refuses every
//! one of them (checked first), so their effect is checked on culex alone, over raw sockets,
//! with the bytes and log lines 2.1 gives (docs/configuration.md).

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqtt_codec::{MAX_PACKET_SIZE, Packet};

use crate::differential::wire::{V3_1, V3_1_1, V5, connect, connect_with, hex};
use crate::support::{BrokerProcess, COMMAND_DEADLINE, TempDir, our_bin, reference_tool, run};

/// A v3.1.1 CONNACK accepting a clean session.
pub(crate) const ACCEPTED: [u8; 4] = [0x20, 2, 0, 0];
/// How long an accepted connection must stay open to count as open.
const STAYS_OPEN: Duration = Duration::from_millis(300);

/// Starts culex with `global` lines, then one `listener 0 127.0.0.1` per entry of `sections`,
/// each followed by its lines.
fn culex(global: &str, sections: &[&str]) -> BrokerProcess {
    let config = |ports: &[u16]| {
        let listeners: String = ports
            .iter()
            .zip(sections)
            .map(|(port, section)| format!("listener {port} 127.0.0.1\n{section}\n"))
            .collect();
        format!("{global}\n{listeners}")
    };
    BrokerProcess::start_with(&our_bin("culex"), sections.len(), config, &[])
}

/// Opens a connection to `port` and sends `bytes`.
fn open(port: u16, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    stream.set_read_timeout(Some(COMMAND_DEADLINE)).expect("read timeout");
    stream.write_all(bytes).expect("sending");
    stream
}

/// The first packet the broker sends on `stream` (empty when it closes first).
pub(crate) fn first_packet(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = [0; 2];
    if stream.read_exact(&mut head).is_err() {
        return Vec::new();
    }
    let mut rest = vec![0; usize::from(head[1])];
    stream.read_exact(&mut rest).expect("the rest of the packet");
    [&head[..], &rest].concat()
}

/// Whether the broker has closed `stream` (or does within [`STAYS_OPEN`]).
fn closed(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(STAYS_OPEN)).expect("read timeout");
    match stream.read(&mut [0; 1]) {
        Ok(n) => n == 0,
        Err(err) => !matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

/// Sends `connect` to `port`: the CONNACK's bytes (empty without one), whether the broker
/// closed the connection, and the connection.
pub(crate) fn try_connect(port: u16, connect: &[u8]) -> (Vec<u8>, bool, TcpStream) {
    let mut stream = open(port, connect);
    let connack = first_packet(&mut stream);
    let closed = closed(&mut stream);
    (connack, closed, stream)
}

#[test]
fn debian_mosquitto_2_0_refuses_every_one_of_them() {
    let dir = TempDir::new("broker-21");
    for line in [
        "accept_protocol_versions 4",
        "listener_allow_anonymous true",
        "listener_auto_id_prefix l-",
        "websockets_origin http://a.example",
        "global_max_clients 10",
        "global_max_connections 10",
    ] {
        let path = dir.join("mosquitto.conf");
        std::fs::write(&path, format!("listener 1883 127.0.0.1\n{line}\n")).expect("writing");
        let done =
            run(Command::new(reference_tool("mosquitto")).arg("-c").arg(&path), COMMAND_DEADLINE);
        let name = line.split(' ').next().unwrap_or_default();
        let refusal = format!("Error: Unknown configuration variable \"{name}\".");
        assert_eq!(done.code(), 3, "{line}: {}", done.stderr);
        assert!(done.stderr.contains(&refusal), "{line}: {}", done.stderr);
    }
}

#[test]
fn accept_protocol_versions_refuses_the_versions_not_listed() {
    let broker = culex(
        "allow_anonymous true",
        &["accept_protocol_versions 4", "accept_protocol_versions 3 , 5", ""],
    );
    let refused_v3 = hex("20 02 00 01");
    let refused_v5 = hex("20 03 00 84 00");
    for (listener, accepted) in [(0, &[V3_1_1][..]), (1, &[V3_1, V5]), (2, &[V3_1, V3_1_1, V5])] {
        let port = broker.ports[listener];
        for version in [V3_1, V3_1_1, V5] {
            let (connack, closed, _) = try_connect(port, &connect(version, "versions"));
            let label = format!("listener {listener}, {version:?}");
            if accepted.contains(&version) {
                assert_eq!(connack.get(3), Some(&0), "{label}: {connack:02x?}");
                assert!(!closed, "{label}");
            } else {
                let expected = if version == V5 { &refused_v5 } else { &refused_v3 };
                assert_eq!(&connack, expected, "{label}");
                assert!(closed, "{label}");
            }
        }
    }
}

#[test]
fn listener_allow_anonymous_beats_allow_anonymous_either_way() {
    let sections = ["listener_allow_anonymous true", "listener_allow_anonymous false", ""];
    for (global, expected) in [
        ("allow_anonymous false", [true, false, false]),
        ("allow_anonymous true", [true, false, true]),
    ] {
        let broker = culex(global, &sections);
        for (port, allowed) in broker.ports.iter().zip(expected) {
            let (connack, closed, _) = try_connect(*port, &connect(V3_1_1, "anonymous"));
            let want = if allowed { ACCEPTED.to_vec() } else { hex("20 02 00 05") };
            assert_eq!((connack, closed), (want, !allowed), "{global}, port {port}");
        }
    }
}

#[test]
fn listener_auto_id_prefix_names_the_ids_a_listener_assigns() {
    let broker = culex(
        "allow_anonymous true\nauto_id_prefix global-",
        &["listener_auto_id_prefix own#1-", ""],
    );
    for (port, prefix) in broker.ports.iter().zip(["own#1-", "global-"]) {
        let (connack, _, _) = try_connect(*port, &connect(V5, ""));
        let mut buffer = BytesMut::from(&connack[..]);
        let Ok(Some(Packet::ConnAck(ack))) = mqtt_codec::decode(&mut buffer, V5, MAX_PACKET_SIZE)
        else {
            panic!("no CONNACK on port {port}: {connack:02x?}");
        };
        let id = ack.properties.assigned_client_identifier.clone().expect("an assigned id");
        assert!(id.as_str().starts_with(prefix), "{id:?} on port {port}");
        broker.wait_for_log(|line| line.contains(&format!(" as {} (p5, c1, k60).", id.as_str())));
    }
}

#[test]
fn global_max_clients_counts_kept_sessions_and_refuses_one_more() {
    let broker = culex("allow_anonymous true\nglobal_max_clients 2", &[""]);
    let port = broker.port;
    let keep = connect_with(V3_1_1, "kept", |c| c.clean_start = false);
    let (connack, _, mut kept) = try_connect(port, &keep);
    assert_eq!(connack, ACCEPTED);
    kept.write_all(&hex("e0 00")).expect("DISCONNECT");
    assert!(closed(&mut kept), "the session stays, its client is gone");
    let (connack, closed_live, _live) = try_connect(port, &connect(V3_1_1, "live"));
    assert_eq!((connack, closed_live), (ACCEPTED.to_vec(), false));
    // Two sessions: a third client is refused, v5 with Server busy, 3.1.1 without a CONNACK.
    let (connack, closed_v5, _) = try_connect(port, &connect(V5, "third"));
    assert_eq!((connack, closed_v5), (hex("20 03 00 89 00"), true));
    let (connack, closed_v3, _) = try_connect(port, &connect(V3_1_1, "third"));
    assert_eq!((connack, closed_v3), (Vec::new(), true));
    // A client coming back to its own session takes no new place.
    let (connack, closed_kept, _) = try_connect(port, &keep);
    assert_eq!((connack, closed_kept), (hex("20 02 01 00"), false));
}

#[test]
fn global_max_connections_caps_sockets_across_listeners_beside_max_connections() {
    let broker =
        culex("allow_anonymous true\nglobal_max_connections 2", &["max_connections 1", ""]);
    let (first, second) = (broker.ports[0], broker.ports[1]);
    let denied = "Client connection from 127.0.0.1 denied: max_connections exceeded.";
    let (connack, _, one) = try_connect(first, &connect(V3_1_1, "one"));
    assert_eq!(connack, ACCEPTED);
    let (connack, closed, _) = try_connect(first, &connect(V3_1_1, "two"));
    assert_eq!((connack, closed), (Vec::new(), true), "the listener's max_connections");
    let (connack, _, _two) = try_connect(second, &connect(V3_1_1, "two"));
    assert_eq!(connack, ACCEPTED);
    let (connack, closed, _) = try_connect(second, &connect(V3_1_1, "three"));
    assert_eq!((connack, closed), (Vec::new(), true), "global_max_connections");
    // The log arrives through a pipe: wait for the second refusal's line, then count.
    let refusals = || broker.log_lines().iter().filter(|line| line.ends_with(denied)).count();
    let start = Instant::now();
    while refusals() < 2 && start.elapsed() < COMMAND_DEADLINE {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(refusals(), 2);
    // A closed connection frees its place.
    drop(one);
    let start = Instant::now();
    loop {
        let (connack, _, _) = try_connect(second, &connect(V3_1_1, "three"));
        if connack == ACCEPTED {
            break;
        }
        assert!(start.elapsed() < COMMAND_DEADLINE, "the place was never freed");
    }
}

#[test]
fn websockets_origin_drops_other_origins_without_an_answer() {
    let broker = culex(
        "allow_anonymous true",
        &["protocol websockets\nwebsockets_origin http://good.example\n\
         websockets_origin https://other.example:8443"],
    );
    let port = broker.port;
    let upgrade = |origin: &str| {
        let mut stream = open(
            port,
            format!(
                "GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Protocol: mqtt\r\n{origin}\r\n"
            )
            .as_bytes(),
        );
        let mut answer = [0; 512];
        let n = stream.read(&mut answer).unwrap_or(0);
        (String::from_utf8_lossy(&answer[..n]).into_owned(), stream.local_addr().map(|a| a.port()))
    };
    for origin in ["Origin: http://good.example\r\n", "origin: https://other.example:8443\r\n", ""]
    {
        let (answer, _) = upgrade(origin);
        assert!(answer.starts_with("HTTP/1.1 101 "), "{origin:?}: {answer}");
    }
    for origin in ["Origin: http://evil.example\r\n", "Origin: http://good.exampl\r\n"] {
        let (answer, client_port) = upgrade(origin);
        assert_eq!(answer, "", "{origin:?}: dropped unanswered");
        let client_port = client_port.expect("the client's port");
        let line = format!(
            "Client 127.0.0.1 [127.0.0.1:{client_port}] disconnected: non-matching http origin."
        );
        broker.wait_for_log(|logged| logged.ends_with(&line));
    }
}
