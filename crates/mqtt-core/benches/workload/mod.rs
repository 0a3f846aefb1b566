//! Fixed per-message workloads of the broker core, shared by the `qos` benchmark and the
//! allocation test (`tests/alloc.rs`): fan-in 16→1 and 16 pairs at QoS 0 or 1, 64-byte
//! payloads, v3.1.1 clients as `culex-bench` connects them. One [`Workload::step`] is one
//! message: the PUBLISH in, its PUBACK to the publisher, the PUBLISH to the subscriber, every
//! output drained, and at QoS 1 the subscriber's PUBACK back (every `ACK_BATCH` steps, the
//! batch of them).

use std::time::Instant;

use bytes::Bytes;
use mqtt_codec::{
    Ack, Connect, MqttString, Packet, PacketId, ProtocolVersion, Publish, QoS, ReasonCode,
    Subscribe, SubscriptionOptions, TopicFilter, TopicName,
};
use mqtt_core::{Broker, Config, ConnId, Output, PeerInfo};

/// Publishing clients in every workload.
pub(crate) const PUBLISHERS: u64 = 16;

/// PUBACKs the subscribers hold back and then send together, in order, as they do when the
/// broker's runtime hands the core a batch of packets read meanwhile: 16 messages in flight
/// at fan-in, one per subscriber in pairs.
const ACK_BATCH: usize = 16;

/// The shape of a workload.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Shape {
    /// Every publisher on its own topic, one subscriber on `bench/#`.
    FanIn,
    /// Publisher `n` on `bench/n`, subscriber `n` on `bench/n` only.
    Pairs,
}

/// A connected broker and the packets one step feeds it.
pub(crate) struct Workload {
    broker: Broker,
    now: Instant,
    /// The PUBLISH each publisher sends (its packet id is bumped per message).
    publishes: Vec<Publish>,
    /// The next publisher to send.
    next: usize,
    /// PUBACKs the subscribers owe, gathered from one step's outputs (reused).
    owed: Vec<(ConnId, PacketId)>,
}

fn connect(broker: &mut Broker, conn: ConnId, now: Instant) {
    let peer =
        PeerInfo { address: "127.0.0.1".into(), port: 1, listener: 0, certificate_username: None };
    broker.handle_open(conn, peer, now);
    let id = MqttString::new(&format!("c{}", conn.0)).expect("a valid client id");
    let connect = Connect::new(ProtocolVersion::V3_1_1, id);
    broker.handle_packet(conn, Packet::Connect(Box::new(connect)), now);
}

fn subscribe(broker: &mut Broker, conn: ConnId, filter: &str, qos: QoS, now: Instant) {
    let filter = TopicFilter::new(filter).expect("a valid filter");
    let options = SubscriptionOptions { qos, ..SubscriptionOptions::default() };
    let subscribe = Subscribe {
        packet_id: PacketId::MIN,
        filters: vec![(filter, options)],
        properties: Default::default(),
    };
    broker.handle_packet(conn, Packet::Subscribe(subscribe), now);
}

impl Workload {
    /// Publishers are connections 0..16, subscribers 16.. (one for fan-in, 16 for pairs).
    pub(crate) fn new(shape: Shape, qos: QoS, now: Instant) -> Self {
        let mut broker = Broker::new(Config::default(), [1; 32]);
        let mut publishes = Vec::new();
        for n in 0..PUBLISHERS {
            connect(&mut broker, ConnId(n), now);
            let topic = TopicName::new(&format!("bench/{n}")).expect("a valid topic");
            let mut publish = Publish::new(topic, Bytes::from_static(&[0x5A; 64]));
            publish.qos = qos;
            publish.packet_id = (qos != QoS::AtMostOnce).then_some(PacketId::MIN);
            publishes.push(publish);
        }
        match shape {
            Shape::FanIn => {
                connect(&mut broker, ConnId(PUBLISHERS), now);
                subscribe(&mut broker, ConnId(PUBLISHERS), "bench/#", qos, now);
            }
            Shape::Pairs => {
                for n in 0..PUBLISHERS {
                    let conn = ConnId(PUBLISHERS + n);
                    connect(&mut broker, conn, now);
                    subscribe(&mut broker, conn, &format!("bench/{n}"), qos, now);
                }
            }
        }
        while broker.poll_output().is_some() {}
        Self { broker, now, publishes, next: 0, owed: Vec::with_capacity(ACK_BATCH + 1) }
    }

    /// One message through the broker, acknowledgements included. Returns the packets the
    /// broker sent.
    #[inline(never)]
    pub(crate) fn step(&mut self) -> usize {
        let n = self.next;
        self.next = (n + 1) % self.publishes.len();
        let publish = &mut self.publishes[n];
        if let Some(id) = publish.packet_id {
            publish.packet_id = PacketId::new(id.get() % u16::MAX + 1);
        }
        let packet = Packet::Publish(publish.clone());
        self.broker.handle_packet(ConnId(n as u64), packet, self.now);
        let mut sent = self.drain();
        if self.owed.len() >= ACK_BATCH {
            let mut owed = std::mem::take(&mut self.owed);
            for &(conn, packet_id) in &owed {
                let reason = ReasonCode::Success;
                let puback = Ack { packet_id, reason, properties: Default::default() };
                self.broker.handle_packet(conn, Packet::PubAck(puback), self.now);
            }
            owed.clear();
            self.owed = owed;
            sent += self.drain();
        }
        sent
    }

    /// Drains the outputs, noting the PUBACKs the subscribers owe.
    fn drain(&mut self) -> usize {
        let mut sent = 0;
        while let Some(output) = self.broker.poll_output() {
            if let Output::Send { conn, packet } = output {
                sent += 1;
                if let Packet::Publish(Publish { packet_id: Some(id), .. }) = packet {
                    self.owed.push((conn, id));
                }
            }
        }
        sent
    }
}
