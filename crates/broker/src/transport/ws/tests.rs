//! The WebSocket adapter against a tungstenite client over an in-memory pipe: MQTT bytes
//! survive any framing, the subprotocol is negotiated, close and text frames end the stream,
//! frames and messages beyond the packet limit are refused from their headers.

use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt as _, StreamExt as _};
use mqtt_codec::{Packet, ProtocolVersion};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use super::*;

/// A v3.1.1 CONNECT for client id `c`, then a PINGREQ.
const CONNECT: &[u8] =
    &[0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, b'c'];
const PINGREQ: &[u8] = &[0xc0, 0x00];

/// The upgrade on `server` for a listener without `http_dir` or `websockets_origin`, with
/// `max_packet_size`.
async fn upgrade(
    server: DuplexStream,
    max_packet_size: u32,
) -> std::io::Result<WsStream<DuplexStream>> {
    upgrade_from(server, &[], max_packet_size).await
}

/// The upgrade on `server` for a listener without `http_dir` that allows `origins`, with
/// `max_packet_size`.
async fn upgrade_from(
    server: DuplexStream,
    origins: &[&str],
    max_packet_size: u32,
) -> std::io::Result<WsStream<DuplexStream>> {
    let settings = HttpSettings {
        head_limit: crate::config::DEFAULT_WEBSOCKETS_HEADERS_SIZE,
        http_root: None,
        log_level: 0,
        origins: origins.iter().map(|origin| (*origin).to_owned()).collect(),
    };
    let logger = Logger::new(crate::config::LogTypes::NONE, false, false);
    accept(server, &settings, max_packet_size, &logger)
        .await?
        .ok_or_else(|| std::io::ErrorKind::Other.into())
}

/// A server-side adapter and the client end, after the upgrade with `protocols` offered.
async fn pair(protocols: &str) -> (WsStream<DuplexStream>, WebSocketStream<DuplexStream>, String) {
    pair_with_limit(protocols, mqtt_codec::MAX_PACKET_SIZE).await
}

/// [`pair`] with the server's packet limit `max_packet_size`.
async fn pair_with_limit(
    protocols: &str,
    max_packet_size: u32,
) -> (WsStream<DuplexStream>, WebSocketStream<DuplexStream>, String) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let mut request = "ws://localhost/mqtt".into_client_request().unwrap();
    if !protocols.is_empty() {
        request.headers_mut().insert("Sec-WebSocket-Protocol", protocols.parse().unwrap());
    }
    let (server, client) = tokio::join!(
        upgrade(server, max_packet_size),
        tokio_tungstenite::client_async(request, client)
    );
    let (client, response) = client.expect("the upgrade succeeds");
    let chosen = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (server.expect("the server accepts"), client, chosen)
}

/// Reads from the adapter until `want` bytes have arrived (or the stream ends).
async fn read_bytes(server: &mut WsStream<DuplexStream>, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        let mut chunk = [0; 7];
        let n = tokio::time::timeout(Duration::from_secs(5), server.read(&mut chunk))
            .await
            .expect("bytes arrive in time")
            .expect("reading succeeds");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    got
}

fn decode_all(bytes: &[u8]) -> Vec<Packet> {
    let mut input = BytesMut::from(bytes);
    let mut packets = Vec::new();
    while let Some(packet) =
        mqtt_codec::decode(&mut input, ProtocolVersion::V3_1_1, mqtt_codec::MAX_PACKET_SIZE)
            .expect("valid packets")
    {
        packets.push(packet);
    }
    assert!(input.is_empty(), "no bytes left over");
    packets
}

#[tokio::test]
async fn the_mqtt_subprotocol_is_chosen_and_others_are_refused() {
    assert_eq!(pair("mqtt").await.2, "mqtt");
    assert_eq!(pair("mqttv3.1").await.2, "mqttv3.1");
    assert_eq!(pair("foo, mqttv3.1, mqtt").await.2, "mqtt");
    assert_eq!(pair("").await.2, "", "no subprotocol asked, none answered");
    let (client, server) = tokio::io::duplex(4096);
    let mut request = "ws://localhost/mqtt".into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "chat".parse().unwrap());
    let (server, client) = tokio::join!(
        upgrade(server, mqtt_codec::MAX_PACKET_SIZE),
        tokio_tungstenite::client_async(request, client)
    );
    assert!(server.is_err() && client.is_err());
}

/// `websockets_origin`: an `Origin` header must be one of them, exactly; a request without
/// one is not checked; the refusal is told apart from other failures.
#[tokio::test]
async fn an_origin_the_listener_does_not_list_is_refused() {
    let allowed = ["http://a.example", "https://b.example:8443"];
    for (origin, accepted) in [
        (Some("https://b.example:8443"), true),
        (None, true),
        (Some("http://a.example:80"), false),
        (Some("http://a.exampl"), false),
        (Some("HTTP://A.EXAMPLE"), false),
    ] {
        let (client, server) = tokio::io::duplex(4096);
        let mut request = "ws://localhost/mqtt".into_client_request().unwrap();
        if let Some(origin) = origin {
            request.headers_mut().insert("Origin", origin.parse().unwrap());
        }
        let (server, client) = tokio::join!(
            upgrade_from(server, &allowed, mqtt_codec::MAX_PACKET_SIZE),
            tokio_tungstenite::client_async(request, client)
        );
        match server {
            Ok(_) => assert!(accepted && client.is_ok(), "{origin:?}"),
            Err(err) => assert!(!accepted && is_origin_refusal(&err), "{origin:?}: {err}"),
        }
    }
}

#[tokio::test]
async fn a_packet_split_across_frames_is_put_back_together() {
    let (mut server, mut client, _) = pair("mqtt").await;
    for part in [&CONNECT[..1], &CONNECT[1..6], &CONNECT[6..]] {
        client.send(Message::Binary(Bytes::copy_from_slice(part))).await.unwrap();
    }
    let bytes = read_bytes(&mut server, CONNECT.len()).await;
    assert!(matches!(decode_all(&bytes)[..], [Packet::Connect(_)]));
}

#[tokio::test]
async fn several_packets_in_one_frame_all_arrive() {
    let (mut server, mut client, _) = pair("mqtt").await;
    let frame = [CONNECT, PINGREQ, PINGREQ].concat();
    client.send(Message::Binary(frame.clone().into())).await.unwrap();
    let bytes = read_bytes(&mut server, frame.len()).await;
    assert!(matches!(
        decode_all(&bytes)[..],
        [Packet::Connect(_), Packet::PingReq, Packet::PingReq]
    ));
}

#[tokio::test]
async fn pings_are_answered_and_skipped() {
    let (mut server, mut client, _) = pair("mqtt").await;
    client.send(Message::Ping(Bytes::from_static(b"hi"))).await.unwrap();
    client.send(Message::Binary(Bytes::from_static(PINGREQ))).await.unwrap();
    assert_eq!(read_bytes(&mut server, 2).await, PINGREQ);
    let pong = tokio::time::timeout(Duration::from_secs(5), client.next()).await.unwrap();
    assert!(matches!(pong, Some(Ok(Message::Pong(payload))) if payload == "hi"));
}

#[tokio::test]
async fn writes_go_out_as_binary_frames_one_per_batch() {
    let (mut server, mut client, _) = pair("mqtt").await;
    let slices = [std::io::IoSlice::new(&[0x20, 0x02]), std::io::IoSlice::new(&[0x00, 0x00])];
    let written = server.write_vectored(&slices).await.unwrap();
    assert_eq!(written, 4);
    let frame = tokio::time::timeout(Duration::from_secs(5), client.next()).await.unwrap();
    assert!(matches!(frame, Some(Ok(Message::Binary(data))) if data[..] == [0x20, 2, 0, 0]));
}

#[tokio::test]
async fn a_close_frame_ends_the_stream_and_is_answered() {
    let (mut server, mut client, _) = pair("mqtt").await;
    client.send(Message::Binary(Bytes::from_static(PINGREQ))).await.unwrap();
    client.close(None).await.unwrap();
    assert_eq!(read_bytes(&mut server, 3).await, PINGREQ, "data, then the end");
    let mut rest = [0; 4];
    assert_eq!(server.read(&mut rest).await.unwrap(), 0);
    let reply = tokio::time::timeout(Duration::from_secs(5), client.next()).await.unwrap();
    assert!(matches!(reply, Some(Ok(Message::Close(_))) | None), "{reply:?}");
}

#[tokio::test]
async fn a_text_frame_is_an_error_and_closes_with_unsupported_data() {
    let (mut server, mut client, _) = pair("mqtt").await;
    client.send(Message::text("CONNECT")).await.unwrap();
    let mut buf = [0; 16];
    let err = server.read(&mut buf).await.expect_err("text frames are refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    let close = tokio::time::timeout(Duration::from_secs(5), client.next()).await.unwrap();
    match close {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Unsupported),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn shutting_down_sends_a_close_frame() {
    let (mut server, mut client, _) = pair("mqtt").await;
    server.shutdown().await.unwrap();
    let close = tokio::time::timeout(Duration::from_secs(5), client.next()).await.unwrap();
    assert!(matches!(close, Some(Ok(Message::Close(_)))), "{close:?}");
}

/// A masked client frame (mask key 0, so the payload goes as it is): `first` is the FIN bit
/// and opcode byte, `len` the length its header announces, `payload` the bytes that follow.
fn raw_frame(first: u8, len: u64, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first, 0x80 | 127];
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(payload);
    frame
}

#[tokio::test]
async fn frames_and_messages_beyond_the_packet_limit_are_refused_from_their_headers() {
    const LIMIT: u32 = 100_000;
    let part = vec![0x30; 60_000];
    // (what the client sends, whether the server refuses it)
    let rows: [(&str, Vec<u8>, bool); 4] = [
        ("a frame within the limit", raw_frame(0x82, 90_000, &[0xc0; 90_000]), false),
        // Only the header is sent: the refusal cannot wait for the payload.
        ("a frame announcing 1 GiB", raw_frame(0x82, 1 << 30, &[]), true),
        ("a frame announcing more than the limit", raw_frame(0x82, 100_001, &[]), true),
        (
            "a message of two frames beyond the limit together",
            [raw_frame(0x02, 60_000, &part), raw_frame(0x80, 60_000, &part)].concat(),
            true,
        ),
    ];
    for (what, bytes, refused) in rows {
        let (mut server, mut client, _) = pair_with_limit("mqtt", LIMIT).await;
        // Written beside the read: the in-memory pipe holds less than a frame.
        let writer = tokio::spawn(async move { client.get_mut().write_all(&bytes).await });
        let mut buf = vec![0; 128 * 1024];
        let read = tokio::time::timeout(Duration::from_secs(5), server.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer in time"));
        writer.abort();
        match read {
            Err(err) => {
                assert!(refused, "{what}: refused: {err}");
                assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{what}");
            }
            Ok(n) => assert!(!refused && n > 0, "{what}: read {n} bytes"),
        }
    }
    assert_eq!(message_limit(10), culex_client::ws::MAX_OUTGOING_FRAME, "small frames pass");
}
