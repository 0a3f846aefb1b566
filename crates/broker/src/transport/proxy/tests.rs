//! [`ProxySettings::read`] over an in-memory pipe: the peer it yields for each kind of header,
//! what it refuses, and that the client's first bytes after the header stay unread.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;
use crate::config::LogTypes;

/// The socket's peer before any header is read.
fn socket_peer() -> PeerInfo {
    PeerInfo { address: "127.0.0.1".into(), port: 40000, listener: 0, certificate_username: None }
}

fn settings(version: ProxyProtocol, options: &str) -> ProxySettings {
    let mut listener =
        ListenerConfig { proxy_protocol: Some(version), ..ListenerConfig::default() };
    listener.proxy_protocol_v2_require_tls = options.contains("require_tls");
    listener.tls.require_certificate = options.contains("require_certificate");
    listener.tls.use_identity_as_username = options.contains("identity");
    ProxySettings::of(&listener).expect("PROXY is on")
}

/// What `read` makes of `sent` (the header and, after it, the client's first bytes): whether
/// the connection goes on, the peer, and the bytes left unread in the stream.
async fn read(settings: &ProxySettings, sent: &[u8]) -> (bool, PeerInfo, Vec<u8>) {
    let (mut client, mut server) = tokio::io::duplex(4096);
    client.write_all(sent).await.unwrap();
    drop(client);
    let mut peer = socket_peer();
    let logger = Logger::new(LogTypes::NONE, false, false);
    let admitted = settings.read(&mut server, &mut peer, &logger).await.unwrap();
    let mut rest = Vec::new();
    server.read_to_end(&mut rest).await.unwrap();
    (admitted, peer, rest)
}

/// A v2 PROXY header over TCP/IPv4 from 192.0.2.5:6275, with `tlvs`.
fn v2_tcp4(tlvs: &[u8]) -> Vec<u8> {
    let mut bytes = b"\r\n\r\n\0\r\nQUIT\n\x21\x11".to_vec();
    bytes.extend_from_slice(&u16::try_from(12 + tlvs.len()).unwrap().to_be_bytes());
    bytes.extend_from_slice(&[192, 0, 2, 5, 192, 0, 2, 1, 0x18, 0x83, 0x07, 0x5b]);
    bytes.extend_from_slice(tlvs);
    bytes
}

/// The SSL TLV with `client` bits, verify 0, and a common name.
fn ssl_tlv(client: u8) -> Vec<u8> {
    let mut tlv = vec![0x20, 0, 12, client, 0, 0, 0, 0];
    tlv.extend_from_slice(&[0x22, 0, 4]);
    tlv.extend_from_slice(b"user");
    tlv
}

#[tokio::test]
async fn the_header_names_the_client_and_the_mqtt_bytes_after_it_stay() {
    let v1 = settings(ProxyProtocol::V1, "");
    let (admitted, peer, rest) =
        read(&v1, b"PROXY TCP4 192.0.2.5 192.0.2.1 6275 1883\r\n\x10\x0c").await;
    assert!(admitted);
    assert_eq!(
        (peer.address.as_str(), peer.port, rest.as_slice()),
        ("192.0.2.5", 6275, &b"\x10\x0c"[..])
    );
    let (admitted, peer, rest) = read(&v1, b"PROXY UNKNOWN\r\n\r\n").await;
    assert!(admitted);
    assert_eq!((peer, rest), (socket_peer(), b"\r\n".to_vec()));

    let v2 = settings(ProxyProtocol::V2, "");
    let mut sent = v2_tcp4(&[]);
    sent.extend_from_slice(b"\x10\x0c");
    let (admitted, peer, rest) = read(&v2, &sent).await;
    assert!(admitted);
    assert_eq!(
        (peer.address.as_str(), peer.port, rest.as_slice()),
        ("192.0.2.5", 6275, &b"\x10\x0c"[..])
    );
}

#[tokio::test]
async fn corrupt_short_and_foreign_headers_close_the_connection() {
    let v1 = settings(ProxyProtocol::V1, "");
    let v2 = settings(ProxyProtocol::V2, "");
    let too_long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 200]].concat();
    let mut long_tlv = v2_tcp4(&[0x04, 0, 9, 0]);
    long_tlv[15] -= 1; // the TLV now claims 9 bytes where 1 is left
    for (settings, sent) in [
        (&v1, b"PROXY TCP4 192.0.2.5 192.0.2.1 0 1883\r\n".to_vec()),
        (&v1, too_long),
        (&v1, b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00".to_vec()),
        (&v1, b"PROXY TCP4 192.0.2.5".to_vec()),
        (&v2, b"PROXY TCP4 192.0.2.5 192.0.2.1 6275 1883\r\n".to_vec()),
        (&v2, v2_tcp4(&[])[..20].to_vec()),
        (&v2, long_tlv),
    ] {
        let (admitted, _, _) = read(settings, &sent).await;
        assert!(!admitted, "{}", String::from_utf8_lossy(&sent));
    }
}

#[tokio::test]
async fn tls_facts_of_a_v2_header_are_required_where_the_listener_says() {
    let plain = v2_tcp4(&[]);
    let tls_client = v2_tcp4(&ssl_tlv(0x01));
    let certificate = v2_tcp4(&ssl_tlv(0x01 | 0x04));
    // HAProxy sends the SSL TLV with the SSL bit clear for a plain client.
    let not_tls = v2_tcp4(&ssl_tlv(0x00));
    let table: &[(&str, &[u8], bool)] = &[
        ("", &plain, true),
        ("require_tls", &plain, false),
        ("require_tls", &not_tls, false),
        ("require_tls", &tls_client, true),
        ("require_tls require_certificate", &tls_client, false),
        ("require_certificate", &certificate, true),
    ];
    for (options, sent, expected) in table {
        let (admitted, _, _) = read(&settings(ProxyProtocol::V2, options), sent).await;
        assert_eq!(admitted, *expected, "{options}: {sent:02x?}");
    }
    let name = |sent: &[u8]| {
        let settings = settings(ProxyProtocol::V2, "identity");
        let sent = sent.to_vec();
        async move { read(&settings, &sent).await.1.certificate_username.map(|name| *name) }
    };
    assert_eq!(name(&certificate).await, Some(CertificateUsername::Name("user".to_owned())));
    assert_eq!(name(&plain).await, Some(CertificateUsername::Missing));
    assert_eq!(
        read(&settings(ProxyProtocol::V2, ""), &certificate).await.1.certificate_username,
        None
    );
}

#[tokio::test(start_paused = true)]
async fn a_header_that_does_not_come_whole_in_time_closes_the_connection() {
    use crate::transport::{PROXY_HEADER_TIMEOUT, Upgrades, ws::HttpSettings};
    let listener =
        ListenerConfig { proxy_protocol: Some(ProxyProtocol::V1), ..ListenerConfig::default() };
    let http = HttpSettings { head_limit: 0, http_root: None, log_level: 0, origins: Vec::new() };
    let upgrades = Upgrades::of(&listener, http).unwrap().expect("PROXY is an upgrade");
    let (mut client, mut server) = tokio::io::duplex(64);
    client.write_all(b"PROXY TCP4 192.0.2.5").await.unwrap();
    let (_abort, aborted) = tokio::sync::watch::channel(false);
    let logger = Logger::new(LogTypes::NONE, false, false);
    let start = tokio::time::Instant::now();
    let mut peer = socket_peer();
    assert!(!upgrades.read_proxy_header(&mut server, &mut peer, &logger, aborted).await);
    assert_eq!(start.elapsed(), PROXY_HEADER_TIMEOUT);
    assert_eq!(peer, socket_peer());
}
