//! Durable persistence, end to end: culex with `persistence true` (the journal on, as by
//! default) is killed with SIGKILL at random moments while numbered QoS 1 and QoS 2 messages
//! flood towards offline persistent subscribers (MQTT 3.1.1 and 5.0) and a retained topic
//! changes. After the restarts, every message whose acknowledgement the publisher received is
//! delivered, QoS 2 exactly once, in publishing order, and the retained topic holds at least
//! the last acknowledged value. With several routers, the publisher and the subscribers'
//! sessions live on different routers, and the router count changes at each restart. The clients are a small synchronous MQTT client over
//! `mqtt-codec`, so the test knows exactly which acknowledgements arrived.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use mqtt_codec::{
    Ack, Connect, MqttString, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS,
    ReasonCode, Subscribe, SubscriptionOptions, TopicFilter, TopicName,
};

use mqtt_core::shard_of;

use crate::support::{BrokerProcess, TempDir, our_bin};

/// One blocking MQTT connection (the journal's tests across shards use it too).
pub(crate) struct Mini {
    stream: TcpStream,
    version: ProtocolVersion,
    buf: BytesMut,
    next_id: u16,
}

impl Mini {
    /// Connects `client_id`; `persistent` keeps the session (v3 clean session 0, v5 an hour).
    pub(crate) fn connect(
        port: u16,
        client_id: &str,
        version: ProtocolVersion,
        persistent: bool,
    ) -> std::io::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut client = Self { stream, version, buf: BytesMut::new(), next_id: 0 };
        let id = MqttString::new(client_id).map_err(std::io::Error::other)?;
        let mut connect = Connect::new(version, id);
        connect.clean_start = !persistent;
        connect.keep_alive = 60;
        if persistent && version == ProtocolVersion::V5 {
            connect.properties.session_expiry_interval = Some(3600);
        }
        client.send(&Packet::Connect(Box::new(connect)))?;
        match client.read()? {
            Packet::ConnAck(ack) if ack.reason == ReasonCode::Success => Ok(client),
            other => Err(std::io::Error::other(format!("no CONNACK: {other:?}"))),
        }
    }

    fn send(&mut self, packet: &Packet) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        mqtt_codec::encode(packet, self.version, u32::MAX, &mut out)
            .map_err(std::io::Error::other)?;
        self.stream.write_all(&out)
    }

    fn read(&mut self) -> std::io::Result<Packet> {
        loop {
            if let Some(packet) = mqtt_codec::decode(&mut self.buf, self.version, u32::MAX)
                .map_err(std::io::Error::other)?
            {
                return Ok(packet);
            }
            let mut chunk = [0; 4096];
            let read = self.stream.read(&mut chunk)?;
            if read == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..read]);
        }
    }

    fn packet_id(&mut self) -> PacketId {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        PacketId::new(self.next_id).expect("never 0")
    }

    pub(crate) fn subscribe(&mut self, filter: &str, qos: QoS) -> std::io::Result<()> {
        let filter = TopicFilter::new(filter).map_err(std::io::Error::other)?;
        let packet_id = self.packet_id();
        let filters = vec![(filter, SubscriptionOptions::new(qos))];
        self.send(&Packet::Subscribe(Subscribe {
            packet_id,
            filters,
            properties: Properties::default(),
        }))?;
        match self.read()? {
            Packet::SubAck(_) => Ok(()),
            other => Err(std::io::Error::other(format!("no SUBACK: {other:?}"))),
        }
    }

    /// Publishes and completes the flow; `Ok` only once the broker acknowledged it (PUBACK,
    /// or PUBCOMP for QoS 2, after which the message is routed and stored).
    pub(crate) fn publish(
        &mut self,
        topic: &str,
        payload: String,
        qos: QoS,
        retain: bool,
    ) -> std::io::Result<()> {
        let packet_id = self.packet_id();
        self.send(&Packet::Publish(Publish {
            dup: false,
            qos,
            retain,
            topic: TopicName::new(topic).map_err(std::io::Error::other)?,
            packet_id: Some(packet_id),
            properties: Properties::default(),
            payload: Bytes::from(payload),
        }))?;
        match (qos, self.read()?) {
            (QoS::AtLeastOnce, Packet::PubAck(_)) => Ok(()),
            (QoS::ExactlyOnce, Packet::PubRec(_)) => {
                self.send(&Packet::PubRel(ack(packet_id)))?;
                match self.read()? {
                    Packet::PubComp(_) => Ok(()),
                    other => Err(std::io::Error::other(format!("no PUBCOMP: {other:?}"))),
                }
            }
            (_, other) => Err(std::io::Error::other(format!("unexpected {other:?}"))),
        }
    }

    /// Receives PUBLISHes until none comes for `quiet`, acknowledging each as a client does;
    /// their payloads and QoS in arrival order.
    pub(crate) fn drain(&mut self, quiet: Duration) -> Vec<(String, QoS)> {
        let _ = self.stream.set_read_timeout(Some(quiet));
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let Ok(packet) = self.read() else { break };
            match packet {
                Packet::Publish(publish) => {
                    let text = String::from_utf8_lossy(&publish.payload).into_owned();
                    let reply = match (publish.qos, publish.packet_id) {
                        (QoS::AtLeastOnce, Some(id)) => Some(Packet::PubAck(ack(id))),
                        (QoS::ExactlyOnce, Some(id)) => Some(Packet::PubRec(ack(id))),
                        _ => None,
                    };
                    got.push((text, publish.qos));
                    if let Some(reply) = reply {
                        let _ = self.send(&reply);
                    }
                }
                Packet::PubRel(rel) => {
                    let _ = self.send(&Packet::PubComp(ack(rel.packet_id)));
                }
                _ => {}
            }
        }
        got
    }
}

fn ack(packet_id: PacketId) -> Ack {
    Ack { packet_id, reason: ReasonCode::Success, properties: Properties::default() }
}

/// A small xorshift generator: the kill moments vary per run; the seed is printed on failure.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// culex on `port` with the journal in `dir` and no limit on queued messages.
pub(crate) fn config(port: u16, dir: &TempDir) -> String {
    format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nmax_queued_messages 0\n",
        dir.path().display()
    )
}

/// What the publisher got acknowledged in one run of the flood.
#[derive(Default)]
struct Acknowledged {
    messages: BTreeSet<u64>,
    last_retained: Option<u64>,
}

/// Publishes numbered messages from `first` on until the connection breaks (the broker was
/// killed); message `n` goes at QoS 2 when `n` is even, and every tenth also sets the
/// retained topic.
fn flood(port: u16, id: &str, first: u64, stop: &AtomicBool, acked: &mut Acknowledged) -> u64 {
    let Ok(mut publisher) = Mini::connect(port, id, ProtocolVersion::V3_1_1, false) else {
        return first;
    };
    let mut n = first;
    while !stop.load(Ordering::Relaxed) {
        let qos = if n % 2 == 0 { QoS::ExactlyOnce } else { QoS::AtLeastOnce };
        if publisher.publish("d/flood", format!("{n}"), qos, false).is_err() {
            return n + 1;
        }
        acked.messages.insert(n);
        if n % 10 == 0 {
            if publisher.publish("r/last", format!("{n}"), QoS::AtLeastOnce, true).is_err() {
                return n + 1;
            }
            acked.last_retained = Some(n);
        }
        n += 1;
    }
    n
}

#[test]
fn acknowledged_messages_survive_kill_9_at_random_moments() {
    kill_9_at_random_moments("", [1; 4], &Cast::named("s3", "s5", "flood"));
}

/// With a sync interval acknowledgements do not wait for the disk, but every record is handed
/// to the operating system at once: a crash of the process still loses nothing.
#[test]
fn with_a_sync_interval_acknowledged_messages_survive_kill_9_too() {
    let cast = Cast::named("s3", "s5", "flood");
    kill_9_at_random_moments("persistence_sync_interval 1\n", [1; 4], &cast);
}

/// With several routers, the publisher lives on another router than both subscribers' sessions
/// (at 2 and at 3 routers), so each acknowledgement waits for the other router's journal too,
/// and the retained topic for every router's. The router count changes at every restart
/// (2, 3, 1, 2): the stores are dealt out again each time.
#[test]
fn across_routers_acknowledged_messages_survive_kill_9_and_new_router_counts() {
    let on = |prefix: &str, shard: usize| {
        (0..)
            .map(|n| format!("{prefix}-{n}"))
            .find(|id| shard_of(id, 2) == shard && shard_of(id, 3) == shard)
            .unwrap_or_default()
    };
    let cast = Cast { s3: on("s3", 0), s5: on("s5", 0), publisher: on("flood", 1) };
    kill_9_at_random_moments("", [2, 3, 1, 2], &cast);
}

/// Each of `routers` routers keeps its own journal: the last one's is there.
fn expect_stores(dir: &TempDir, routers: usize) {
    if routers > 1 {
        let last = dir.path().join(format!("mosquitto.db.shard{}.journal", routers - 1));
        assert!(last.exists(), "{} routers: no {}", routers, last.display());
    }
}

/// The clients of a flood: the persistent subscribers (MQTT 3.1.1 at QoS 1, 5.0 at QoS 2) and
/// the publisher.
struct Cast {
    s3: String,
    s5: String,
    publisher: String,
}

impl Cast {
    fn named(s3: &str, s5: &str, publisher: &str) -> Self {
        Self { s3: s3.to_owned(), s5: s5.to_owned(), publisher: publisher.to_owned() }
    }

    fn subscribers(&self) -> [(&str, ProtocolVersion, QoS); 2] {
        [
            (&self.s3, ProtocolVersion::V3_1_1, QoS::AtLeastOnce),
            (&self.s5, ProtocolVersion::V5, QoS::ExactlyOnce),
        ]
    }
}

/// Floods, kills and restarts culex three times, with `extra` in its config and `routers[run]`
/// routers at its `run`th start, then checks what the persistent subscribers of `cast` and a
/// retained reader get.
fn kill_9_at_random_moments(extra: &str, routers: [usize; 4], cast: &Cast) {
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1;
    let mut rng = Rng(seed);
    let dir = TempDir::new("durable-kill");
    let mut broker = BrokerProcess::start_with(
        &our_bin("culex"),
        1,
        |ports| format!("{}{extra}routers {}\n", config(ports[0], &dir), routers[0]),
        &[],
    );
    expect_stores(&dir, routers[0]);
    let port = broker.ports[0];
    for (id, version, qos) in cast.subscribers() {
        let mut subscriber = Mini::connect(port, id, version, true).expect("subscriber connects");
        subscriber.subscribe("d/#", qos).expect("subscribes");
    }

    let mut acked = Acknowledged::default();
    let mut next = 1;
    for round in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let kill_after = Duration::from_millis(300 + rng.below(700));
        let flooding = {
            let stop = Arc::clone(&stop);
            let publisher = cast.publisher.clone();
            std::thread::spawn(move || {
                let mut acked = Acknowledged::default();
                let next = flood(port, &publisher, next, &stop, &mut acked);
                (acked, next)
            })
        };
        std::thread::sleep(kill_after);
        // SIGKILL mid-flood: no shutdown, no save.
        drop(broker);
        stop.store(true, Ordering::Relaxed);
        let (got, after) = flooding.join().expect("the publisher thread ends");
        assert!(!got.messages.is_empty(), "round {round} (seed {seed}): nothing was acknowledged");
        acked.messages.extend(got.messages);
        acked.last_retained = got.last_retained.or(acked.last_retained);
        next = after;
        broker = BrokerProcess::restart_on(&our_bin("culex"), &[port], |ports| {
            format!("{}{extra}routers {}\n", config(ports[0], &dir), routers[round + 1])
        });
        expect_stores(&dir, routers[round + 1]);
    }

    for (id, version, _) in cast.subscribers() {
        let mut subscriber = Mini::connect(port, id, version, true).expect("subscriber reconnects");
        let got = subscriber.drain(Duration::from_millis(1500));
        let numbers: Vec<u64> = got.iter().filter_map(|(text, _)| text.parse().ok()).collect();
        let received: BTreeSet<u64> = numbers.iter().copied().collect();
        let lost: Vec<&u64> = acked.messages.difference(&received).collect();
        assert!(
            lost.is_empty(),
            "{id} (seed {seed}) lost {} of {} acknowledged messages, the first {:?}",
            lost.len(),
            acked.messages.len(),
            &lost[..lost.len().min(10)]
        );
        // Exactly once at QoS 2 (s5 asked for QoS 2; even numbers were published at QoS 2).
        if version == ProtocolVersion::V5 {
            let twice: Vec<u64> = got
                .iter()
                .filter(|(_, qos)| *qos == QoS::ExactlyOnce)
                .filter_map(|(text, _)| text.parse::<u64>().ok())
                .filter(|n| numbers.iter().filter(|m| *m == n).count() > 1)
                .collect();
            let first = &twice[..twice.len().min(10)];
            assert!(twice.is_empty(), "{id} (seed {seed}) got QoS 2 messages twice: {first:?}");
        }
        // The publisher's order: first arrivals only ever go up.
        let mut seen = BTreeSet::new();
        let firsts: Vec<u64> = numbers.iter().copied().filter(|n| seen.insert(*n)).collect();
        assert!(
            firsts.windows(2).all(|w| w[0] < w[1]),
            "{id} (seed {seed}) out of order: {firsts:?}"
        );
    }
    let mut reader =
        Mini::connect(port, "reader", ProtocolVersion::V3_1_1, false).expect("connects");
    reader.subscribe("r/last", QoS::AtLeastOnce).expect("subscribes");
    let retained = reader.drain(Duration::from_millis(500));
    let value: Option<u64> = retained.first().and_then(|(text, _)| text.parse().ok());
    assert!(
        value >= acked.last_retained,
        "seed {seed}: retained {value:?}, last acknowledged {:?}",
        acked.last_retained
    );
    drop(broker);
}

#[test]
fn a_torn_journal_tail_is_dropped_and_the_broker_starts_with_what_was_acknowledged() {
    let dir = TempDir::new("durable-torn");
    let broker =
        BrokerProcess::start_with(&our_bin("culex"), 1, |ports| config(ports[0], &dir), &[]);
    let port = broker.ports[0];
    let mut subscriber = Mini::connect(port, "s", ProtocolVersion::V3_1_1, true).expect("connects");
    subscriber.subscribe("d/#", QoS::AtLeastOnce).expect("subscribes");
    drop(subscriber);
    let mut publisher = Mini::connect(port, "p", ProtocolVersion::V3_1_1, false).expect("connects");
    for n in 0..20 {
        publisher.publish("d/x", format!("{n}"), QoS::AtLeastOnce, false).expect("acknowledged");
    }
    drop(broker);
    // Half a record at the end, as a write cut short by a power cut leaves it.
    let journal = dir.path().join("mosquitto.db.journal");
    let mut bytes = std::fs::read(&journal).expect("the journal exists");
    assert!(!bytes.is_empty());
    bytes.extend_from_slice(&[0, 0, 0, 40, 1, 2, 3, 4, 5]);
    std::fs::write(&journal, &bytes).expect("writes");

    let broker =
        BrokerProcess::restart_on(&our_bin("culex"), &[port], |ports| config(ports[0], &dir));
    let logged = broker.wait_for_log(|line| line.contains("Dropped an incomplete record"));
    assert!(logged.contains("(9 bytes"), "{logged}");
    let mut subscriber = Mini::connect(port, "s", ProtocolVersion::V3_1_1, true).expect("connects");
    let got: Vec<String> =
        subscriber.drain(Duration::from_millis(800)).into_iter().map(|(text, _)| text).collect();
    let expected: Vec<String> = (0..20).map(|n| n.to_string()).collect();
    assert_eq!(got, expected);
}
