//! `Broker`: the sans-IO MQTT broker. Inputs are `handle_*` calls, outputs are drained with
//! `poll_output` and `poll_timeout`. The packet handlers live in the submodules.

mod admin;
mod connect;
mod forward;
mod held;
mod journal;
mod lifecycle;
mod persist;
mod publish;
mod route;
mod subscribe;
mod sys;

pub use admin::{
    ClientInfo, PREVIEW_BYTES, Page, PageRequest, RetainedInfo, SessionInfo, SubscriptionInfo,
};
pub use sys::SYS_LOAD_COUNTERS;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use mqtt_codec::{Packet, PacketType, Publish, ReasonCode};

use crate::access::{Access, AccessControl, ClientRef};
use crate::client_id::{IdGenerator, IdSeed};
use crate::config::{Config, ListenerOptions};
use crate::conn::{Authenticating, Conn, ConnMap, MAX_PENDING_WHILE_AUTHENTICATING, Phase};
use crate::event::{
    BRIDGE_USER_LISTENER, CloseCause, ConnId, DisconnectReason, INTERNAL_LISTENER, LogEvent,
    Output, PeerInfo,
};
use crate::message::{DurableIds, Message, Source};
use crate::retained::RetainedStore;
use crate::session::Sessions;
use crate::shard::ShardId;
use crate::shared::SharedLimits;
use crate::stats::{DropCause, Stats};
use crate::timers::{Timer, Timers};
use crate::topic_tree::{Elsewhere, Matched, TopicTree};
use crate::wall_clock::WallClock;

/// The broker state machine.
///
/// `Broker` does no I/O and never reads the clock. Methods come in four groups:
/// (A) getters such as [`Broker::client_id`] and [`Broker::stats`]; (B) inputs named
/// `handle_*`, each taking `now`; (C) administrative calls such as [`Broker::set_config`] and
/// [`Broker::shutdown`]; (D) outputs named `poll_*`. After every (B) or (C) call (or a batch
/// of them), drain [`Broker::poll_output`] until `None`, then re-arm the timer from
/// [`Broker::poll_timeout`] and call [`Broker::handle_timeout`] when it passes.
///
/// Every connection the broker was told about with `handle_open` ends with exactly one
/// [`Output::Close`], whatever ended it.
pub struct Broker {
    config: Config,
    /// Boxed: the map's table is sized in powers of two, so small slots waste less memory
    /// per connection than inline ones would.
    conns: ConnMap<Box<Conn>>,
    sessions: Sessions,
    tree: TopicTree,
    retained: RetainedStore,
    timers: Timers,
    outputs: VecDeque<Output>,
    /// Access rules for every listener without an entry in `listener_acl`.
    acl: Option<Arc<dyn AccessControl>>,
    /// Access rules per listener (`per_listener_settings true`), indexed like
    /// [`PeerInfo::listener`].
    listener_acl: Vec<Option<Arc<dyn AccessControl>>>,
    ids: IdGenerator,
    stats: Stats,
    /// Reused buffer for topic matches, so routing does not allocate per message.
    scratch: Vec<Matched>,
    /// What the last walk found on other shards (reused likewise).
    elsewhere: Elsewhere,
    /// What the `$SYS` publisher remembers between updates.
    sys: sys::SysTree,
    /// Changes of durable state so far ([`Broker::changes`]).
    changes: u64,
    /// Ids of messages and deliveries for the persistence files.
    durable: DurableIds,
    /// Bytes the messages hold (`memory_limit`), sessions and connections, every shard's.
    limits: SharedLimits,
    /// This shard's gauge in `limits`, which its messages charge.
    gauge: crate::memory::Gauge,
    /// The runtime's reading of Unix time, by which the durable state stores message expiry
    /// as an absolute time ([`Broker::set_wall_clock`]).
    wall_clock: Option<WallClock>,
    /// Which shard this broker is ([`ShardId::SINGLE`] unless sharded).
    shard: ShardId,
    /// Outputs held for connections until other shards answered: new subscriptions known
    /// everywhere, or (journal on) a message's records durable everywhere it went.
    held: held::Held,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("connections", &self.conns.len())
            .field("sessions", &self.sessions.len())
            .field("retained", &self.retained.len())
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// A broker with `config`. `seed` feeds the generator of assigned client ids; pass OS
    /// randomness (the core has no randomness source of its own).
    pub fn new(config: Config, seed: IdSeed) -> Self {
        Self::new_shard(config, seed, ShardId::SINGLE)
    }

    /// A broker that is shard `shard.index` of `shard.count`: it owns the sessions whose
    /// client id [`shard_of`](crate::shard_of) maps to it, forwards what other shards need
    /// ([`Output::Forward`]) and handles what they forward ([`Broker::handle_forward`]).
    /// Each shard needs its own `seed`. At most [`ShardId::MAX`] shards: a message is
    /// forwarded only to the shards in a 64-bit set.
    pub fn new_shard(config: Config, seed: IdSeed, shard: ShardId) -> Self {
        let limits = SharedLimits::default();
        Self {
            config,
            conns: ConnMap::default(),
            sessions: Sessions::default(),
            tree: TopicTree::default(),
            retained: RetainedStore::default(),
            timers: Timers::default(),
            outputs: VecDeque::new(),
            acl: None,
            listener_acl: Vec::new(),
            ids: IdGenerator::new(seed),
            stats: Stats::default(),
            scratch: Vec::new(),
            elsewhere: Elsewhere::default(),
            sys: sys::SysTree::default(),
            changes: 0,
            durable: DurableIds::of(shard),
            gauge: limits.gauge(0),
            limits,
            wall_clock: None,
            shard,
            held: held::Held::default(),
        }
    }

    // --- (A) getters -------------------------------------------------------------------

    /// Which shard this broker is.
    #[must_use]
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// The options of the listener `conn` came through (the defaults for an unknown
    /// connection).
    #[must_use]
    pub fn listener_options_of(&self, conn: ConnId) -> &ListenerOptions {
        self.conns
            .get(&conn)
            .map_or(&ListenerOptions::DEFAULT, |state| self.config.options_of(state.peer.listener))
    }

    /// The client id of an accepted connection.
    pub fn client_id(&self, conn: ConnId) -> Option<&str> {
        let key = self.conns.get(&conn)?.session()?;
        Some(self.sessions.get(key)?.client_id.as_str())
    }

    /// The remote end of an open connection.
    pub fn peer(&self, conn: ConnId) -> Option<&PeerInfo> {
        Some(&self.conns.get(&conn)?.peer)
    }

    /// Open connections (accepted or not).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Connections whose CONNECT was accepted.
    pub fn connected_count(&self) -> usize {
        self.conns.values().filter(|c| c.session().is_some()).count()
    }

    /// Sessions, connected or not.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The estimated bytes the broker holds for messages and sessions, which `memory_limit`
    /// bounds: every message once (its struct, topic, payload and properties), however many
    /// queues, shards and the retained store share it, plus a fixed amount per session. Not
    /// counted: each queue entry's few bytes, subscriptions, and the runtime's socket buffers.
    /// Broker-wide: every shard sharing [`SharedLimits`] reads the same figure.
    #[must_use]
    pub fn memory_in_use(&self) -> usize {
        self.limits.memory_in_use() + self.sessions.len_everywhere() * crate::session::SESSION_BYTES
    }

    /// Retained messages stored.
    pub fn retained_count(&self) -> usize {
        self.retained.len()
    }

    /// Plain and shared subscriptions.
    pub fn subscription_counts(&self) -> (usize, usize) {
        self.tree.counts()
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Messages in the store (retained, queued, in flight, or received at QoS 2 and not yet
    /// released), each counted once however many clients hold it, and their payload bytes:
    /// Mosquitto's `messages/stored` and `store/messages/bytes`. Walks the store; called once
    /// per `$SYS` update, never per message.
    pub fn stored_messages(&self) -> (usize, usize) {
        self.held_messages(true)
    }

    /// [`Broker::stored_messages`], the retained store left out unless `retained`.
    fn held_messages(&self, retained: bool) -> (usize, usize) {
        let mut seen = std::collections::HashSet::new();
        let mut bytes = 0;
        let held = self.sessions.iter().flat_map(|session| {
            session.outgoing.messages().chain(session.incoming.values().flatten())
        });
        let retained = self.retained.messages().filter(|_| retained);
        for message in retained.chain(held) {
            if seen.insert(Arc::as_ptr(message)) {
                bytes += message.payload.len();
            }
        }
        (seen.len(), bytes)
    }

    /// Messages waiting in the sessions' queues for delivery (not yet in flight), and their
    /// payload bytes: a message queued for two sessions counts twice. Walks every session.
    #[must_use]
    pub fn queued_messages(&self) -> (usize, usize) {
        self.sessions.iter().fold((0, 0), |(messages, bytes), session| {
            let payload: usize =
                session.outgoing.queued().map(|delivery| delivery.message.payload.len()).sum();
            (messages + session.outgoing.queued_len(), bytes + payload)
        })
    }

    /// The config in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // --- (B) inputs --------------------------------------------------------------------

    /// A connection was accepted. `now` may be earlier than the last input's: a sharded
    /// runtime, which hands the connection to a shard only once its first packet is decoded
    /// (or `connect_timeout` passed without one), passes the time it was accepted, so that
    /// `connect_timeout` counts from there.
    pub fn handle_open(&mut self, conn: ConnId, peer: PeerInfo, now: Instant) {
        if self.conns.contains_key(&conn) {
            return;
        }
        self.stats.sockets += 1;
        if self.config.max_connections.is_some_and(|max| self.limits.connections.get() >= max) {
            self.log_disconnect(conn, None, DisconnectReason::MaxConnections);
            self.outputs
                .push_back(Output::Close { conn, reason: DisconnectReason::MaxConnections });
            return;
        }
        let mut state = Box::new(Conn::new(peer, now));
        let at = now + self.config.connect_timeout;
        state.set_timer_at(Some(at));
        self.timers.set(at, Timer::Conn(conn));
        self.conns.insert(conn, state);
        self.limits.connections.add(1);
    }

    /// A packet was decoded on `conn`.
    pub fn handle_packet(&mut self, conn: ConnId, packet: Packet, now: Instant) {
        let Some(state) = self.conns.get_mut(&conn) else { return };
        state.set_last_in(now);
        self.stats.messages_received += 1;
        match &mut state.phase {
            Phase::AwaitConnect => match packet {
                Packet::Connect(connect) => {
                    self.stats.connects += 1;
                    self.on_connect(conn, *connect, now);
                }
                // [MQTT-3.1.0-1] the first packet must be CONNECT.
                _ => self.drop_conn(conn, DisconnectReason::ProtocolError, None, now),
            },
            Phase::Authenticating(waiting) => match packet {
                Packet::Connect(_) => {
                    self.drop_conn(conn, DisconnectReason::ProtocolError, None, now);
                }
                packet if waiting.pending.len() < MAX_PENDING_WHILE_AUTHENTICATING => {
                    waiting.pending.push(packet);
                }
                _ => self.drop_conn(conn, DisconnectReason::ProtocolError, None, now),
            },
            Phase::Connected(key) => {
                let key = *key;
                self.on_packet(conn, key, packet, now);
            }
        }
    }

    /// Decoding failed on `conn` with `reason` (`DecodeError::reason_code()`); `packet` is the
    /// type of the packet that failed, when its first byte names one. The connection task
    /// stops reading; the broker answers as Mosquitto 2.0.11 does and closes.
    pub fn handle_decode_error(
        &mut self,
        conn: ConnId,
        packet: Option<PacketType>,
        reason: ReasonCode,
        now: Instant,
    ) {
        let Some(state) = self.conns.get(&conn) else { return };
        let session = state.session();
        if let (Some(key), Some(PacketType::Connect)) = (session, packet) {
            // Refused for being a second CONNECT before anything in it is read, as Mosquitto
            // does: a bad protocol version there must not become a DISCONNECT reason.
            self.on_second_connect(conn, key, now);
            return;
        }
        if session.is_none() && reason == ReasonCode::UnsupportedProtocolVersion {
            self.refuse(conn, reason, DisconnectReason::ConnectRefused(reason));
            return;
        }
        let why = match reason {
            ReasonCode::MalformedPacket => DisconnectReason::MalformedPacket,
            ReasonCode::PacketTooLarge => DisconnectReason::PacketTooLarge,
            _ => DisconnectReason::ProtocolError,
        };
        match lifecycle::decode_error_answer(packet, reason) {
            Some(code) => self.drop_conn(conn, why, Some(code), now),
            None => self.close_silently(conn, why, now),
        }
    }

    /// The connection ended without the broker asking (peer closed, I/O error, shutdown).
    pub fn handle_closed(&mut self, conn: ConnId, cause: CloseCause, now: Instant) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        let reason = match cause {
            CloseCause::PeerClosed => DisconnectReason::PeerClosed,
            CloseCause::Io(text) => DisconnectReason::Io(text),
            CloseCause::ServerShutdown => DisconnectReason::ServerShutdown,
        };
        self.drop_conn(conn, reason, None, now);
    }

    /// The answer to [`Output::Authenticate`] for `conn`.
    pub fn handle_auth_result(&mut self, conn: ConnId, allowed: bool, now: Instant) {
        let Some(state) = self.conns.get_mut(&conn) else { return };
        if !matches!(state.phase, Phase::Authenticating(_)) {
            return;
        }
        let Phase::Authenticating(waiting) =
            std::mem::replace(&mut state.phase, Phase::AwaitConnect)
        else {
            return;
        };
        let Authenticating { connect, client_id, assigned, pending } = *waiting;
        if !allowed {
            self.refuse(conn, ReasonCode::NotAuthorized, DisconnectReason::NotAuthorized);
            return;
        }
        self.accept(conn, connect, client_id, assigned, now);
        for packet in pending {
            self.handle_packet(conn, packet, now);
        }
    }

    /// Time passed `poll_timeout()`: fires keep-alive, CONNECT, will-delay and session-expiry
    /// deadlines that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, timer)) = self.timers.pop_due(now) {
            match timer {
                Timer::Conn(conn) => self.on_conn_timer(conn, at, now),
                Timer::Will(key) => self.on_will_timer(key, now),
                Timer::SessionExpiry(key) => self.on_expiry_timer(key, now),
            }
        }
    }

    // --- (C) administration ------------------------------------------------------------

    /// Adds what the runtime read from and wrote to clients' sockets (it alone sees bytes);
    /// call it per batch, not per packet.
    pub fn count_bytes(&mut self, received: u64, sent: u64) {
        self.stats.bytes_received += received;
        self.stats.bytes_sent += sent;
    }

    /// A QoS 0 PUBLISH of `payload_len` bytes that the core sent was dropped by the runtime
    /// (the connection's outgoing buffer is full): counted as dropped instead of sent.
    pub fn count_dropped(&mut self, payload_len: usize) {
        self.stats.publish_dropped += 1;
        self.stats.publish_sent = self.stats.publish_sent.saturating_sub(1);
        self.stats.messages_sent = self.stats.messages_sent.saturating_sub(1);
        self.stats.publish_bytes_sent =
            self.stats.publish_bytes_sent.saturating_sub(payload_len as u64);
    }

    /// Applies a reloaded config to decisions made from now on.
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// Tells the broker what Unix time it is (once, before [`Broker::restore`] and the first
    /// connection). From then on snapshots and journal records store a message's expiry as the
    /// Unix time it ends at, so the time the broker is down counts, as in Mosquitto; a
    /// restore drops what expired meanwhile. Without it they store the seconds left, which
    /// count again from the restore.
    pub fn set_wall_clock(&mut self, clock: WallClock) {
        self.wall_clock = Some(clock);
    }

    /// Makes this shard count its messages, sessions and connections in `limits`, which the
    /// other shards of the broker share, and read the broker-wide limits from there. Call it
    /// before the first connection and [`Broker::restore`].
    pub fn share_limits(&mut self, limits: &SharedLimits) {
        self.limits.memory = limits.memory.clone();
        self.gauge = limits.gauge(self.shard.index);
        self.sessions.count_in(limits.sessions.clone());
        limits.connections.add(self.conns.len());
        self.limits.connections = limits.connections.clone();
    }

    /// Installs (or removes) the access-control hook of every listener without its own.
    pub fn set_access_control(&mut self, acl: Option<Arc<dyn AccessControl>>) {
        self.acl = acl;
    }

    /// Installs the access-control hooks of individual listeners (`per_listener_settings
    /// true`), indexed like [`PeerInfo::listener`]; `None` entries allow everything. A
    /// listener past the end uses the hook of [`Broker::set_access_control`].
    pub fn set_listener_access_control(&mut self, acls: Vec<Option<Arc<dyn AccessControl>>>) {
        self.listener_acl = acls;
    }

    /// Publishes a message from the server itself (`$SYS` updates, later bridges): routed
    /// like a client's message, but with no access check and no publishing client. `dup` and
    /// `packet_id` are ignored; a retained message is stored as usual.
    pub fn publish(&mut self, publish: Publish, now: Instant) {
        let message = self.message_of(publish, now);
        self.route(Arc::new(message), None, now);
    }

    /// The message `publish` carries, under the next durable message id.
    fn message_of(&mut self, publish: Publish, now: Instant) -> Message {
        let message = Message::from_publish(
            self.durable.message(),
            publish.topic,
            publish.payload,
            publish.qos,
            publish.retain,
            publish.properties,
            now,
        );
        self.charged(message)
    }

    /// `message` with its bytes charged to the memory gauge.
    fn charged(&self, mut message: Message) -> Message {
        let bytes = crate::message::estimated_bytes(
            message.topic.as_str().len(),
            message.payload.len(),
            &message.properties,
        );
        message.charge = Some(self.gauge.charge(bytes));
        message
    }

    /// Notes `key`'s client as the publisher of `message` if it is retained, for
    /// `check_retain_source` (other messages carry no source: it would cost every publish).
    fn note_source(&self, message: &mut Message, key: crate::conn::SessionKey) {
        if !message.retain {
            return;
        }
        message.source = self.sessions.get(key).map(|session| {
            Box::new(Source {
                client_id: session.client_id.to_string(),
                username: session.username.as_deref().map(str::to_owned),
                listener: session.listener,
            })
        });
    }

    /// Closes every connection as the server shuts down; wills are published.
    pub fn shutdown(&mut self, now: Instant) {
        let mut all: Vec<ConnId> = self.conns.keys().copied().collect();
        all.sort_unstable();
        for conn in all {
            self.drop_conn(conn, DisconnectReason::ServerShutdown, None, now);
        }
    }

    // --- (D) outputs -------------------------------------------------------------------

    /// The next thing for the runtime to do.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call `handle_timeout` next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // --- shared helpers ----------------------------------------------------------------

    fn send(&mut self, conn: ConnId, packet: Packet) {
        self.stats.messages_sent += 1;
        self.output_for(conn, Output::Send { conn, packet });
    }

    fn log(&mut self, event: LogEvent) {
        self.outputs.push_back(Output::Log(event));
    }

    fn log_disconnect(
        &mut self,
        conn: ConnId,
        client_id: Option<String>,
        reason: DisconnectReason,
    ) {
        if self.config.connection_messages {
            self.log(LogEvent::ClientDisconnected { conn, client_id, reason });
        }
    }

    /// Whether the ACL hook of the client's listener allows `access`.
    fn allowed(
        &self,
        listener: usize,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        // A bridge's local connection is checked only when it has a `local_username`, with
        // the first listener's rules.
        let listener = match (listener, username) {
            (INTERNAL_LISTENER, None) => return true,
            (INTERNAL_LISTENER, Some(_)) => BRIDGE_USER_LISTENER,
            (listener, _) => listener,
        };
        match self.listener_acl.get(listener).unwrap_or(&self.acl) {
            Some(acl) => acl.check(&ClientRef { client_id, username }, topic, access),
            None => true,
        }
    }

    /// Whether the ACL lets `session`'s client read `topic`.
    fn may_read(&self, session: &crate::session::Session, topic: &str) -> bool {
        self.allowed(
            session.listener,
            &session.client_id,
            session.username.as_deref(),
            topic,
            Access::Read,
        )
    }

    /// Whether a retained message may still go out under `check_retain_source`: its publisher
    /// may still write its topic (a reload may have changed the rules). A message with no
    /// source (the server's own) always may. One that may not is skipped, not deleted, as in
    /// Mosquitto: the rules may change back.
    fn source_may_write(&self, message: &Message) -> bool {
        match message.source.as_deref() {
            Some(source) if self.config.check_retain_source => self.allowed(
                source.listener,
                &source.client_id,
                source.username.as_deref(),
                message.topic.as_str(),
                Access::Write,
            ),
            _ => true,
        }
    }

    /// Dispatches a packet of a connected client.
    /// A CONNECT from a connected client: [MQTT-3.1.0-2] a protocol error, whatever it holds;
    /// Mosquitto logs it and closes without a DISCONNECT.
    fn on_second_connect(&mut self, conn: ConnId, key: crate::conn::SessionKey, now: Instant) {
        let client_id = self.sessions.get(key).map(|s| s.client_id.to_string()).unwrap_or_default();
        self.log(LogEvent::MultipleConnect { conn, client_id });
        self.close_silently(conn, DisconnectReason::ProtocolError, now);
    }

    fn on_packet(
        &mut self,
        conn: ConnId,
        key: crate::conn::SessionKey,
        packet: Packet,
        now: Instant,
    ) {
        match packet {
            Packet::Publish(publish) => self.on_publish(conn, key, publish, now),
            Packet::PubAck(ack) => self.on_puback(conn, key, &ack, now),
            Packet::PubRec(ack) => self.on_pubrec(conn, key, &ack, now),
            Packet::PubRel(ack) => self.on_pubrel(conn, key, &ack, now),
            Packet::PubComp(ack) => self.on_pubcomp(conn, key, &ack, now),
            Packet::Subscribe(subscribe) => self.on_subscribe(conn, key, subscribe, now),
            Packet::Unsubscribe(unsubscribe) => self.on_unsubscribe(conn, key, unsubscribe, now),
            Packet::PingReq => self.send(conn, Packet::PingResp),
            Packet::Disconnect(disconnect) => self.on_disconnect(conn, key, &disconnect, now),
            Packet::Connect(_) => self.on_second_connect(conn, key, now),
            Packet::Auth(_) => {
                // No authentication method is supported, so no AUTH exchange can be in progress:
                // a protocol error, closed without a DISCONNECT as Mosquitto closes it
                // (tests/differential/malformed.rs; 0x8C may not be a DISCONNECT's reason).
                self.close_silently(conn, DisconnectReason::ProtocolError, now);
            }
            // Mosquitto 2.0.11 takes a client's PINGRESP as the answer to a PINGREQ it never
            // sent, and carries on.
            Packet::PingResp => {}
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) => {
                self.violation(
                    conn,
                    ReasonCode::ProtocolError,
                    "a packet only a server may send",
                    now,
                );
            }
        }
    }
}

#[cfg(test)]
impl Broker {
    /// The listener index the session of `client_id` belongs to, if there is one.
    pub(crate) fn session_listener(&self, client_id: &str) -> Option<usize> {
        let key = self.sessions.find(client_id)?;
        self.sessions.get(key).map(|session| session.listener)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn broker_can_move_to_the_driver_task() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<super::Broker>();
    }
}
