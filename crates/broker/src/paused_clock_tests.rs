//! The driver and connection tasks wired as `run_controlled` wires them, but over in-memory
//! streams (`tokio::io::duplex`) on tokio's paused clock: keep-alive expiry, the will it sends,
//! and keep-alives that hold, in virtual time. With nothing but in-memory streams the runtime
//! goes idle while the driver waits for its timer, so the paused clock jumps to the deadline at
//! once; over real sockets (`tests/tcp.rs`) it cannot, because the I/O driver keeps the
//! runtime from being idle.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use mqtt_core::{Broker, ConnId, PeerInfo};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::{Config, ListenerConfig, LogTypes};
use crate::connection::{Connection, ConnectionSlot, Shared, TestEnds};
use crate::driver::Driver;
use crate::event::DriverControl;
use crate::forward::Forwards;
use crate::log::Logger;
use crate::security::Security;
use crate::transport::Transport;

#[path = "../tests/support/raw.rs"]
mod raw;

use raw::{expect, expect_closed, field, framed, send};

/// Every wait on the broker has a deadline (virtual time: it costs nothing).
const DEADLINE: Duration = Duration::from_secs(300);

/// Like a WebSocket stream, an in-memory stream cannot tell readiness without reading: the
/// connection task drops its read buffer again when the read finds nothing.
impl Transport for DuplexStream {
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// An in-memory stream has no reset: dropping it ends it.
    fn reset_on_drop(&self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A driver with anonymous access on one listener, and what connection tasks share.
struct InMemoryBroker {
    shared: Arc<Shared>,
    control: mpsc::UnboundedSender<DriverControl>,
    _ends: TestEnds,
}

impl InMemoryBroker {
    fn start() -> Self {
        let config = Config {
            allow_anonymous: Some(true),
            listeners: vec![ListenerConfig::default()],
            ..Config::default()
        };
        let logger = Arc::new(Logger::new(LogTypes::NONE, false, false));
        let in_force: Vec<ListenerConfig> =
            config.listeners_in_force().into_iter().cloned().collect();
        let security = Security::load(&config, &in_force, &logger).unwrap();
        let broker = Broker::new(crate::core_config(&config, &security, &in_force), [1; 32]);
        let (events, queue) = mpsc::channel(crate::EVENT_CAPACITY);
        let (control, controls) = mpsc::unbounded_channel();
        let forwards = Forwards::mesh(1).remove(0);
        let driver = Driver::new(
            broker,
            security,
            None,
            None,
            None,
            events.clone(),
            forwards,
            Arc::clone(&logger),
        );
        tokio::spawn(driver.run(queue, controls));
        let (shared, ends) = Shared::for_tests(vec![events], logger);
        Self { shared, control, _ends: ends }
    }

    /// A new client connection: its task runs (the driver hears of it with its first packet);
    /// returns the client's end.
    async fn connect(&self) -> DuplexStream {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let conn = ConnId(self.shared.next_conn.fetch_add(1, Ordering::Relaxed));
        let peer = PeerInfo {
            address: "127.0.0.1".into(),
            port: 1,
            listener: 0,
            certificate_username: None,
        };
        let slot =
            ConnectionSlot::acquire(&self.shared.connections, &Arc::default(), None).unwrap();
        let connection = Connection::new(server, conn, peer, Arc::clone(&self.shared), slot);
        tokio::spawn(connection.task());
        client
    }
}

/// CONNECT v3.1.1, clean session, keep alive `keep_alive`, with a QoS 0 will if `will` has a
/// topic and payload.
fn connect_packet(client_id: &str, keep_alive: u16, will: Option<(&str, &[u8])>) -> Vec<u8> {
    let flags = if will.is_some() { 0x02 | 0x04 } else { 0x02 };
    let mut body = [&field(b"MQTT")[..], &[4, flags], &keep_alive.to_be_bytes()].concat();
    body.extend(field(client_id.as_bytes()));
    if let Some((topic, payload)) = will {
        body.extend(field(topic.as_bytes()));
        body.extend(field(payload));
    }
    framed(0x10, &body)
}

const CONNACK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
const PINGREQ: [u8; 2] = [0xc0, 0x00];
const PINGRESP: [u8; 2] = [0xd0, 0x00];

/// A connected client `client_id` with keep alive `keep_alive` and no will.
async fn connected(broker: &InMemoryBroker, client_id: &str, keep_alive: u16) -> DuplexStream {
    let mut stream = broker.connect().await;
    send(&mut stream, &connect_packet(client_id, keep_alive, None)).await;
    expect(&mut stream, &CONNACK).await;
    stream
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_dropped_after_one_and_a_half_keep_alives_and_its_will_sent() {
    let broker = InMemoryBroker::start();
    let mut watcher = connected(&broker, "watcher", 60).await;
    let subscribe = [&[0, 1][..], &field(b"dead/#"), &[0]].concat();
    send(&mut watcher, &framed(0x82, &subscribe)).await;
    expect(&mut watcher, &[0x90, 0x03, 0x00, 0x01, 0x00]).await;
    let mut victim = broker.connect().await;
    send(&mut victim, &connect_packet("victim", 1, Some(("dead/victim", b"bye")))).await;
    expect(&mut victim, &CONNACK).await;
    let started = Instant::now();
    // The driver's timer (from the core's poll_timeout) must fire with no traffic at all.
    expect(&mut watcher, &framed(0x30, &[&field(b"dead/victim")[..], b"bye"].concat())).await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1500), "not before 1.5 × keep alive: {waited:?}");
    assert!(waited < Duration::from_millis(1600), "not much after either: {waited:?}");
    expect_closed(&mut victim).await;
}

#[tokio::test(start_paused = true)]
async fn pings_within_the_keep_alive_hold_the_connection_for_an_hour() {
    let broker = InMemoryBroker::start();
    let mut client = connected(&broker, "pinger", 10).await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3600) {
        tokio::time::sleep(Duration::from_secs(9)).await;
        send(&mut client, &PINGREQ).await;
        expect(&mut client, &PINGRESP).await;
    }
}

#[tokio::test(start_paused = true)]
async fn keep_alive_zero_never_expires() {
    let broker = InMemoryBroker::start();
    let mut client = connected(&broker, "forever", 0).await;
    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    send(&mut client, &PINGREQ).await;
    expect(&mut client, &PINGRESP).await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_without_a_whole_packet_is_closed_at_the_connect_timeout() {
    let broker = InMemoryBroker::start();
    let mut silent = broker.connect().await;
    // Half a CONNECT: the driver has not heard of the connection, its task times it out.
    send(&mut silent, &[0x10, 0x0d, 0x00]).await;
    let started = Instant::now();
    expect_closed(&mut silent).await;
    let waited = started.elapsed();
    let timeout = mqtt_core::Config::default().connect_timeout;
    assert!(waited >= timeout, "not before the connect timeout: {waited:?}");
    assert!(waited < timeout + Duration::from_secs(1), "not much after either: {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_connection_without_a_packet_closes_when_the_drivers_stop() {
    let broker = InMemoryBroker::start();
    let mut silent = broker.connect().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker.control.send(DriverControl::Shutdown).unwrap();
    let started = Instant::now();
    expect_closed(&mut silent).await;
    assert!(started.elapsed() < Duration::from_secs(2), "closed at once");
}
