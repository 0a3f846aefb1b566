//! `ClientSession`: the client side of one MQTT connection as a sans-IO state machine —
//! message ids, the outgoing QoS 1/2 window, incoming QoS 2 ids awaiting PUBREL, keep-alive
//! deadlines. No sockets, no clock: time comes in as `now`.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mqtt_codec::{
    Ack, Connect, Disconnect, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS,
    ReasonCode, Subscribe, SubscriptionOptions, TopicFilter, Unsubscribe,
};

/// A packet to write, with the message id Mosquitto shows for it in `-d` lines (QoS 0
/// PUBLISHes have a message id in the library but none on the wire).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The packet.
    pub packet: Packet,
    /// The library message id (0 when the packet has none).
    pub mid: u16,
}

/// A message received from the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Topic as received, or the one a v5 topic alias from the broker stands for (empty if
    /// the alias was never set up on this connection).
    pub topic: String,
    /// Payload bytes.
    pub payload: Bytes,
    /// QoS it was delivered with.
    pub qos: u8,
    /// Retain flag as received.
    pub retain: bool,
    /// Packet identifier (0 for QoS 0).
    pub mid: u16,
    /// MQTT 5 properties (empty for v3).
    pub properties: Properties,
}

/// What the application learns from the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// CONNACK arrived. `code` is the v3 return code or v5 reason code; non-zero means refused.
    ConnAck {
        /// Return / reason code.
        code: u8,
        /// Session present flag.
        session_present: bool,
        /// CONNACK properties (v5).
        properties: Properties,
    },
    /// A message arrived (QoS 1: PUBACK already queued; QoS 2: PUBREL received, PUBCOMP queued).
    Message(Message),
    /// An outgoing publish is finished: QoS 0 when queued, QoS 1 on PUBACK, QoS 2 on PUBCOMP
    /// (or on a PUBREC carrying an error). `reason` >= 128 means the broker refused it.
    PublishDone {
        /// Message id returned by [`ClientSession::publish`].
        mid: u16,
        /// v5 reason code (0 for v3).
        reason: u8,
        /// v5 reason-string property, if any.
        reason_string: Option<String>,
    },
    /// SUBACK: the granted QoS (or failure code >= 128) per filter.
    SubAck {
        /// Message id of the SUBSCRIBE.
        mid: u16,
        /// One code per filter.
        granted: Vec<u8>,
        /// SUBACK properties (v5).
        properties: Properties,
    },
    /// UNSUBACK.
    UnsubAck {
        /// Message id of the UNSUBSCRIBE.
        mid: u16,
    },
    /// The broker sent DISCONNECT (v5); the connection is over.
    ServerDisconnect {
        /// Its reason code.
        reason: u8,
    },
}

/// Ways the broker can break the protocol or the connection can die, seen from the session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No PINGRESP within the keep-alive interval.
    #[error("keep-alive timeout")]
    KeepaliveTimeout,
    /// The broker sent a packet a client must never receive, or one out of order.
    #[error("protocol error: {0}")]
    Protocol(&'static str),
}

/// What an outgoing QoS 1/2 message in flight waits for: PUBACK, PUBREC or PUBCOMP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Awaiting {
    Ack,
    Rec,
    Comp,
}

/// Settings fixed for the life of a session.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Protocol version the CONNECT uses.
    pub protocol: ProtocolVersion,
    /// Keep-alive in seconds (0 = none).
    pub keep_alive: u16,
    /// `-M`: most QoS 1/2 messages in flight at once.
    pub max_inflight: u16,
    /// Client id as sent (`None` = empty, the broker may assign one).
    pub client_id: Option<String>,
}

/// The client side of one MQTT connection.
///
/// Calling order: [`connect`](Self::connect) once, then feed every decoded packet to
/// [`handle_packet`](Self::handle_packet) and call [`handle_timeout`](Self::handle_timeout)
/// when [`poll_timeout`](Self::poll_timeout) passes; after each call drain
/// [`poll_transmit`](Self::poll_transmit) (write those packets in order) and
/// [`poll_event`](Self::poll_event). Application requests (`publish`, `subscribe`, …) queue
/// packets the same way.
#[derive(Debug)]
pub struct ClientSession {
    config: SessionConfig,
    client_id: Option<String>,
    last_mid: u16,
    inflight: BTreeMap<u16, Awaiting>,
    waiting: VecDeque<(u16, Publish)>,
    incoming_qos2: BTreeMap<u16, Option<Message>>,
    send_quota: u16,
    transmit: VecDeque<Transmit>,
    events: VecDeque<Event>,
    warnings: VecDeque<String>,
    keep_alive: Option<Duration>,
    next_out_deadline: Option<Instant>,
    last_in: Instant,
    ping_outstanding: bool,
    connected: bool,
    /// Topic aliases the broker set up on this connection (v5).
    aliases: BTreeMap<u16, String>,
}

impl ClientSession {
    /// A session that has not connected yet.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        let keep_alive =
            (config.keep_alive > 0).then(|| Duration::from_secs(config.keep_alive.into()));
        Self {
            client_id: config.client_id.clone(),
            send_quota: config.max_inflight.max(1),
            config,
            last_mid: 0,
            inflight: BTreeMap::new(),
            waiting: VecDeque::new(),
            incoming_qos2: BTreeMap::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            warnings: VecDeque::new(),
            keep_alive,
            next_out_deadline: None,
            last_in: now,
            ping_outstanding: false,
            connected: false,
            aliases: BTreeMap::new(),
        }
    }

    /// The client id as currently known (assigned by a v5 broker after CONNACK).
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The protocol version in use.
    pub fn protocol(&self) -> ProtocolVersion {
        self.config.protocol
    }

    /// Whether CONNACK(0) has been received.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Number of outgoing QoS 1/2 messages not yet finished (in flight or waiting for a slot).
    pub fn pending_publishes(&self) -> usize {
        self.inflight.len() + self.waiting.len()
    }

    /// Forgets every in-flight exchange (used before reconnecting with a clean session).
    pub fn reset_for_reconnect(&mut self, now: Instant) {
        self.inflight.clear();
        self.waiting.clear();
        self.incoming_qos2.clear();
        self.transmit.clear();
        self.events.clear();
        self.client_id = self.config.client_id.clone();
        self.send_quota = self.config.max_inflight.max(1);
        self.keep_alive = (self.config.keep_alive > 0)
            .then(|| Duration::from_secs(self.config.keep_alive.into()));
        self.next_out_deadline = None;
        self.last_in = now;
        self.ping_outstanding = false;
        self.connected = false;
    }

    fn next_mid(&mut self) -> u16 {
        self.last_mid = self.last_mid.wrapping_add(1);
        if self.last_mid == 0 {
            self.last_mid = 1;
        }
        self.last_mid
    }

    /// Queues the packet `request` builds around the next message id, and returns that id.
    fn queue_request(&mut self, now: Instant, request: impl FnOnce(PacketId) -> Packet) -> u16 {
        let mid = self.next_mid();
        let packet_id = PacketId::new(mid).unwrap_or(PacketId::MIN);
        self.queue(request(packet_id), mid, now);
        mid
    }

    fn queue(&mut self, packet: Packet, mid: u16, now: Instant) {
        self.next_out_deadline = self.keep_alive.map(|interval| now + interval);
        self.transmit.push_back(Transmit { packet, mid });
    }

    /// Queues the CONNECT packet.
    pub fn connect(&mut self, connect: Connect, now: Instant) {
        self.last_in = now;
        // Topic aliases belong to one network connection ([v5 MQTT-3.3.2-7]).
        self.aliases.clear();
        self.queue(Packet::Connect(Box::new(connect)), 0, now);
    }

    /// Queues `publish` under a new message id (its packet identifier for QoS 1/2) and returns
    /// the id. QoS 1/2 messages beyond the in-flight window wait for a slot; a QoS 0 message
    /// is reported done at once.
    pub fn publish(&mut self, mut publish: Publish, now: Instant) -> u16 {
        let mid = self.next_mid();
        let qos = publish.qos;
        publish.packet_id = if qos == QoS::AtMostOnce { None } else { PacketId::new(mid) };
        if qos == QoS::AtMostOnce {
            self.queue(Packet::Publish(publish), mid, now);
            self.events.push_back(Event::PublishDone { mid, reason: 0, reason_string: None });
        } else if self.inflight.len() < usize::from(self.send_quota) {
            self.send_inflight(mid, publish, now);
        } else {
            self.waiting.push_back((mid, publish));
        }
        mid
    }

    fn send_inflight(&mut self, mid: u16, publish: Publish, now: Instant) {
        let state = if publish.qos == QoS::AtLeastOnce { Awaiting::Ack } else { Awaiting::Rec };
        self.inflight.insert(mid, state);
        self.queue(Packet::Publish(publish), mid, now);
    }

    fn release_waiting(&mut self, now: Instant) {
        while self.inflight.len() < usize::from(self.send_quota) {
            let Some((mid, publish)) = self.waiting.pop_front() else { break };
            self.send_inflight(mid, publish, now);
        }
    }

    /// Queues one SUBSCRIBE carrying every filter and returns its message id.
    pub fn subscribe(
        &mut self,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: Properties,
        now: Instant,
    ) -> u16 {
        self.queue_request(now, |packet_id| {
            Packet::Subscribe(Subscribe { packet_id, filters, properties })
        })
    }

    /// Queues one UNSUBSCRIBE and returns its message id.
    pub fn unsubscribe(
        &mut self,
        filters: Vec<TopicFilter>,
        properties: Properties,
        now: Instant,
    ) -> u16 {
        self.queue_request(now, |packet_id| {
            Packet::Unsubscribe(Unsubscribe { packet_id, filters, properties })
        })
    }

    /// Queues DISCONNECT (reason and properties are written only for v5).
    pub fn disconnect(&mut self, reason: ReasonCode, properties: Properties, now: Instant) {
        self.connected = false;
        self.queue(Packet::Disconnect(Disconnect { reason, properties }), 0, now);
    }

    /// Applies one packet from the broker.
    ///
    /// # Errors
    /// The broker broke the protocol; the connection should be closed.
    pub fn handle_packet(&mut self, packet: Packet, now: Instant) -> Result<(), SessionError> {
        self.last_in = now;
        match packet {
            Packet::ConnAck(connack) => {
                let code = if self.config.protocol == ProtocolVersion::V5 {
                    connack.reason.as_u8()
                } else {
                    connack.reason.to_v3_connack()
                };
                if code == 0 {
                    self.connected = true;
                    if let Some(id) = &connack.properties.assigned_client_identifier {
                        self.client_id = Some(id.as_str().to_owned());
                    }
                    if let Some(keep_alive) = connack.properties.server_keep_alive {
                        self.keep_alive =
                            (keep_alive > 0).then(|| Duration::from_secs(keep_alive.into()));
                    }
                    if let Some(receive_maximum) = connack.properties.receive_maximum {
                        self.send_quota = self.send_quota.min(receive_maximum.max(1));
                    }
                }
                self.events.push_back(Event::ConnAck {
                    code,
                    session_present: connack.session_present,
                    properties: connack.properties,
                });
            }
            Packet::Publish(publish) => self.handle_publish(publish, now)?,
            Packet::PubAck(ack) => self.finish(ack, Awaiting::Ack, "PUBACK", now),
            Packet::PubRec(ack) => {
                let mid = ack.packet_id.get();
                match self.inflight.get(&mid) {
                    Some(Awaiting::Rec) if ack.reason.is_error() => {
                        self.finish(ack, Awaiting::Rec, "PUBREC", now);
                    }
                    Some(Awaiting::Rec | Awaiting::Comp) => {
                        self.inflight.insert(mid, Awaiting::Comp);
                        self.queue(Packet::PubRel(success_ack(ack.packet_id)), mid, now);
                    }
                    _ => self.unknown_id("PUBREC", mid),
                }
            }
            Packet::PubRel(ack) => {
                let mid = ack.packet_id.get();
                let stored = self.incoming_qos2.remove(&mid);
                self.queue(Packet::PubComp(success_ack(ack.packet_id)), mid, now);
                match stored {
                    Some(Some(message)) => self.events.push_back(Event::Message(message)),
                    Some(None) => {}
                    None => self.unknown_id("PUBREL", mid),
                }
            }
            Packet::PubComp(ack) => self.finish(ack, Awaiting::Comp, "PUBCOMP", now),
            Packet::SubAck(suback) => self.events.push_back(Event::SubAck {
                mid: suback.packet_id.get(),
                granted: suback.reasons.iter().map(|reason| reason.as_u8()).collect(),
                properties: suback.properties,
            }),
            Packet::UnsubAck(unsuback) => {
                self.events.push_back(Event::UnsubAck { mid: unsuback.packet_id.get() });
            }
            Packet::PingResp => self.ping_outstanding = false,
            Packet::Disconnect(disconnect) => {
                self.connected = false;
                self.events
                    .push_back(Event::ServerDisconnect { reason: disconnect.reason.as_u8() });
            }
            Packet::Auth(_) => {}
            Packet::Connect(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq => {
                return Err(SessionError::Protocol("the broker sent a packet only clients send"));
            }
        }
        Ok(())
    }

    fn handle_publish(&mut self, publish: Publish, now: Instant) -> Result<(), SessionError> {
        let mid = publish.packet_id.map_or(0, PacketId::get);
        let message = Message {
            topic: self.topic_of(&publish),
            payload: publish.payload,
            qos: publish.qos.as_u8(),
            retain: publish.retain,
            mid,
            properties: publish.properties,
        };
        match (publish.qos, publish.packet_id) {
            (QoS::AtMostOnce, _) => self.events.push_back(Event::Message(message)),
            (QoS::AtLeastOnce, Some(id)) => {
                self.queue(Packet::PubAck(success_ack(id)), mid, now);
                self.events.push_back(Event::Message(message));
            }
            (QoS::ExactlyOnce, Some(id)) => {
                // A resent PUBLISH for an id still awaiting PUBREL is not delivered twice.
                self.incoming_qos2.entry(mid).or_insert(Some(message));
                self.queue(Packet::PubRec(success_ack(id)), mid, now);
            }
            (_, None) => return Err(SessionError::Protocol("QoS > 0 PUBLISH without packet id")),
        }
        Ok(())
    }

    /// The topic of a received PUBLISH, as libmosquitto resolves it: a topic with a topic
    /// alias sets the alias up, an empty topic with one stands for the topic set up before.
    fn topic_of(&mut self, publish: &Publish) -> String {
        let topic = publish.topic.as_str();
        match publish.properties.topic_alias {
            Some(alias) if topic.is_empty() => {
                self.aliases.get(&alias).cloned().unwrap_or_default()
            }
            Some(alias) => {
                self.aliases.insert(alias, topic.to_owned());
                topic.to_owned()
            }
            None => topic.to_owned(),
        }
    }

    fn finish(&mut self, ack: Ack, expected: Awaiting, name: &str, now: Instant) {
        let mid = ack.packet_id.get();
        if self.inflight.get(&mid) != Some(&expected) {
            self.unknown_id(name, mid);
            return;
        }
        self.inflight.remove(&mid);
        let reason_string = ack.properties.reason_string.as_ref().map(|s| s.as_str().to_owned());
        self.events.push_back(Event::PublishDone {
            mid,
            reason: ack.reason.as_u8(),
            reason_string,
        });
        self.release_waiting(now);
    }

    fn unknown_id(&mut self, name: &str, mid: u16) {
        let id = self.client_id.as_deref().unwrap_or("(null)");
        self.warnings.push_back(format!(
            "Warning: Received {name} from {id} for an unknown packet identifier {mid}."
        ));
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let interval = self.keep_alive?;
        let from_in = self.last_in + interval;
        Some(match self.next_out_deadline {
            Some(out) => out.min(from_in),
            None => from_in,
        })
    }

    /// Sends PINGREQ when the keep-alive interval passed without traffic.
    ///
    /// # Errors
    /// [`SessionError::KeepaliveTimeout`] when a PINGREQ went unanswered for a whole interval.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        let Some(deadline) = self.poll_timeout() else { return Ok(()) };
        if now < deadline {
            return Ok(());
        }
        if self.connected && !self.ping_outstanding {
            self.ping_outstanding = true;
            self.last_in = now;
            self.queue(Packet::PingReq, 0, now);
            Ok(())
        } else {
            // An unanswered PINGREQ, or no CONNACK within a whole interval (libmosquitto gives
            // up on a silent broker the same way).
            Err(SessionError::KeepaliveTimeout)
        }
    }

    /// The next packet to write.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmit.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next warning line (`Warning: Received PUBACK from … unknown packet identifier …`),
    /// printed only with `-d`.
    pub fn poll_warning(&mut self) -> Option<String> {
        self.warnings.pop_front()
    }
}

/// A success acknowledgement for `packet_id`.
fn success_ack(packet_id: PacketId) -> Ack {
    Ack { packet_id, reason: ReasonCode::Success, properties: Properties::default() }
}

#[cfg(test)]
mod tests;
