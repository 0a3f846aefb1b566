//! `Client` over a real loopback socket against a scripted fake broker: the `-d` lines come
//! out in Mosquitto's order, QoS handshakes complete, refusals and lost connections surface.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use mqtt_codec::{
    Ack, ConnAck, MqttString, Packet, Properties, PropertyValues, ProtocolVersion, QoS, ReasonCode,
    TopicName,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::*;
use crate::args::{ArgCursor, ConnectArgs};
use crate::session::Message;

/// Every test step is bounded.
const DEADLINE: Duration = Duration::from_secs(5);

fn options(port: u16, extra: &[&str]) -> ConnectOptions {
    let mut argv: Vec<std::ffi::OsString> = vec!["-p".into(), port.to_string().into()];
    argv.extend(extra.iter().map(Into::into));
    let mut cursor = ArgCursor::new(&argv);
    let mut args = ConnectArgs::default();
    while let Some(option) = cursor.next_option() {
        args.parse_option(option, &mut cursor).expect("valid test options");
    }
    args.check().expect("consistent test options");
    ConnectOptions::resolve(&args).expect("resolvable test options")
}

fn capture() -> (DebugHook, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let hook: DebugHook = Box::new(move |line: &str| sink.lock().unwrap().push(line.to_owned()));
    (hook, lines)
}

/// The broker side of one connection: reads packets, writes scripted answers.
struct FakeBroker {
    stream: TcpStream,
    buf: BytesMut,
    version: ProtocolVersion,
}

/// Binds a loopback port and runs `script` on the fake broker of the first connection to it;
/// returns the port and the script's task.
async fn serve<S, F>(version: ProtocolVersion, script: S) -> (u16, JoinHandle<()>)
where
    S: FnOnce(FakeBroker) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task =
        tokio::spawn(async move { script(FakeBroker::accept(&listener, version).await).await });
    (port, task)
}

impl FakeBroker {
    async fn accept(listener: &TcpListener, version: ProtocolVersion) -> Self {
        let (stream, _) = tokio::time::timeout(DEADLINE, listener.accept()).await.unwrap().unwrap();
        Self { stream, buf: BytesMut::new(), version }
    }

    async fn read(&mut self) -> Option<Packet> {
        loop {
            if let Some(packet) =
                mqtt_codec::decode(&mut self.buf, self.version, mqtt_codec::MAX_PACKET_SIZE)
                    .unwrap()
            {
                return Some(packet);
            }
            let read = tokio::time::timeout(DEADLINE, self.stream.read_buf(&mut self.buf)).await;
            if read.unwrap().unwrap() == 0 {
                return None;
            }
        }
    }

    async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        mqtt_codec::encode(&packet, self.version, mqtt_codec::MAX_PACKET_SIZE, &mut out).unwrap();
        self.stream.write_all(&out).await.unwrap();
    }
}

fn ack(mid: u16, reason: ReasonCode) -> Ack {
    Ack {
        packet_id: mqtt_codec::PacketId::new(mid).unwrap(),
        reason,
        properties: Properties::default(),
    }
}

#[tokio::test]
async fn v5_qos1_publish_logs_like_mosquitto_and_adopts_the_assigned_id() {
    let (port, broker) = serve(ProtocolVersion::V5, |mut broker| async move {
        assert!(matches!(broker.read().await, Some(Packet::Connect(_))));
        let properties = Properties::from(PropertyValues {
            assigned_client_identifier: Some(MqttString::from_static("auto-1")),
            ..PropertyValues::default()
        });
        broker
            .send(Packet::ConnAck(ConnAck {
                session_present: false,
                reason: ReasonCode::Success,
                properties,
            }))
            .await;
        let Some(Packet::Publish(publish)) = broker.read().await else {
            panic!("expected PUBLISH")
        };
        assert_eq!(publish.payload, Bytes::from_static(b"hello"));
        broker.send(Packet::PubAck(ack(1, ReasonCode::NoMatchingSubscribers))).await;
        assert!(matches!(broker.read().await, Some(Packet::Disconnect(_))));
    })
    .await;
    let (hook, lines) = capture();
    let (mut client, _) =
        Client::connect(options(port, &["-V", "5"]), Some(hook)).await.expect("connects");
    let mid = client
        .publish(
            TopicName::new("t").unwrap(),
            Bytes::from_static(b"hello"),
            QoS::AtLeastOnce,
            false,
            Properties::default(),
        )
        .unwrap();
    let event = tokio::time::timeout(DEADLINE, client.next_event()).await.unwrap().unwrap();
    assert_eq!(event, Event::PublishDone { mid, reason: 16, reason_string: None });
    client.disconnect(ReasonCode::Success, Properties::default()).await.unwrap();
    broker.await.unwrap();
    assert_eq!(
        *lines.lock().unwrap(),
        [
            "Client (null) sending CONNECT",
            "Client auto-1 received CONNACK (0)",
            "Client auto-1 sending PUBLISH (d0, q1, r0, m1, 't', ... (5 bytes))",
            "Client auto-1 received PUBACK (Mid: 1, RC:16)",
            "Client auto-1 sending DISCONNECT",
        ]
    );
}

#[tokio::test]
async fn v3_refusal_reports_the_connack_code() {
    let (port, _broker) = serve(ProtocolVersion::V3_1_1, |mut broker| async move {
        broker.read().await;
        broker.send(Packet::ConnAck(ConnAck::new(ReasonCode::NotAuthorized))).await;
    })
    .await;
    let err = Client::connect(options(port, &[]), None).await.unwrap_err();
    assert!(matches!(err, ConnectError::Refused { code: 5, v5: false }), "{err:?}");
}

#[tokio::test]
async fn connection_closed_before_connack_is_lost() {
    let (port, _broker) = serve(ProtocolVersion::V3_1_1, |mut broker| async move {
        broker.read().await;
    })
    .await;
    let err = Client::connect(options(port, &[]), None).await.unwrap_err();
    assert!(matches!(err, ConnectError::Lost), "{err:?}");
    assert_eq!(err.exit_code(), 7);
}

#[tokio::test]
async fn incoming_qos2_is_completed_before_delivery() {
    let (port, broker) = serve(ProtocolVersion::V3_1_1, |mut broker| async move {
        broker.read().await;
        broker.send(Packet::ConnAck(ConnAck::new(ReasonCode::Success))).await;
        let mut publish = Publish::new(TopicName::new("in").unwrap(), Bytes::from_static(b"x"));
        publish.qos = QoS::ExactlyOnce;
        publish.packet_id = mqtt_codec::PacketId::new(7);
        broker.send(Packet::Publish(publish)).await;
        assert!(matches!(broker.read().await, Some(Packet::PubRec(_))));
        broker.send(Packet::PubRel(ack(7, ReasonCode::Success))).await;
        assert!(matches!(broker.read().await, Some(Packet::PubComp(_))));
    })
    .await;
    let (hook, lines) = capture();
    let (mut client, _) = Client::connect(options(port, &["-i", "sub"]), Some(hook)).await.unwrap();
    let event = tokio::time::timeout(DEADLINE, client.next_event()).await.unwrap().unwrap();
    assert!(matches!(event, Event::Message(Message { qos: 2, mid: 7, .. })), "{event:?}");
    client.flush().await.unwrap();
    broker.await.unwrap();
    assert_eq!(
        lines.lock().unwrap()[2..],
        [
            "Client sub received PUBLISH (d0, q2, r0, m7, 'in', ... (1 bytes))",
            "Client sub sending PUBREC (m7, rc0)",
            "Client sub received PUBREL (Mid: 7)",
            "Client sub sending PUBCOMP (m7)",
        ]
    );
}
