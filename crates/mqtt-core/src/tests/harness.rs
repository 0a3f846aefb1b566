//! `Harness`: drives a `Broker` with a fake clock and named in-memory clients, capturing what
//! each client receives, so broker tests read like stories and run in microseconds.
//!
//! [`Harness::sharded`] runs N shards in one thread as the runtime does on N cores: a
//! connection reaches a shard with its first packet (the CONNECT's shard from
//! `shard_for_connect`), and what shards forward each other is delivered after every step,
//! in a fixed order (FIFO per pair of shards), until nothing is left.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mqtt_codec::{
    Ack, ConnAck, Connect, Disconnect, MqttString, Packet, PacketId, Properties, ProtocolVersion,
    Publish, QoS, ReasonCode, RetainHandling, SubAck, Subscribe, SubscriptionOptions, TopicFilter,
    TopicName, Unsubscribe, Will,
};

use crate::{
    Broker, CloseCause, Config, ConnId, DisconnectReason, LogEvent, Output, PeerInfo, ShardId,
    ShardItem, WallClock, shard_for_connect,
};

/// The Unix time in seconds that the harness's wall clock reads at its fake clock's start.
pub(crate) const EPOCH_UNIX: u64 = 1_800_000_000;

/// What one in-memory client has seen.
#[derive(Debug, Default)]
struct ClientLog {
    version: Option<ProtocolVersion>,
    received: Vec<Packet>,
    closed: Option<DisconnectReason>,
    auto_ack: bool,
    next_packet_id: u16,
}

/// What the harness notes of an item one shard forwarded to another. Not the item itself: a
/// message kept here would stay charged to `memory_limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Forwarded {
    pub(crate) from: usize,
    pub(crate) to: usize,
    /// For a message: whether it goes to the plain subscribers there, and whether it carries
    /// a retained update.
    pub(crate) publish: Option<(bool, bool)>,
    /// Its part in acknowledgements that wait for durability across shards.
    pub(crate) durable: Durable,
}

/// A forwarded item's part in durability requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durable {
    /// None.
    No,
    /// A message with a request.
    Asks,
    /// An answer, with its `hops` and `more`.
    Answers(usize, usize),
}

impl Forwarded {
    fn of(from: usize, to: usize, item: &ShardItem) -> Self {
        use crate::shard_item::Item;
        let (mut publish, mut durable) = (None, Durable::No);
        match &item.0 {
            Item::Publish { plain, version, durable: request, .. } => {
                publish = Some((*plain, version.is_some()));
                if request.is_some() {
                    durable = Durable::Asks;
                }
            }
            Item::Durable { hops, more, .. } => durable = Durable::Answers(*hops, *more),
            _ => {}
        }
        Self { from, to, publish, durable }
    }
}

/// A broker (or N shards), a fake clock and the clients talking to it.
pub(crate) struct Harness {
    /// The broker, or shard 0 of a sharded harness.
    pub(crate) broker: Broker,
    /// Shards 1 to N-1 of a sharded harness; empty otherwise.
    others: Vec<Broker>,
    /// The shard each connection was placed on (sharded harness only).
    placed: BTreeMap<ConnId, usize>,
    /// Connections opened but not yet given to a shard, and when: the runtime defers
    /// `handle_open` until the first packet says which shard, or `connect_timeout` passes
    /// (sharded harness only).
    unplaced: BTreeMap<ConnId, (PeerInfo, Instant)>,
    pub(crate) now: Instant,
    /// What the wall clock read when the fake clock started ([`EPOCH_UNIX`]).
    wall_clock: WallClock,
    next_conn: u64,
    clients: BTreeMap<ConnId, ClientLog>,
    /// Every log event, in order.
    pub(crate) logs: Vec<LogEvent>,
    /// `Output::Authenticate` requests: connection, username, password, listener.
    pub(crate) auth_requests: Vec<(ConnId, String, Option<Bytes>, usize)>,
    /// The listener that connections opened from now on arrive through.
    pub(crate) listener: usize,
    /// The certificate username of connections opened from now on (a TLS listener with
    /// `use_identity_as_username`).
    pub(crate) certificate_username: Option<crate::CertificateUsername>,
    /// Every `Output::Journal` change, in order.
    pub(crate) journal: Vec<crate::snapshot::journal::Change>,
    /// The same changes by shard (each shard has a journal of its own), indexed by shard.
    pub(crate) shard_journals: Vec<Vec<crate::snapshot::journal::Change>>,
    /// Every item a shard forwarded, in order.
    pub(crate) forwarded: Vec<Forwarded>,
    /// While set ([`Harness::delay_forwards`]), what shards forward waits here, in order,
    /// until [`Harness::deliver_forwards`].
    in_transit: Option<VecDeque<(usize, usize, ShardItem)>>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

/// A CONNECT under construction, with readable setters.
pub(crate) struct ConnectBuilder(pub(crate) Connect);

impl ConnectBuilder {
    pub(crate) fn version(&mut self, version: ProtocolVersion) -> &mut Self {
        self.0.protocol = version;
        self
    }
    pub(crate) fn v5(&mut self) -> &mut Self {
        self.version(ProtocolVersion::V5)
    }
    pub(crate) fn keep_alive_secs(&mut self, secs: u16) -> &mut Self {
        self.0.keep_alive = secs;
        self
    }
    pub(crate) fn clean(&mut self, clean: bool) -> &mut Self {
        self.0.clean_start = clean;
        self
    }
    pub(crate) fn session_expiry(&mut self, secs: u32) -> &mut Self {
        self.0.properties.session_expiry_interval = Some(secs);
        self
    }
    pub(crate) fn will(&mut self, topic: &str, payload: &str) -> &mut Self {
        self.0.will = Some(Will {
            topic: topic_name(topic),
            payload: Bytes::copy_from_slice(payload.as_bytes()),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Properties::default(),
        });
        self
    }
    pub(crate) fn will_delay(&mut self, secs: u32) -> &mut Self {
        if let Some(will) = &mut self.0.will {
            will.properties.will_delay_interval = Some(secs);
        }
        self
    }
    pub(crate) fn will_expiry(&mut self, secs: u32) -> &mut Self {
        if let Some(will) = &mut self.0.will {
            will.properties.message_expiry_interval = Some(secs);
        }
        self
    }
    pub(crate) fn will_retain(&mut self) -> &mut Self {
        if let Some(will) = &mut self.0.will {
            will.retain = true;
        }
        self
    }
    pub(crate) fn username(&mut self, name: &str) -> &mut Self {
        self.0.username = Some(mqtt_string(name));
        self
    }
    pub(crate) fn password(&mut self, password: &str) -> &mut Self {
        self.0.password = Some(Bytes::copy_from_slice(password.as_bytes()));
        self
    }
    pub(crate) fn receive_maximum(&mut self, max: u16) -> &mut Self {
        self.0.properties.receive_maximum = Some(max);
        self
    }
    pub(crate) fn max_packet_size(&mut self, max: u32) -> &mut Self {
        self.0.properties.maximum_packet_size = Some(max);
        self
    }
    pub(crate) fn topic_alias_maximum(&mut self, max: u16) -> &mut Self {
        self.0.properties.topic_alias_maximum = Some(max);
        self
    }
    pub(crate) fn properties(&mut self) -> &mut Properties {
        &mut self.0.properties
    }
}

pub(crate) fn mqtt_string(s: &str) -> MqttString {
    MqttString::new(s).expect("test strings are valid")
}

pub(crate) fn topic_name(s: &str) -> TopicName {
    TopicName::new(s).expect("test topics are valid")
}

pub(crate) fn topic_filter(s: &str) -> TopicFilter {
    TopicFilter::new(s).expect("test filters are valid")
}

pub(crate) fn packet_id(id: u16) -> PacketId {
    PacketId::new(id).expect("test packet ids are not 0")
}

/// Subscription options with everything but QoS at its default.
pub(crate) fn options(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        no_local: false,
        retain_as_published: false,
        retain_handling: RetainHandling::SendAtSubscribe,
    }
}

/// A PUBLISH with no properties.
pub(crate) fn publish_packet(
    topic: &str,
    payload: &str,
    qos: QoS,
    retain: bool,
    id: Option<u16>,
) -> Publish {
    Publish {
        dup: false,
        qos,
        retain,
        topic: topic_name(topic),
        packet_id: id.map(packet_id),
        properties: Properties::default(),
        payload: Bytes::copy_from_slice(payload.as_bytes()),
    }
}

/// `publish` with a Message Expiry Interval of `secs`, as a packet to send.
pub(crate) fn expiring(mut publish: Publish, secs: u32) -> Packet {
    publish.properties.message_expiry_interval = Some(secs);
    Packet::Publish(publish)
}

/// A successful acknowledgement of packet `id`.
pub(crate) fn ack(id: u16) -> Ack {
    ack_with(id, ReasonCode::Success)
}

/// An acknowledgement of packet `id` with `reason` and no properties.
pub(crate) fn ack_with(id: u16, reason: ReasonCode) -> Ack {
    Ack { packet_id: packet_id(id), reason, properties: Properties::default() }
}

/// The one real instant tests start their fake clocks from; time then only moves when a test
/// says so.
pub(crate) fn epoch() -> Instant {
    #[expect(clippy::disallowed_methods, reason = "the fake clock needs one real starting point")]
    Instant::now()
}

impl Harness {
    pub(crate) fn new(config: Config) -> Self {
        let now = epoch();
        let mut broker = Broker::new(config, [1; 32]);
        let wall_clock = WallClock { at: now, since_epoch: Duration::from_secs(EPOCH_UNIX) };
        broker.set_wall_clock(wall_clock);
        Self {
            broker,
            others: Vec::new(),
            placed: BTreeMap::new(),
            unplaced: BTreeMap::new(),
            now,
            wall_clock,
            next_conn: 0,
            clients: BTreeMap::new(),
            logs: Vec::new(),
            auth_requests: Vec::new(),
            listener: 0,
            certificate_username: None,
            journal: Vec::new(),
            shard_journals: Vec::new(),
            forwarded: Vec::new(),
            in_transit: None,
        }
    }

    /// `count` shards of a broker with `config`, each seeded differently.
    pub(crate) fn sharded(config: Config, count: usize) -> Self {
        let mut harness = Self::new(config.clone());
        let shard = |index| ShardId { index, count };
        harness.broker = Broker::new_shard(config.clone(), [1; 32], shard(0));
        harness.others = (1..count)
            .map(|index| {
                let seed = [u8::try_from(index + 1).expect("few shards"); 32];
                Broker::new_shard(config.clone(), seed, shard(index))
            })
            .collect();
        let limits = crate::SharedLimits::new(count);
        for broker in std::iter::once(&mut harness.broker).chain(&mut harness.others) {
            broker.set_wall_clock(harness.wall_clock);
            broker.share_limits(&limits);
        }
        harness
    }

    /// How many shards run (1 unless sharded).
    pub(crate) fn shard_count(&self) -> usize {
        1 + self.others.len()
    }

    /// Shard `index` (0 is `self.broker`).
    pub(crate) fn shard(&self, index: usize) -> &Broker {
        if index == 0 { &self.broker } else { &self.others[index - 1] }
    }

    fn shard_mut(&mut self, index: usize) -> &mut Broker {
        if index == 0 { &mut self.broker } else { &mut self.others[index - 1] }
    }

    /// The shard `conn` was placed on, if it was.
    pub(crate) fn shard_of_conn(&self, conn: ConnId) -> Option<usize> {
        if self.others.is_empty() { Some(0) } else { self.placed.get(&conn).copied() }
    }

    /// The broker that owns `conn`; a connection not placed yet goes to the shard its first
    /// packet chooses (`shard_for_connect` for a CONNECT, else its own, `conn % count`).
    fn broker_for(&mut self, conn: ConnId, first: Option<&Packet>) -> &mut Broker {
        if self.others.is_empty() {
            return &mut self.broker;
        }
        if let Some((peer, accepted)) = self.unplaced.remove(&conn) {
            let count = self.shard_count();
            let shard = match first {
                Some(Packet::Connect(connect)) => {
                    shard_for_connect(connect, &peer, self.broker.config(), conn, count)
                }
                _ => usize::try_from(conn.0).expect("small ids") % count,
            };
            self.placed.insert(conn, shard);
            // Opened as of when it was accepted: `connect_timeout` counts from there.
            self.shard_mut(shard).handle_open(conn, peer, accepted);
        }
        let shard = self.placed.get(&conn).copied().unwrap_or(0);
        self.shard_mut(shard)
    }

    /// Opens a connection that has not sent anything yet.
    pub(crate) fn open(&mut self) -> ConnId {
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        self.clients.insert(conn, ClientLog::default());
        let peer = PeerInfo {
            address: "127.0.0.1".into(),
            port: 40000,
            listener: self.listener,
            certificate_username: self.certificate_username.clone().map(Box::new),
        };
        if self.others.is_empty() {
            self.broker.handle_open(conn, peer, self.now);
        } else {
            self.unplaced.insert(conn, (peer, self.now));
        }
        self.pump();
        conn
    }

    /// The CONNECT a client named `id` sends by default: v3.1.1, clean, keep alive 60.
    pub(crate) fn connect_packet(id: &str) -> ConnectBuilder {
        let mut connect = Connect {
            protocol: ProtocolVersion::V3_1_1,
            clean_start: true,
            keep_alive: 60,
            client_id: mqtt_string(id),
            will: None,
            username: None,
            password: None,
            properties: Properties::default(),
            bridge: false,
        };
        connect.clean_start = true;
        ConnectBuilder(connect)
    }

    /// Connects `id` with the default CONNECT and checks it was accepted.
    pub(crate) fn connect(&mut self, id: &str) -> ConnId {
        self.connect_with(id, |c| c)
    }

    /// Connects `id` with an MQTT 5 CONNECT and checks it was accepted.
    pub(crate) fn connect_v5(&mut self, id: &str) -> ConnId {
        self.connect_with(id, |c| c.v5())
    }

    /// Connects `id` without clean session (3.1.1) and checks it was accepted.
    pub(crate) fn connect_persistent(&mut self, id: &str) -> ConnId {
        self.connect_with(id, |c| c.clean(false))
    }

    /// Reconnects persistent client `id` and checks that its session was resumed.
    pub(crate) fn reconnect_persistent(&mut self, id: &str) -> ConnId {
        let conn = self.try_connect_with(id, |c| c.clean(false));
        assert!(self.connack(conn).session_present, "session of {id:?} resumed");
        conn
    }

    /// Leaves the new persistent client `id`, subscribed to `t` at QoS 2, with two messages
    /// in flight: "a" (QoS 1) unacknowledged and "b" (QoS 2) answered with PUBREC, so the
    /// broker waits for its PUBCOMP. Returns the client and the two PUBLISHes it got.
    pub(crate) fn two_in_flight(&mut self, id: &str) -> (ConnId, Vec<Publish>) {
        let sub = self.connect_persistent(id);
        self.subscribe(sub, "t", QoS::ExactlyOnce);
        let publisher = self.connect("pub");
        self.publish_qos(publisher, "t", "a", QoS::AtLeastOnce);
        self.publish_qos(publisher, "t", "b", QoS::ExactlyOnce);
        self.send(publisher, Packet::PubRel(ack(2)));
        let sent = self.take_publishes(sub);
        assert_eq!(sent.len(), 2);
        let second = sent[1].packet_id.expect("QoS 2").get();
        self.send(sub, Packet::PubRec(ack(second)));
        (sub, sent)
    }

    /// Connects `id` with the default CONNECT and subscribes it to `filter` at `qos`.
    pub(crate) fn subscriber(&mut self, id: &str, filter: &str, qos: QoS) -> ConnId {
        let conn = self.connect(id);
        self.subscribe(conn, filter, qos);
        conn
    }

    /// Connects `id` with a persistent session, subscribes it to `filter` at `qos` and
    /// disconnects it: messages for `filter` then queue in its session.
    pub(crate) fn offline_subscriber(&mut self, id: &str, filter: &str, qos: QoS) -> ConnId {
        let conn = self.connect_persistent(id);
        self.subscribe(conn, filter, qos);
        self.disconnect(conn);
        conn
    }

    /// Connects `id` with a customised CONNECT and checks it was accepted.
    pub(crate) fn connect_with(
        &mut self,
        id: &str,
        customise: impl FnOnce(&mut ConnectBuilder) -> &mut ConnectBuilder,
    ) -> ConnId {
        let conn = self.try_connect_with(id, customise);
        let connack = self.connack(conn);
        assert_eq!(connack.reason, ReasonCode::Success, "CONNECT of {id:?} refused");
        conn
    }

    /// Opens a connection and sends a customised CONNECT, whatever the answer.
    pub(crate) fn try_connect_with(
        &mut self,
        id: &str,
        customise: impl FnOnce(&mut ConnectBuilder) -> &mut ConnectBuilder,
    ) -> ConnId {
        let mut builder = Self::connect_packet(id);
        customise(&mut builder);
        let conn = self.open();
        if let Some(client) = self.clients.get_mut(&conn) {
            client.version = Some(builder.0.protocol);
        }
        self.send(conn, Packet::Connect(Box::new(builder.0)));
        conn
    }

    /// The CONNACK `conn` received (the first packet), without removing other packets.
    pub(crate) fn connack(&mut self, conn: ConnId) -> ConnAck {
        let client = self.clients.get_mut(&conn).expect("known client");
        let at = client.received.iter().position(|p| matches!(p, Packet::ConnAck(_)));
        match at.map(|at| client.received.remove(at)) {
            Some(Packet::ConnAck(ack)) => ack,
            _ => panic!("no CONNACK for {conn:?}; got {:?}", client.received),
        }
    }

    /// Delivers `packet` from `conn` to the broker and runs the outputs.
    pub(crate) fn send(&mut self, conn: ConnId, packet: Packet) {
        let now = self.now;
        self.broker_for(conn, Some(&packet)).handle_packet(conn, packet, now);
        self.pump();
    }

    /// Delivers every packet to its broker before running any output, as shards running at
    /// the same time do: nothing one forwards reaches another before all are handled. The
    /// fake clock moves on by `spacing` after each packet (no timer fires meanwhile).
    pub(crate) fn send_at_once(&mut self, packets: Vec<(ConnId, Packet)>, spacing: Duration) {
        for (conn, packet) in packets {
            let now = self.now;
            self.broker_for(conn, Some(&packet)).handle_packet(conn, packet, now);
            self.now += spacing;
        }
        self.pump();
    }

    /// The socket of `conn` dies without DISCONNECT.
    pub(crate) fn kill(&mut self, conn: ConnId) {
        let now = self.now;
        self.broker_for(conn, None).handle_closed(conn, CloseCause::PeerClosed, now);
        self.pump();
    }

    /// A normal DISCONNECT (reason 0, no properties).
    pub(crate) fn disconnect(&mut self, conn: ConnId) {
        self.disconnect_with(conn, ReasonCode::Success, Properties::default());
    }

    pub(crate) fn disconnect_with(
        &mut self,
        conn: ConnId,
        reason: ReasonCode,
        properties: Properties,
    ) {
        self.send(conn, Packet::Disconnect(Disconnect { reason, properties }));
    }

    /// Makes `conn` acknowledge every QoS 1/2 message it receives, as a well-behaved client.
    pub(crate) fn auto_ack(&mut self, conn: ConnId) {
        if let Some(client) = self.clients.get_mut(&conn) {
            client.auto_ack = true;
        }
    }

    /// SUBSCRIBE to one filter; returns the SUBACK codes.
    pub(crate) fn subscribe(&mut self, conn: ConnId, filter: &str, qos: QoS) -> Vec<ReasonCode> {
        self.subscribe_with(conn, &[(filter, options(qos))], Properties::default())
    }

    /// SUBSCRIBE with full options; returns the SUBACK codes.
    pub(crate) fn subscribe_with(
        &mut self,
        conn: ConnId,
        filters: &[(&str, SubscriptionOptions)],
        properties: Properties,
    ) -> Vec<ReasonCode> {
        let id = self.next_packet_id(conn);
        let filters = filters.iter().map(|(f, o)| (topic_filter(f), *o)).collect();
        self.send(
            conn,
            Packet::Subscribe(Subscribe { packet_id: packet_id(id), filters, properties }),
        );
        let client = self.clients.get_mut(&conn).expect("known client");
        let at = client.received.iter().position(|p| matches!(p, Packet::SubAck(_)));
        match at.map(|at| client.received.remove(at)) {
            Some(Packet::SubAck(SubAck { packet_id: got, reasons, .. })) => {
                assert_eq!(got.get(), id, "SUBACK answers the SUBSCRIBE");
                reasons
            }
            _ => Vec::new(),
        }
    }

    /// UNSUBSCRIBE from one filter; returns the UNSUBACK codes.
    pub(crate) fn unsubscribe(&mut self, conn: ConnId, filter: &str) -> Vec<ReasonCode> {
        let id = self.next_packet_id(conn);
        let unsubscribe = Unsubscribe {
            packet_id: packet_id(id),
            filters: vec![topic_filter(filter)],
            properties: Properties::default(),
        };
        self.send(conn, Packet::Unsubscribe(unsubscribe));
        let client = self.clients.get_mut(&conn).expect("known client");
        let at = client.received.iter().position(|p| matches!(p, Packet::UnsubAck(_)));
        match at.map(|at| client.received.remove(at)) {
            Some(Packet::UnsubAck(unsuback)) => unsuback.reasons,
            other => panic!("expected UNSUBACK, got {other:?}"),
        }
    }

    /// PUBLISH at QoS 0.
    pub(crate) fn publish(&mut self, conn: ConnId, topic: &str, payload: &str) {
        self.send(
            conn,
            Packet::Publish(publish_packet(topic, payload, QoS::AtMostOnce, false, None)),
        );
    }

    /// PUBLISH a retained message at QoS 0.
    pub(crate) fn publish_retained(&mut self, conn: ConnId, topic: &str, payload: &str) {
        self.send(
            conn,
            Packet::Publish(publish_packet(topic, payload, QoS::AtMostOnce, true, None)),
        );
    }

    /// PUBLISH at `qos` with the next packet id; returns that id (0 for QoS 0).
    pub(crate) fn publish_qos(
        &mut self,
        conn: ConnId,
        topic: &str,
        payload: &str,
        qos: QoS,
    ) -> u16 {
        let id = if qos == QoS::AtMostOnce { 0 } else { self.next_packet_id(conn) };
        let packet = publish_packet(topic, payload, qos, false, (id != 0).then_some(id));
        self.send(conn, Packet::Publish(packet));
        id
    }

    fn next_packet_id(&mut self, conn: ConnId) -> u16 {
        let client = self.clients.get_mut(&conn).expect("known client");
        client.next_packet_id = client.next_packet_id.wrapping_add(1).max(1);
        client.next_packet_id
    }

    /// Removes and returns everything `conn` received so far.
    pub(crate) fn take(&mut self, conn: ConnId) -> Vec<Packet> {
        std::mem::take(&mut self.clients.get_mut(&conn).expect("known client").received)
    }

    /// Removes received PUBLISHes of `conn` and returns them.
    pub(crate) fn take_publishes(&mut self, conn: ConnId) -> Vec<Publish> {
        let client = self.clients.get_mut(&conn).expect("known client");
        let mut publishes = Vec::new();
        client.received.retain(|packet| match packet {
            Packet::Publish(publish) => {
                publishes.push(publish.clone());
                false
            }
            _ => true,
        });
        publishes
    }

    /// (topic, payload) of every PUBLISH `conn` received since the last call.
    pub(crate) fn published_to(&mut self, conn: ConnId) -> Vec<(String, String)> {
        self.take_publishes(conn)
            .into_iter()
            .map(|p| {
                (p.topic.as_str().to_owned(), String::from_utf8_lossy(&p.payload).into_owned())
            })
            .collect()
    }

    /// Asserts that `conn` received exactly these (topic, payload) PUBLISHes since the last call.
    #[track_caller]
    pub(crate) fn assert_published(&mut self, conn: ConnId, expected: &[(&str, &str)]) {
        let got = self.published_to(conn);
        let got: Vec<(&str, &str)> = got.iter().map(|(t, p)| (t.as_str(), p.as_str())).collect();
        assert_eq!(got, expected);
    }

    /// Asserts that the broker closed `conn` for `reason` and logged the disconnect of
    /// `client_id` with that reason.
    #[track_caller]
    pub(crate) fn assert_closed_and_logged(
        &self,
        conn: ConnId,
        client_id: &str,
        reason: DisconnectReason,
    ) {
        assert_eq!(self.closed(conn), Some(&reason));
        let logged =
            LogEvent::ClientDisconnected { conn, client_id: Some(client_id.into()), reason };
        assert!(self.logs.contains(&logged), "{logged:?} not in {:?}", self.logs);
    }

    /// Asserts that the broker closed `conn` for a protocol error without answering it.
    #[track_caller]
    pub(crate) fn assert_dropped_for_protocol_error(&mut self, conn: ConnId) {
        assert_eq!(self.take(conn), []);
        assert_eq!(self.closed(conn), Some(&DisconnectReason::ProtocolError));
    }

    /// Why the broker closed `conn`, if it did.
    pub(crate) fn closed(&self, conn: ConnId) -> Option<&DisconnectReason> {
        self.clients.get(&conn)?.closed.as_ref()
    }

    /// The reason of the DISCONNECT `conn` received, if any.
    pub(crate) fn disconnect_reason(&mut self, conn: ConnId) -> Option<ReasonCode> {
        self.take(conn).into_iter().find_map(|p| match p {
            Packet::Disconnect(d) => Some(d.reason),
            _ => None,
        })
    }

    /// Starts every shard's `$SYS` tree at the fake clock's time, as `culex`.
    pub(crate) fn start_sys(&mut self) {
        for shard in 0..self.shard_count() {
            let now = self.now;
            self.shard_mut(shard).start_sys("culex", now);
        }
        self.pump();
    }

    /// Runs a `$SYS` update at the fake clock's time.
    pub(crate) fn update_sys(&mut self) {
        for shard in 0..self.shard_count() {
            let now = self.now;
            self.shard_mut(shard).update_sys(now);
        }
        self.pump();
    }

    /// A clean stop and start as the runtime does it with persistence: connections closed,
    /// snapshot, file bytes, then a new broker restored from them at the fake clock's time.
    pub(crate) fn restart(&mut self) {
        for shard in 0..self.shard_count() {
            let now = self.now;
            self.shard_mut(shard).shutdown(now);
        }
        self.pump();
        self.restart_from(self.snapshot());
    }

    /// The durable state as the runtime saves it: every shard's snapshot, merged.
    pub(crate) fn snapshot(&self) -> crate::snapshot::Snapshot {
        let parts = (0..self.shard_count()).map(|shard| self.shard(shard).snapshot(self.now));
        crate::snapshot::Snapshot::merge(parts.collect())
    }

    /// A new broker, with as many shards as now, restored from `snapshot` (through the file
    /// format) at the fake clock's time, as after a crash that followed a save: every
    /// connection is gone. The new broker gets the same wall clock, so time the fake clock
    /// moved on between the save and this restart (`h.now += …`) counts as downtime.
    pub(crate) fn restart_from(&mut self, snapshot: crate::snapshot::Snapshot) {
        self.restart_sharded(snapshot, self.shard_count());
    }

    /// [`Harness::restart_from`] into `count` shards, each restoring its part of the file.
    pub(crate) fn restart_sharded(&mut self, snapshot: crate::snapshot::Snapshot, count: usize) {
        let bytes = crate::snapshot::encode(&snapshot).expect("a snapshot encodes");
        let decoded = crate::snapshot::decode(&bytes).expect("what we encode decodes");
        assert_eq!(decoded, snapshot, "the file format round-trips");
        let last = decoded.last_ids();
        let config = self.broker.config().clone();
        let limits = crate::SharedLimits::new(count);
        let mut brokers = decoded.split(count).into_iter().enumerate().map(|(index, part)| {
            let shard = ShardId { index, count };
            let seed = [u8::try_from(index + 1).expect("few shards"); 32];
            let mut broker = Broker::new_shard(config.clone(), seed, shard);
            broker.set_wall_clock(self.wall_clock);
            broker.share_limits(&limits);
            broker.restore(part, self.now);
            broker.reserve_ids(last);
            broker
        });
        self.broker = brokers.next().expect("one shard at least");
        self.others = brokers.collect();
        self.placed.clear();
        self.unplaced.clear();
        for client in self.clients.values_mut() {
            client.closed.get_or_insert(DisconnectReason::ServerShutdown);
        }
        // What the restored shards announce to each other (their subscriptions).
        self.pump();
    }

    /// Moves the fake clock forward, firing every deadline on the way in order.
    pub(crate) fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while let Some(at) = self.next_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.fire_timers();
        }
        self.now = end;
        self.fire_timers();
    }

    /// The earliest deadline of any shard, or of a connection waiting for its first packet.
    fn next_timeout(&self) -> Option<Instant> {
        let timeout = self.broker.config().connect_timeout;
        let unplaced = self.unplaced.values().map(|(_, accepted)| *accepted + timeout);
        let shards = (0..self.shard_count()).filter_map(|shard| self.shard(shard).poll_timeout());
        shards.chain(unplaced).min()
    }

    /// Every shard's timers that are due at the fake clock's time, shard by shard in order,
    /// once the connections silent for `connect_timeout` went to their own shard.
    fn fire_timers(&mut self) {
        let timeout = self.broker.config().connect_timeout;
        let silent: Vec<ConnId> = self
            .unplaced
            .iter()
            .filter(|(_, (_, accepted))| *accepted + timeout <= self.now)
            .map(|(&conn, _)| conn)
            .collect();
        for conn in silent {
            self.broker_for(conn, None);
        }
        for shard in 0..self.shard_count() {
            let now = self.now;
            self.shard_mut(shard).handle_timeout(now);
        }
        self.pump();
    }

    /// Answers an authentication request.
    pub(crate) fn auth_result(&mut self, conn: ConnId, allowed: bool) {
        let now = self.now;
        self.broker_for(conn, None).handle_auth_result(conn, allowed, now);
        self.pump();
    }

    /// From now on, what the shards forward waits in transit (as if their drivers were slow)
    /// until [`Harness::deliver_forwards`].
    pub(crate) fn delay_forwards(&mut self) {
        self.in_transit.get_or_insert_with(VecDeque::new);
    }

    /// Hands every item in transit to its shard, in order, and from then on hands forwards
    /// over at once again.
    pub(crate) fn deliver_forwards(&mut self) {
        let now = self.now;
        for (_, shard, item) in self.in_transit.take().unwrap_or_default() {
            self.shard_mut(shard).handle_forward(item, now);
        }
        self.pump();
    }

    /// Hands the oldest item in transit from shard `from` to shard `to` over (FIFO per pair of
    /// shards, as the runtime's channels are); what that forwards stays in transit. Fails when
    /// nothing is on its way between the two.
    pub(crate) fn deliver_one(&mut self, from: usize, to: usize) {
        let in_transit = self.in_transit.as_mut().expect("forwards are delayed");
        let at = in_transit
            .iter()
            .position(|(sender, receiver, _)| (*sender, *receiver) == (from, to))
            .unwrap_or_else(|| panic!("nothing in transit from shard {from} to shard {to}"));
        let (_, _, item) = in_transit.remove(at).expect("found");
        let now = self.now;
        self.shard_mut(to).handle_forward(item, now);
        self.pump();
    }

    /// Drains every shard's outputs into the clients' logs, shard by shard; then delivers
    /// what the shards forwarded (in the order forwarded) and the answers of auto-acking
    /// clients, and again, until nothing is left.
    pub(crate) fn pump(&mut self) {
        loop {
            let mut replies = Vec::new();
            let mut forwards = VecDeque::new();
            for shard in 0..self.shard_count() {
                self.drain(shard, &mut replies, &mut forwards);
            }
            if let Some(in_transit) = &mut self.in_transit {
                in_transit.append(&mut forwards);
            }
            if replies.is_empty() && forwards.is_empty() {
                return;
            }
            let now = self.now;
            for (_, shard, item) in forwards {
                self.shard_mut(shard).handle_forward(item, now);
            }
            for (conn, packet) in replies {
                self.broker_for(conn, None).handle_packet(conn, packet, now);
            }
        }
    }

    /// Drains the outputs of `shard`: packets into the clients' logs, auto-acking clients'
    /// answers into `replies`, forwarded items into `forwards`.
    fn drain(
        &mut self,
        shard: usize,
        replies: &mut Vec<(ConnId, Packet)>,
        forwards: &mut VecDeque<(usize, usize, ShardItem)>,
    ) {
        while let Some(output) = self.shard_mut(shard).poll_output() {
            match output {
                Output::Send { conn, packet } => {
                    let client =
                        self.clients.get_mut(&conn).expect("the broker only sends to open clients");
                    assert!(
                        client.closed.is_none(),
                        "packet {packet:?} sent to {conn:?} after Close"
                    );
                    if client.auto_ack {
                        match &packet {
                            Packet::Publish(Publish {
                                qos: QoS::AtLeastOnce,
                                packet_id: Some(id),
                                ..
                            }) => {
                                replies.push((conn, Packet::PubAck(ack(id.get()))));
                            }
                            Packet::Publish(Publish {
                                qos: QoS::ExactlyOnce,
                                packet_id: Some(id),
                                ..
                            }) => {
                                replies.push((conn, Packet::PubRec(ack(id.get()))));
                            }
                            Packet::PubRel(rel) => {
                                replies.push((conn, Packet::PubComp(ack(rel.packet_id.get()))))
                            }
                            _ => {}
                        }
                    }
                    client.received.push(packet);
                }
                Output::Close { conn, reason } => {
                    let client =
                        self.clients.get_mut(&conn).expect("the broker only closes open clients");
                    assert!(client.closed.is_none(), "{conn:?} closed twice");
                    client.closed = Some(reason);
                }
                Output::Authenticate { conn, username, password, listener, .. } => {
                    self.auth_requests.push((conn, username, password, listener));
                }
                Output::Log(event) => self.logs.push(event),
                Output::Journal(change) => {
                    if self.shard_journals.len() <= shard {
                        self.shard_journals.resize_with(shard + 1, Vec::new);
                    }
                    self.shard_journals[shard].push(change.clone());
                    self.journal.push(change);
                }
                Output::Forward { shard: to, item } => {
                    assert_ne!(to, shard, "a shard never forwards to itself");
                    self.forwarded.push(Forwarded::of(shard, to, &item));
                    forwards.push_back((shard, to, item));
                }
            }
        }
    }
}
