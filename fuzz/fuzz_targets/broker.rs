//! Fuzz target for the broker core (`mqtt_core::Broker`), driven as the runtime drives it:
//! up to four connections, each a byte stream decoded as the connection task decodes it
//! (the version switching to the CONNECT's, a decode error ending the reading), with opens,
//! closes, authentication answers and time passing in any order.
//!
//! The first input byte picks the configuration (bit 0: journal, bit 1: clients acknowledge
//! every QoS 1/2 delivery at once, bit 2: a password file, so CONNECTs with a username wait
//! for an answer, bit 3: anonymous clients refused, bit 4: small queues, in-flight windows
//! and memory limit, bit 5: topic aliases). Then a list of operations, each a byte: bits 0..=1
//! name the connection, bits 2..=4 the operation (see `Op`), bit 7 the answer to an
//! authentication request; data operations take a length byte and that many stream bytes.
//!
//! Checked: no panic; nothing is sent to a connection that is not open; every connection
//! gets exactly one `Close`, nothing after it, and one by the end; every packet sent encodes
//! in its connection's version; with the journal, replaying what was journaled gives the
//! durable state of `Broker::snapshot`, message expiry times included (the broker has a wall
//! clock).
#![no_main]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mqtt_codec::{
    Ack, DecodeError, MAX_PACKET_SIZE, Packet, PacketType, ProtocolVersion, Publish, QoS,
    ReasonCode, decode, encode,
};
use mqtt_core::snapshot::Snapshot;
use mqtt_core::snapshot::journal::{Change, Replay, comparable};
use mqtt_core::{Broker, CloseCause, Config, ConnId, Output, PeerInfo, WallClock};

/// Connections at once.
const SLOTS: usize = 4;

/// What the runtime knows of one connection.
struct Conn {
    id: ConnId,
    version: ProtocolVersion,
    input: BytesMut,
    /// Decoding failed: the connection task reads no more.
    reading: bool,
    /// The broker asked to close it.
    closed: bool,
}

/// The runtime around the broker, with what the checks need.
struct Runtime {
    broker: Broker,
    now: Instant,
    slots: [Option<Conn>; SLOTS],
    next_id: u64,
    /// `Close` outputs per connection ever opened.
    closes: HashMap<ConnId, u32>,
    /// Connections waiting for an authentication answer.
    authenticating: Vec<ConnId>,
    auto_ack: bool,
    journal: Vec<Change>,
}

impl Runtime {
    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.slots.iter_mut().flatten().find(|conn| conn.id == id)
    }

    fn open(&mut self, slot: usize) {
        if self.slots[slot].is_some() {
            return;
        }
        self.next_id += 1;
        let id = ConnId(self.next_id);
        let peer = PeerInfo {
            address: "127.0.0.1".into(),
            port: 50_000 + slot as u16,
            listener: 0,
            certificate_username: None,
        };
        self.closes.insert(id, 0);
        self.slots[slot] = Some(Conn {
            id,
            version: ProtocolVersion::V3_1_1,
            input: BytesMut::new(),
            reading: true,
            closed: false,
        });
        self.broker.handle_open(id, peer, self.now);
        self.drain();
    }

    /// Stream bytes arrive on `slot`: decoded and handled packet by packet.
    fn receive(&mut self, slot: usize, bytes: &[u8]) {
        let Some(conn) = &mut self.slots[slot] else { return };
        if !conn.reading || conn.closed {
            return;
        }
        conn.input.extend_from_slice(bytes);
        loop {
            let Some(conn) = &mut self.slots[slot] else { return };
            if conn.closed {
                return;
            }
            let id = conn.id;
            let packet_type = conn.input.first().and_then(|byte| PacketType::from_u8(byte >> 4));
            match decode(&mut conn.input, conn.version, MAX_PACKET_SIZE) {
                Ok(Some(packet)) => {
                    if let Packet::Connect(connect) = &packet {
                        conn.version = connect.protocol;
                    }
                    self.broker.handle_packet(id, packet, self.now);
                }
                Ok(None) => return,
                Err(err) => {
                    conn.reading = false;
                    let reason = match err {
                        DecodeError::InvalidProtocolName { .. } => ReasonCode::ProtocolError,
                        _ => err.reason_code(),
                    };
                    self.broker.handle_decode_error(id, packet_type, reason, self.now);
                    self.drain();
                    return;
                }
            }
            self.drain();
        }
    }

    /// The socket of `slot` ends (or the runtime finished closing it).
    fn close(&mut self, slot: usize, cause: CloseCause) {
        if let Some(conn) = self.slots[slot].take() {
            self.broker.handle_closed(conn.id, cause, self.now);
            self.drain();
        }
    }

    fn authenticate(&mut self, slot: usize, allowed: bool) {
        let Some(conn) = &self.slots[slot] else { return };
        let id = conn.id;
        if let Some(at) = self.authenticating.iter().position(|&waiting| waiting == id) {
            self.authenticating.remove(at);
            self.broker.handle_auth_result(id, allowed, self.now);
            self.drain();
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.broker.poll_timeout().is_some_and(|deadline| deadline <= self.now) {
            self.broker.handle_timeout(self.now);
            self.drain();
        }
    }

    /// Carries out the broker's outputs, checking them; auto-acknowledging clients answer.
    fn drain(&mut self) {
        loop {
            let mut replies = Vec::new();
            while let Some(output) = self.broker.poll_output() {
                match output {
                    Output::Send { conn: id, packet } => {
                        let auto_ack = self.auto_ack;
                        let Some(conn) = self.conn_mut(id) else {
                            panic!("{packet:?} sent to {id:?}, which is not open")
                        };
                        assert!(!conn.closed, "{packet:?} sent to {id:?} after its Close");
                        let mut wire = BytesMut::new();
                        if let Err(err) = encode(&packet, conn.version, MAX_PACKET_SIZE, &mut wire)
                        {
                            panic!("{packet:?} for {id:?} does not encode: {err}");
                        }
                        if auto_ack {
                            replies.extend(answer(&packet).map(|reply| (id, reply)));
                        }
                    }
                    Output::Close { conn: id, .. } => {
                        let count =
                            self.closes.get_mut(&id).expect("Close of a connection never opened");
                        *count += 1;
                        assert_eq!(*count, 1, "{id:?} closed twice");
                        if let Some(conn) = self.conn_mut(id) {
                            conn.closed = true;
                        }
                    }
                    Output::Authenticate { conn, .. } => self.authenticating.push(conn),
                    Output::Log(_) => {}
                    Output::Journal(change) => self.journal.push(change),
                    _ => {}
                }
            }
            if replies.is_empty() {
                break;
            }
            for (id, packet) in replies {
                self.broker.handle_packet(id, packet, self.now);
            }
        }
        // The runtime ends the connections it was asked to close.
        for slot in 0..SLOTS {
            if self.slots[slot].as_ref().is_some_and(|conn| conn.closed) {
                self.close(slot, CloseCause::PeerClosed);
            }
        }
    }
}

/// What an auto-acknowledging client answers to `packet`.
fn answer(packet: &Packet) -> Option<Packet> {
    match packet {
        Packet::Publish(Publish { qos: QoS::AtLeastOnce, packet_id: Some(id), .. }) => {
            Some(Packet::PubAck(Ack::new(*id)))
        }
        Packet::Publish(Publish { qos: QoS::ExactlyOnce, packet_id: Some(id), .. }) => {
            Some(Packet::PubRec(Ack::new(*id)))
        }
        Packet::PubRel(rel) => Some(Packet::PubComp(Ack::new(rel.packet_id))),
        _ => None,
    }
}

/// The configuration the first byte picks.
fn config(selector: u8) -> Config {
    let mut config = Config { journal: selector & 1 != 0, ..Config::default() };
    config.security.password_file = selector & 4 != 0;
    config.security.allow_anonymous = selector & 8 == 0;
    if selector & 0x10 != 0 {
        config.max_inflight_messages = 2;
        config.max_queued_messages = 3;
        config.max_queued_bytes = 64;
        config.memory_limit = 4096;
    }
    if selector & 0x20 != 0 {
        config.max_topic_alias = 4;
    }
    config
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut ops)) = data.split_first() else { return };
    let now = Instant::now();
    let mut broker = Broker::new(config(selector), [7; 32]);
    broker.set_wall_clock(WallClock { at: now, since_epoch: Duration::from_secs(1_800_000_000) });
    let mut runtime = Runtime {
        broker,
        now,
        slots: [const { None }; SLOTS],
        next_id: 0,
        closes: HashMap::new(),
        authenticating: Vec::new(),
        auto_ack: selector & 2 != 0,
        journal: Vec::new(),
    };
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        let slot = usize::from(op & 3);
        match (op >> 2) & 7 {
            0 => runtime.open(slot),
            1..=4 => {
                let Some((&len, rest)) = ops.split_first() else { break };
                let (bytes, rest) = rest.split_at(usize::from(len).min(rest.len()));
                ops = rest;
                runtime.open(slot);
                runtime.receive(slot, bytes);
            }
            5 => runtime.close(slot, CloseCause::PeerClosed),
            6 => runtime.authenticate(slot, op & 0x80 != 0),
            _ => runtime.advance(Duration::from_secs(1 << (op >> 5))),
        }
    }
    if runtime.broker.config().journal {
        let mut replay = Replay::new(Snapshot::default());
        for change in runtime.journal.drain(..) {
            replay.apply(change);
        }
        assert_eq!(replay.skipped(), 0, "every record names something known");
        let snapshot = runtime.broker.snapshot(runtime.now);
        assert_eq!(
            comparable(replay.finish()),
            comparable(snapshot),
            "journal and snapshot differ"
        );
    }
    runtime.broker.shutdown(runtime.now);
    runtime.drain();
    for slot in 0..SLOTS {
        runtime.close(slot, CloseCause::ServerShutdown);
    }
    assert_eq!(runtime.broker.connection_count(), 0);
    for (id, count) in &runtime.closes {
        assert_eq!(*count, 1, "{id:?} closed {count} times");
    }
});
