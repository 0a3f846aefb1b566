//! The broker library over real TCP on 127.0.0.1:0 with raw packet bytes: CONNACK bytes per
//! version, routing between two sockets, takeover, protocol errors, size and connection limits,
//! and shutdown. Every network wait has a deadline. Keep-alive expiry is tested in virtual time
//! over in-memory streams instead (`src/paused_clock_tests.rs`): real sockets keep tokio's
//! paused clock from advancing on its own.

use std::sync::Arc;
use std::time::Duration;

use culex_broker::config::{Config, ListenerConfig, LogTypes};
use culex_broker::listener::Listener;
use culex_broker::log::Logger;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

#[path = "support/raw.rs"]
mod raw;

use raw::{expect, expect_closed, field, framed, send};

const DEADLINE: Duration = Duration::from_secs(5);

/// A v3.1.1 CONNACK accepting the connection, no session present.
const CONNACK_ACCEPTED: [u8; 4] = [0x20, 0x02, 0x00, 0x00];

/// A broker running in this process; dropping `stop` shuts it down.
struct TestBroker {
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestBroker {
    async fn start(config: Config, settings: ListenerConfig) -> Self {
        let listener =
            Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap().with_settings(settings);
        let port = listener.local_addr().unwrap().port();
        let logger = Arc::new(Logger::new(LogTypes::NONE, false, false));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(culex_broker::run(vec![listener], config, logger, async move {
            let _ = stopped.await;
        }));
        Self { port, stop: Some(stop), task }
    }

    async fn anonymous() -> Self {
        let config = Config { allow_anonymous: Some(true), ..listener_config() };
        Self::start(config, ListenerConfig::default()).await
    }

    async fn connect(&self) -> TcpStream {
        timeout(DEADLINE, TcpStream::connect(("127.0.0.1", self.port))).await.unwrap().unwrap()
    }

    /// A new MQTT 3.1.1 client `client_id` that the broker accepted.
    async fn connected(&self, client_id: &str) -> TcpStream {
        let mut client = self.connect().await;
        send(&mut client, &connect_packet(client_id, 4)).await;
        expect(&mut client, &CONNACK_ACCEPTED).await;
        client
    }

    /// A new MQTT 3.1.1 client `client_id` subscribed to `filter` at QoS 0.
    async fn subscribed(&self, client_id: &str, filter: &str) -> TcpStream {
        let mut client = self.connected(client_id).await;
        send(&mut client, &subscribe_packet(filter, 0)).await;
        expect(&mut client, &[0x90, 0x03, 0x00, 0x01, 0x00]).await;
        client
    }

    /// Sends a CONNECT at protocol `level` and checks the broker answers with return code
    /// `code`, then closes the connection.
    async fn refuses(&self, client_id: &str, level: u8, code: u8) {
        let mut client = self.connect().await;
        send(&mut client, &connect_packet(client_id, level)).await;
        expect(&mut client, &[0x20, 0x02, 0x00, code]).await;
        expect_closed(&mut client).await;
    }

    async fn shutdown(mut self) {
        drop(self.stop.take());
        timeout(DEADLINE, &mut self.task)
            .await
            .expect("run returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

/// A configuration with one explicit listener (so not local-only mode).
fn listener_config() -> Config {
    Config { listeners: vec![ListenerConfig::default()], ..Config::default() }
}

/// CONNECT for MQTT 3.1.1 (level 4) or 5, clean start, keep alive 60.
fn connect_packet(client_id: &str, level: u8) -> Vec<u8> {
    let mut body = [&field(b"MQTT")[..], &[level, 0x02, 0, 60]].concat();
    if level == 5 {
        body.push(0); // no properties
    }
    body.extend(field(client_id.as_bytes()));
    framed(0x10, &body)
}

fn subscribe_packet(filter: &str, qos: u8) -> Vec<u8> {
    let body = [&[0, 1][..], &field(filter.as_bytes()), &[qos]].concat();
    framed(0x82, &body)
}

fn publish_packet(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = field(topic.as_bytes());
    body.extend_from_slice(payload);
    framed(0x30, &body)
}

#[tokio::test]
async fn v311_connect_gets_the_plain_connack() {
    let broker = TestBroker::anonymous().await;
    let _client = broker.connected("raw311").await;
    broker.shutdown().await;
}

#[tokio::test]
async fn v5_connack_carries_mosquittos_default_properties() {
    let broker = TestBroker::anonymous().await;
    let mut client = broker.connect().await;
    send(&mut client, &connect_packet("raw5", 5)).await;
    // Mosquitto 2.0.11 sends `20 09 00 00 06 22 00 0a 21 00 14`: topic alias maximum 10 and
    // receive maximum 20. Property order is free; ours follows the property ids.
    let mut got = [0; 11];
    timeout(DEADLINE, client.read_exact(&mut got)).await.unwrap().unwrap();
    assert_eq!(got[..5], [0x20, 0x09, 0x00, 0x00, 0x06]);
    let mut properties = [&got[5..8], &got[8..11]];
    properties.sort();
    assert_eq!(properties, [&[0x21, 0x00, 0x14][..], &[0x22, 0x00, 0x0a][..]]);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_publish_reaches_a_subscriber_on_another_socket() {
    let broker = TestBroker::anonymous().await;
    let mut sub = broker.subscribed("rawsub", "raw/#").await;
    let mut publisher = broker.connect().await;
    // CONNECT and PUBLISH in one write: the connection decodes both from one read.
    let mut bytes = connect_packet("rawpub", 4);
    bytes.extend(publish_packet("raw/t", b"hi"));
    send(&mut publisher, &bytes).await;
    expect(&mut publisher, &CONNACK_ACCEPTED).await;
    expect(&mut sub, &publish_packet("raw/t", b"hi")).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn many_publishes_in_one_write_all_arrive_in_order() {
    let broker = TestBroker::anonymous().await;
    let mut sub = broker.subscribed("batchsub", "batch").await;
    let mut publisher = broker.connect().await;
    let mut bytes = connect_packet("batchpub", 4);
    let mut wanted = Vec::new();
    for n in 0..500u16 {
        let packet = publish_packet("batch", &n.to_be_bytes());
        bytes.extend(&packet);
        wanted.extend(packet);
    }
    send(&mut publisher, &bytes).await;
    expect(&mut sub, &wanted).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_second_connection_with_the_same_id_takes_over() {
    let broker = TestBroker::anonymous().await;
    let mut first = broker.connected("same").await;
    let _second = broker.connected("same").await;
    expect_closed(&mut first).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_first_packet_that_is_not_connect_closes_the_connection() {
    let broker = TestBroker::anonymous().await;
    let mut client = broker.connect().await;
    send(&mut client, &publish_packet("t", b"x")).await;
    expect_closed(&mut client).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn an_unknown_protocol_level_gets_connack_1() {
    let broker = TestBroker::anonymous().await;
    broker.refuses("badlevel", 9, 0x01).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn anonymous_clients_are_refused_when_a_listener_is_configured() {
    let broker = TestBroker::start(listener_config(), ListenerConfig::default()).await;
    broker.refuses("anon", 4, 0x05).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn packets_above_max_packet_size_disconnect() {
    let config = Config { allow_anonymous: Some(true), max_packet_size: 100, ..listener_config() };
    let broker = TestBroker::start(config, ListenerConfig::default()).await;
    let mut client = broker.connected("big").await;
    send(&mut client, &publish_packet("t", &[0; 200])).await;
    expect_closed(&mut client).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn max_connections_closes_the_extra_connection() {
    let config = Config { allow_anonymous: Some(true), ..listener_config() };
    let settings = ListenerConfig { max_connections: Some(1), ..ListenerConfig::default() };
    let broker = TestBroker::start(config, settings).await;
    let first = broker.connected("one").await;
    let mut second = broker.connect().await;
    expect_closed(&mut second).await;
    drop(first);
    broker.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_clients_and_returns() {
    let broker = TestBroker::anonymous().await;
    let mut client = broker.connected("stay").await;
    broker.shutdown().await;
    expect_closed(&mut client).await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_cut_off_without_hurting_others() {
    // Tiny messages to a subscriber that never reads fill its socket, then its outbox; the
    // publisher and another subscriber keep going.
    let broker = TestBroker::anonymous().await;
    let _stuck = broker.subscribed("stuck", "flood").await;
    let mut reader = broker.subscribed("reader", "flood").await;
    let mut publisher = broker.connected("flooder").await;
    let packet = publish_packet("flood", &[7; 1000]);
    let burst: Vec<u8> = packet.iter().copied().cycle().take(packet.len() * 2000).collect();
    for _ in 0..5 {
        send(&mut publisher, &burst).await;
        let mut got = vec![0; burst.len()];
        timeout(DEADLINE, reader.read_exact(&mut got)).await.expect("the reader keeps up").unwrap();
    }
    broker.shutdown().await;
}
