//! culex facing hostile peers (issue 12): a WebSocket frame or message beyond the packet limit
//! is refused from its header, before its payload arrives; and half-finished handshakes
//! (slowloris) on TCP, TLS and WebSocket listeners are closed after a bounded time, at a
//! bounded memory cost, while other clients are served.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{BrokerProcess, Certs, our_bin, rss};

/// The upgrade request a WebSocket client sends first.
const UPGRADE: &str = "GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";

/// A v3.1.1 CONNECT for client id `c`.
const CONNECT: &[u8] =
    &[0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, b'c'];

/// Whether the broker closed `stream` (end of stream or an error); bytes it sent are skipped.
fn closed(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Upgrades a fresh connection to `port` and returns it after the `101` answer.
fn upgraded(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    stream.write_all(UPGRADE.as_bytes()).expect("sending the upgrade");
    let mut head = Vec::new();
    let mut byte = [0];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("the upgrade's answer");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{}", String::from_utf8_lossy(&head));
    stream
}

/// The header of a masked binary frame announcing `len` payload bytes (mask key 0).
fn frame_header(len: u64) -> Vec<u8> {
    [&[0x82, 0x80 | 127][..], &len.to_be_bytes(), &[0; 4]].concat()
}

#[test]
fn oversized_websocket_frames_are_refused_before_their_payload() {
    // (extra configuration, length the frame header announces)
    let rows = [
        ("max_packet_size 100000\n", 100_001),
        ("max_packet_size 100000\n", 1 << 30),
        // Unset, the limit is the codec's maximum (256 MiB), not tungstenite's 64 MiB.
        ("", 268_435_461),
    ];
    for (extra, len) in rows {
        let broker = BrokerProcess::start_with(
            &our_bin("culex"),
            1,
            |ports| {
                format!(
                    "allow_anonymous true\n{extra}listener {} 127.0.0.1\nprotocol websockets\n",
                    ports[0]
                )
            },
            &[],
        );
        let mut stream = upgraded(broker.port);
        stream.write_all(&frame_header(len)).expect("sending the frame header");
        // Not one payload byte is sent: the broker must close on the header alone.
        let start = Instant::now();
        while !closed(&mut stream) {
            assert!(start.elapsed() < Duration::from_secs(10), "{extra:?} {len}: still open");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The kinds of half-finished handshake, each on its own listener.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stall {
    /// TCP: the first bytes of a CONNECT, never the rest.
    Connect,
    /// TLS: no ClientHello.
    Tls,
    /// WebSocket: the upgrade request, one byte a second.
    Upgrade,
}

/// How many connections of each kind.
const STALLED: usize = 200;

#[test]
fn half_finished_handshakes_are_closed_in_bounded_time_and_memory() {
    let certs = Certs::new();
    let config = |ports: &[u16]| {
        format!(
            "allow_anonymous true\nlistener {} 127.0.0.1\nlistener {} 127.0.0.1\n\
             cafile {}\ncertfile {}\nkeyfile {}\nlistener {} 127.0.0.1\nprotocol websockets\n",
            ports[0],
            ports[1],
            certs.path("ca.crt"),
            certs.path("server.crt"),
            certs.path("server.key"),
            ports[2]
        )
    };
    let broker = BrokerProcess::start_with(&our_bin("culex"), 3, config, &[]);
    let before = rss(broker.pid());
    let kinds = [
        (Stall::Connect, broker.ports[0]),
        (Stall::Tls, broker.ports[1]),
        (Stall::Upgrade, broker.ports[2]),
    ];
    let start = Instant::now();
    let mut open: Vec<(Stall, TcpStream, Option<Duration>)> = Vec::new();
    for (kind, port) in kinds {
        for _ in 0..STALLED {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
            if kind == Stall::Connect {
                stream.write_all(&CONNECT[..3]).expect("a CONNECT's first bytes");
            }
            open.push((kind, stream, None));
        }
    }
    // Everything was accepted and is held: the broker's memory for them.
    std::thread::sleep(Duration::from_secs(2));
    let growth = rss(broker.pid()).saturating_sub(before);
    let per_connection = growth / (3 * STALLED) as u64;
    eprintln!("{} stalled handshakes: {growth} bytes, {per_connection} each", 3 * STALLED);
    assert!(per_connection < 64 * 1024, "{per_connection} bytes per stalled handshake");

    // A client that completes its handshake is served meanwhile.
    let mut client = TcpStream::connect(("127.0.0.1", broker.ports[0])).expect("connecting");
    client.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    client.write_all(CONNECT).expect("CONNECT");
    let mut connack = [0; 4];
    client.read_exact(&mut connack).expect("CONNACK while stalled peers wait");
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);

    let mut sent = 0;
    while open.iter().any(|(_, _, at)| at.is_none()) {
        assert!(start.elapsed() < Duration::from_secs(130), "stalled handshakes still open");
        for (kind, stream, at) in &mut open {
            if at.is_some() {
                continue;
            }
            if *kind == Stall::Upgrade && sent < UPGRADE.len() {
                let _ = stream.write_all(&UPGRADE.as_bytes()[sent..=sent]);
            }
            if closed(stream) {
                *at = Some(start.elapsed());
            }
        }
        sent += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
    // TLS and WebSocket handshakes get 30 s; a connection gets 90 s to send its CONNECT.
    for (kind, bound) in [(Stall::Tls, 30), (Stall::Upgrade, 30), (Stall::Connect, 90)] {
        let times: Vec<Duration> =
            open.iter().filter(|(k, ..)| *k == kind).filter_map(|(.., at)| *at).collect();
        let (first, last) = (times.iter().min().unwrap(), times.iter().max().unwrap());
        eprintln!("{kind:?}: closed between {first:?} and {last:?}");
        assert!(*first >= Duration::from_secs(bound - 2), "{kind:?} closed early: {first:?}");
        assert!(*last <= Duration::from_secs(bound + 15), "{kind:?} closed late: {last:?}");
    }
}
