//! PROXY protocol listeners (Mosquitto 2.1's `enable_proxy_protocol` and
//! `proxy_protocol_v2_require_tls`, which Debian's 2.0.11 does not know): a small PROXY-speaking
//! client writes v1 and v2 headers (TCP4, TCP6, UNIX, LOCAL, UNSPEC, UNKNOWN, TLVs with the
//! SSL TLV) before an MQTT CONNECT, and a forwarding front puts a header before what real clients
//! send over TLS and WebSockets. The log must name the client the header names; corrupt,
//! refused, oversized and slow headers close the connection unanswered.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    BrokerProcess, COMMAND_DEADLINE, Certs, TempDir, our_bin, reference_tool, run, stderr_lines,
};

/// A v1 header.
fn v1(text: &str) -> Vec<u8> {
    format!("PROXY {text}\r\n").into_bytes()
}

/// A v2 header: `command` (0 LOCAL, 1 PROXY), `family`, then `body` (addresses and TLVs).
fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    bytes.extend_from_slice(&[0x20 | command, family]);
    bytes.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// A v2 PROXY header over TCP/IPv4 from 192.0.2.5:6275 to 192.0.2.1:1883, with `tlvs`.
fn v2_tcp4(tlvs: &[u8]) -> Vec<u8> {
    v2(1, 0x11, &[&[192, 0, 2, 5, 192, 0, 2, 1, 0x18, 0x83, 0x07, 0x5b], tlvs].concat())
}

/// One TLV.
fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    [&[kind][..], &u16::try_from(value.len()).unwrap().to_be_bytes(), value].concat()
}

/// The SSL TLV: `client` bits, verify 0, version `TLSv1.3`, cipher `pqrstuv`, common name
/// `ppppppp`.
fn ssl_tlv(client: u8) -> Vec<u8> {
    let subs = [tlv(0x21, b"TLSv1.3"), tlv(0x23, b"pqrstuv"), tlv(0x22, b"ppppppp")].concat();
    tlv(0x20, &[&[client, 0, 0, 0, 0][..], &subs].concat())
}

/// An MQTT 3.1.1 CONNECT (clean session, keep alive 60) for `client_id`.
fn connect_packet(client_id: &str) -> Vec<u8> {
    let id = client_id.as_bytes();
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
    body.extend_from_slice(&u16::try_from(id.len()).unwrap().to_be_bytes());
    body.extend_from_slice(id);
    [vec![0x10, u8::try_from(body.len()).unwrap()], body].concat()
}

/// Connects to `port`, sends `header` and a CONNECT for `client_id`, and reads the answer: the
/// CONNACK's 4 bytes, or nothing when the broker closes the connection. Returns the bytes, the
/// open stream and the client's own address (`127.0.0.1:<port>`, which a header that names no
/// client leaves in place).
fn proxied_connect(port: u16, header: &[u8], client_id: &str) -> (Vec<u8>, TcpStream, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    stream.set_read_timeout(Some(COMMAND_DEADLINE)).unwrap();
    let own = stream.local_addr().unwrap().to_string();
    stream.write_all(&[header, &connect_packet(client_id)].concat()).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0; 4];
    while answer.len() < 4 {
        match stream.read(&mut buf[..4 - answer.len()]) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    (answer, stream, own)
}

/// culex with one listener reading PROXY headers of `version`, `extra` lines on it.
fn proxy_broker(version: u8, extra: &str) -> BrokerProcess {
    BrokerProcess::culex(&format!("enable_proxy_protocol {version}\n{extra}"))
}

/// Each row's header is accepted and the log names the client it gives (`None`: the socket's
/// own address) in both connection lines.
fn names_the_client(broker: &BrokerProcess, rows: &[(&str, Vec<u8>, Option<&str>)]) {
    for (client_id, header, named) in rows {
        let (answer, _stream, own) = proxied_connect(broker.port, header, client_id);
        assert_eq!(answer, [0x20, 2, 0, 0], "{client_id}: {:?}", broker.log_lines());
        let from = named.map_or(own, str::to_owned);
        let connected = format!("New client connected from {from} as {client_id} (p2, c1, k60).");
        broker.wait_for_log(|line| line == connected);
        let opened = format!("New connection from {from} on port {}.", broker.port);
        assert!(broker.log_lines().contains(&opened), "{opened}: {:?}", broker.log_lines());
    }
}

#[test]
fn v1_headers_name_the_client_in_the_log() {
    let broker = proxy_broker(1, "");
    names_the_client(
        &broker,
        &[
            ("v1-tcp4", v1("TCP4 192.0.2.5 192.0.2.1 6275 1883"), Some("192.0.2.5:6275")),
            (
                "v1-tcp6",
                v1("TCP6 2001:db8:506:708:900::1 2001:db8::2 6275 1883"),
                Some("2001:db8:506:708:900::1:6275"),
            ),
            ("v1-unknown", v1("UNKNOWN "), None),
            ("v1-unknown-bare", v1("UNKNOWN"), None),
        ],
    );
}

#[test]
fn v2_headers_name_the_client_in_the_log() {
    let broker = proxy_broker(2, "");
    let mut tcp6 = vec![0x20, 0x01, 0x0d, 0xb8, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 1];
    tcp6.extend_from_slice(&[0; 16]);
    tcp6.extend_from_slice(&[0x18, 0x83, 0x07, 0x5b]);
    let mut unix = vec![0; 216];
    unix[..5].copy_from_slice(b"/path");
    names_the_client(
        &broker,
        &[
            ("v2-tcp4", v2_tcp4(&tlv(0x04, &[1, 2, 3, 4])), Some("192.0.2.5:6275")),
            ("v2-tcp6", v2(1, 0x21, &tcp6), Some("2001:db8:506:708:900::1:6275")),
            ("v2-unix", v2(1, 0x31, &unix), Some("/path:0")),
            ("v2-local", v2(0, 0x00, &[]), None),
            ("v2-local-tcp4", v2(0, 0x11, &[192, 0, 2, 9, 192, 0, 2, 1, 0, 1, 0, 2]), None),
            ("v2-unspec", v2(1, 0x00, &[]), None),
        ],
    );
}

/// Each row's header is refused: the connection closes with nothing sent, and the broker logs
/// the row's line.
fn refuses(broker: &BrokerProcess, rows: &[(Vec<u8>, &str)]) {
    for (n, (header, line)) in rows.iter().enumerate() {
        let before = broker.log_lines().iter().filter(|l| l == line).count();
        let (answer, _, _) = proxied_connect(broker.port, header, &format!("refused-{n}"));
        assert_eq!(answer, b"", "{header:02x?}");
        let start = Instant::now();
        while broker.log_lines().iter().filter(|l| l == line).count() == before {
            assert!(start.elapsed() < COMMAND_DEADLINE, "{line}: {:?}", broker.log_lines());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    assert!(!broker.log_lines().iter().any(|line| line.contains("as refused-")));
}

#[test]
fn corrupt_and_oversized_headers_close_the_connection_unanswered() {
    const CORRUPT: &str = "Connection rejected, corrupt PROXY header.";
    let broker = proxy_broker(1, "");
    let too_long = format!("UNKNOWN {}", "x".repeat(100));
    let rows: Vec<(Vec<u8>, &str)> = [
        "TCP5 192.0.2.5 192.0.2.1 6275 1883",
        "TCP4 192.0.2.5 192.0.2.1 6275",
        "TCP4 192.0.2.5 192.0.2.1 0 1883",
        "TCP4 192.0.2.5 192.0.2.1 6275 65536",
        "TCP4 192.0.2.300 192.0.2.1 6275 1883",
        "TCP6 192.0.2.5 192.0.2.1 6275 1883",
        &too_long,
    ]
    .iter()
    .map(|text| (v1(text), CORRUPT))
    .chain([(Vec::new(), CORRUPT)]) // a CONNECT with no header at all
    .collect();
    refuses(&broker, &rows);

    let broker = proxy_broker(2, "");
    let mut bad_version = v2_tcp4(&[]);
    bad_version[12] = 0x11;
    let mut long_tlv = v2_tcp4(&tlv(0x04, &[0; 4]));
    long_tlv[15] -= 1;
    refuses(
        &broker,
        &[
            (bad_version, CORRUPT),
            (v2(1, 0x12, &[0; 12]), CORRUPT),
            (v2(1, 0x11, &[0; 11]), CORRUPT),
            (v2(1, 0x11, &[0; 501]), CORRUPT),
            (long_tlv, "Connection from 192.0.2.5:6275 rejected, corrupt PROXY header."),
        ],
    );
}

#[test]
fn v2_tls_facts_decide_require_tls_certificates_and_the_username() {
    let broker = proxy_broker(
        2,
        "proxy_protocol_v2_require_tls true\nrequire_certificate true\n\
         use_identity_as_username true",
    );
    const SSL: u8 = 0x01;
    const CERT_SESS: u8 = 0x04;
    let no_tls = "Connection from 192.0.2.5:6275 rejected, client did not connect using TLS.";
    refuses(
        &broker,
        &[
            (v2_tcp4(&[]), no_tls),
            // HAProxy's SSL TLV for a client that did not use TLS.
            (v2_tcp4(&ssl_tlv(0)), no_tls),
            (
                v2_tcp4(&ssl_tlv(SSL)),
                "Connection from 192.0.2.5:6275 rejected, client did not provide a certificate.",
            ),
        ],
    );
    let (answer, _stream, _) =
        proxied_connect(broker.port, &v2_tcp4(&ssl_tlv(SSL | CERT_SESS)), "proxy-test");
    assert_eq!(answer, [0x20, 2, 0, 0]);
    broker.wait_for_log(|line| {
        line == "New client connected from 192.0.2.5:6275 as proxy-test (p2, c1, k60, u'ppppppp')."
    });
    assert!(
        broker.log_lines().contains(
            &"Connection from 192.0.2.5:6275 negotiated TLSv1.3 cipher pqrstuv".to_owned()
        )
    );
}

#[test]
fn a_header_that_comes_too_slowly_is_closed_after_ten_seconds() {
    let broker = proxy_broker(1, "");
    let mut stream = TcpStream::connect(("127.0.0.1", broker.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let start = Instant::now();
    for byte in b"PROXY TCP4 " {
        stream.write_all(&[*byte]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let waited = start.elapsed();
    assert!(rest.is_empty() && waited >= Duration::from_secs(10), "{waited:?}");
    assert!(waited < Duration::from_secs(20), "{waited:?}");
    broker.wait_for_log(|line| line == "Client connection from 127.0.0.1 failed: timed out.");
}

#[test]
fn max_connections_counts_and_names_the_proxied_client() {
    let broker = proxy_broker(1, "max_connections 1");
    let (answer, _held, _) =
        proxied_connect(broker.port, &v1("TCP4 192.0.2.5 192.0.2.1 6275 1883"), "first");
    assert_eq!(answer, [0x20, 2, 0, 0]);
    let (answer, _, _) =
        proxied_connect(broker.port, &v1("TCP4 192.0.2.6 192.0.2.1 6276 1883"), "second");
    assert_eq!(answer, b"");
    broker.wait_for_log(|line| {
        line == "Client connection from 192.0.2.6 denied: max_connections exceeded."
    });
}

/// A forwarding front on 127.0.0.1, as HAProxy with `send-proxy` is: it accepts one client,
/// connects to `upstream`, sends `header`, then relays both ways until either side closes.
/// Returns its port.
fn front(upstream: u16, header: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the front");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else { return };
        let mut broker = TcpStream::connect(("127.0.0.1", upstream)).expect("reaching culex");
        broker.write_all(&header).expect("sending the header");
        let relay = |mut from: TcpStream, mut to: TcpStream| {
            from.set_read_timeout(Some(COMMAND_DEADLINE)).unwrap();
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        };
        let (c, b) = (client.try_clone().unwrap(), broker.try_clone().unwrap());
        let back = std::thread::spawn(move || relay(b, c));
        relay(client, broker);
        let _ = back.join();
    });
    port
}

#[test]
fn tls_and_websockets_follow_the_header() {
    let certs = Certs::new();
    let tls = format!(
        "cafile {}\ncertfile {}\nkeyfile {}",
        certs.path("ca.crt"),
        certs.path("server.crt"),
        certs.path("server.key")
    );
    // v1 before TLS: Mosquitto's own client, through the front.
    let broker = proxy_broker(1, &tls);
    let port = front(broker.port, v1("TCP4 192.0.2.5 192.0.2.1 6275 8883"));
    let ca = certs.path("ca.crt");
    let tls_args = ["-h", "localhost", "--cafile", &ca];
    publishes_through(&broker, port, &reference_tool("mosquitto_pub"), "over-tls", &tls_args);
    // v2 before the WebSocket upgrade.
    let broker = proxy_broker(2, "protocol websockets");
    let port = front(broker.port, v2_tcp4(&[]));
    publishes_through(&broker, port, &our_bin("culex_pub"), "over-ws", &["--ws"]);
}

/// `publisher` (a `*_pub` tool) with `args` publishes as `client_id` through the front on
/// `port`, and `broker` logs it as connected from the client the front's header names.
fn publishes_through(
    broker: &BrokerProcess,
    port: u16,
    publisher: &Path,
    client_id: &str,
    args: &[&str],
) {
    let port = port.to_string();
    let done = run(
        Command::new(publisher)
            .args(["-p", &port, "-i", client_id, "-t", "t", "-m", "m"])
            .args(args),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "{}", done.stderr);
    let connected = format!("New client connected from 192.0.2.5:6275 as {client_id} ");
    broker.wait_for_log(|line| line.starts_with(&connected));
}

#[test]
fn option_errors_name_the_file_and_line_and_mosquitto_2_0_does_not_know_them() {
    let dir = TempDir::new("proxy-conf");
    let config = dir.join("proxy.conf");
    let cases = [
        (
            "listener 1883\nenable_proxy_protocol 3\n",
            vec!["Error: enable_proxy_protocol must be 1 or 2.".to_owned(), format!("Error found at {}:2.", config.display())],
        ),
        (
            "enable_proxy_protocol 1\n",
            vec![
                "Error: The 'enable_proxy_protocol' option requires a listener to be defined first.".to_owned(),
                format!("Error found at {}:1.", config.display()),
            ],
        ),
        (
            "listener 1883\nenable_proxy_protocol 2\ncertfile /s\nkeyfile /k\n",
            vec!["Error: certfile and keyfile cannot be used with `enable_proxy_protocol 2`.".to_owned()],
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&config, text).unwrap();
        let done = run(Command::new(our_bin("culex")).arg("-c").arg(&config), COMMAND_DEADLINE);
        assert_eq!((done.code(), stderr_lines(&done)), (3, expected), "{text}");
    }
    std::fs::write(&config, "listener 1883\nenable_proxy_protocol 1\n").unwrap();
    let done =
        run(Command::new(reference_tool("mosquitto")).arg("-c").arg(&config), COMMAND_DEADLINE);
    assert_eq!(done.code(), 3);
    assert!(
        stderr_lines(&done).contains(
            &"Error: Unknown configuration variable \"enable_proxy_protocol\".".to_owned()
        ),
        "{}",
        done.stderr
    );
}
