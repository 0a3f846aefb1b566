//! Incoming PUBLISH (topic aliases, limits, access, QoS 1/2 acknowledgement and exactly-once
//! for QoS 2) and the acknowledgements of our own outgoing QoS flows.

use std::sync::Arc;
use std::time::Instant;

use mqtt_codec::{
    Ack, Packet, PacketId, PacketType, Properties, ProtocolVersion, Publish, QoS, ReasonCode,
    TopicName,
};

use super::Broker;
use crate::access::Access;
use crate::acl;
use crate::conn::SessionKey;
use crate::event::{ConnId, DisconnectReason, DropReason, LogEvent};
use crate::message::Message;
use crate::mount;
use crate::qos::OutState;

impl Broker {
    /// PUBLISH from a connected client.
    pub(super) fn on_publish(
        &mut self,
        conn: ConnId,
        key: SessionKey,
        mut publish: Publish,
        now: Instant,
    ) {
        self.stats.publish_received += 1;
        self.stats.publish_bytes_received += publish.payload.len() as u64;
        let Some(version) = self.conns.get(&conn).map(|c| c.protocol) else { return };
        if version == ProtocolVersion::V5 {
            let Some(topic) = self.resolve_alias(conn, &publish, now) else { return };
            publish.topic = topic;
        } else if publish.topic.is_empty() {
            self.drop_conn(conn, DisconnectReason::ProtocolError, None, now);
            return;
        }
        let listener = self.sessions.get(key).map_or(0, |session| session.listener);
        if let Some(mount) = &self.config.options_of(listener).mount_point {
            let Ok(topic) = TopicName::new(&mount::topic(mount, publish.topic.as_str())) else {
                self.violation(
                    conn,
                    ReasonCode::TopicNameInvalid,
                    "[v5 MQTT-4.7.3-3] topic too long once the listener's mount_point is added",
                    now,
                );
                return;
            };
            publish.topic = topic;
        }
        if publish.retain && !self.config.retain_available {
            self.violation(
                conn,
                ReasonCode::RetainNotSupported,
                "[v5 MQTT-3.3.1-11] retained PUBLISH while Retain Available is 0",
                now,
            );
            return;
        }
        let Some(session) = self.sessions.get(key) else { return };
        if publish.qos > self.config.options_of(session.listener).max_qos {
            let client_id = session.client_id.clone();
            self.log(LogEvent::QosTooHigh { client_id });
            self.violation(
                conn,
                ReasonCode::QoSNotSupported,
                "[v5 3.2.2.3.4] PUBLISH QoS above the Maximum QoS in CONNACK",
                now,
            );
            return;
        }
        let packet_id = publish.packet_id;
        if publish.qos == QoS::ExactlyOnce {
            let Some(id) = packet_id else { return };
            if session.incoming.contains_key(&id.get()) {
                // [v5 MQTT-4.3.3-9] a re-sent QoS 2 PUBLISH is acknowledged, not delivered again.
                self.send(conn, Packet::PubRec(ack(id, ReasonCode::Success)));
                return;
            }
            let receive_max = usize::from(self.config.max_inflight_messages);
            if version == ProtocolVersion::V5
                && receive_max > 0
                && session.incoming.len() >= receive_max
            {
                self.violation(
                    conn,
                    ReasonCode::ReceiveMaximumExceeded,
                    "[v5 MQTT-3.3.4-9] more QoS 2 PUBLISHes unacknowledged than Receive Maximum",
                    now,
                );
                return;
            }
        }
        // Borrowed, not cloned: this runs for every message.
        let drop_why = if self.config.message_size_limit != 0
            && publish.payload.len() > self.config.message_size_limit as usize
        {
            Some((DropReason::TooLarge, ReasonCode::PacketTooLarge))
        } else if !self.may_publish(
            session.listener,
            &session.client_id,
            session.username.as_deref(),
            publish.topic.as_str(),
        ) {
            Some((DropReason::NotAuthorized, ReasonCode::NotAuthorized))
        } else {
            None
        };
        if let Some((why, code)) = drop_why {
            let client_id = session.client_id.clone();
            self.stats.publish_dropped += 1;
            self.log(LogEvent::PublishDropped {
                conn,
                client_id,
                why,
                dup: publish.dup,
                qos: publish.qos,
                retain: publish.retain,
                packet_id: packet_id.map_or(0, PacketId::get),
                topic: publish.topic.as_str().to_owned(),
                payload_len: publish.payload.len(),
            });
            match (publish.qos, packet_id) {
                (QoS::AtLeastOnce, Some(id)) => self.send(conn, Packet::PubAck(ack(id, code))),
                (QoS::ExactlyOnce, Some(id)) => {
                    if version != ProtocolVersion::V5 {
                        // v3 has no error PUBREC: the client goes on with PUBREL, which we complete.
                        if let Some(session) = self.sessions.get_mut(key) {
                            session.incoming.insert(id.get(), None);
                        }
                    }
                    self.send(conn, Packet::PubRec(ack(id, code)));
                }
                _ => {}
            }
            return;
        }

        let message = Arc::new(Message::from_publish(
            publish.topic,
            publish.payload,
            publish.qos,
            publish.retain,
            publish.properties,
            now,
        ));
        match (publish.qos, packet_id) {
            (QoS::AtMostOnce, _) => {
                self.route(message, Some(key), now);
            }
            (QoS::AtLeastOnce, Some(id)) => {
                let delivered = self.route(message, Some(key), now);
                self.send(conn, Packet::PubAck(ack(id, publish_ack_code(version, delivered))));
            }
            (QoS::ExactlyOnce, Some(id)) => {
                // Held until PUBREL, then routed (Mosquitto's order).
                self.changes += 1;
                if let Some(session) = self.sessions.get_mut(key) {
                    session.incoming.insert(id.get(), Some(message));
                }
                self.send(conn, Packet::PubRec(ack(id, ReasonCode::Success)));
            }
            // The codec guarantees a packet id for QoS 1/2.
            _ => {}
        }
    }

    /// Resolves and records v5 topic aliases; `None` after a protocol error closed `conn`.
    fn resolve_alias(
        &mut self,
        conn: ConnId,
        publish: &Publish,
        now: Instant,
    ) -> Option<TopicName> {
        let max = self.config.max_topic_alias;
        let state = self.conns.get_mut(&conn)?;
        let outcome = match publish.properties.topic_alias {
            None if publish.topic.is_empty() => Err((
                ReasonCode::ProtocolError,
                "[v5 MQTT-3.3.2-1] empty topic without a Topic Alias",
            )),
            None => Ok(publish.topic.clone()),
            Some(alias) if alias == 0 || alias > max => Err((
                ReasonCode::TopicAliasInvalid,
                "[v5 MQTT-3.3.2-9] Topic Alias 0 or above Topic Alias Maximum",
            )),
            Some(alias) if publish.topic.is_empty() => state
                .aliases
                .as_ref()
                .and_then(|aliases| aliases.incoming.get(&alias).cloned())
                .ok_or((
                    ReasonCode::ProtocolError,
                    "[v5 3.3.2.3.4] Topic Alias used before it was set",
                )),
            Some(alias) => {
                let aliases = state.aliases.get_or_insert_with(Box::default);
                aliases.incoming.insert(alias, publish.topic.clone());
                Ok(publish.topic.clone())
            }
        };
        match outcome {
            Ok(topic) => Some(topic),
            Err((code, text)) => {
                self.violation(conn, code, text, now);
                None
            }
        }
    }

    /// Whether a client may publish to `topic`: Mosquitto's fixed rules for `$SYS` and `$share`
    /// first, then the ACL hook.
    pub(super) fn may_publish(
        &self,
        listener: usize,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
    ) -> bool {
        listener == crate::event::INTERNAL_LISTENER
            || acl::reserved_topic_allowed(topic, acl::Access::Write)
                && self.allowed(listener, client_id, username, topic, Access::Write)
    }

    /// PUBREL for an incoming QoS 2 message: route it now, then PUBCOMP.
    pub(super) fn on_pubrel(&mut self, conn: ConnId, key: SessionKey, rel: &Ack, now: Instant) {
        self.changes += 1;
        let Some(session) = self.sessions.get_mut(key) else { return };
        let code = match session.incoming.remove(&rel.packet_id.get()) {
            Some(Some(message)) => {
                self.route(message, Some(key), now);
                ReasonCode::Success
            }
            Some(None) => ReasonCode::Success,
            None => {
                let client_id = session.client_id.clone();
                self.log(LogEvent::UnknownPacketId {
                    client_id,
                    packet: PacketType::PubRel,
                    packet_id: rel.packet_id.get(),
                });
                ReasonCode::PacketIdentifierNotFound
            }
        };
        self.send(conn, Packet::PubComp(ack(rel.packet_id, code)));
    }

    /// PUBACK for one of our QoS 1 messages.
    pub(super) fn on_puback(&mut self, _conn: ConnId, key: SessionKey, puback: &Ack, now: Instant) {
        self.finish_flight(key, puback.packet_id, OutState::Qos1Sent, PacketType::PubAck);
        self.pump(key, now);
    }

    /// PUBREC for one of our QoS 2 messages: answer PUBREL (or end the flow on a v5 error).
    pub(super) fn on_pubrec(&mut self, conn: ConnId, key: SessionKey, pubrec: &Ack, now: Instant) {
        let Some(session) = self.sessions.get_mut(key) else { return };
        let id = pubrec.packet_id;
        if pubrec.reason.is_error() {
            // [v5 MQTT-4.3.3-4] an error PUBREC ends the flow.
            session.outgoing.abandon(id);
            self.pump(key, now);
            return;
        }
        if session.outgoing.received(id) {
            self.send(conn, Packet::PubRel(ack(id, ReasonCode::Success)));
        } else {
            let client_id = session.client_id.clone();
            self.log(LogEvent::UnknownPacketId {
                client_id,
                packet: PacketType::PubRec,
                packet_id: id.get(),
            });
            self.send(conn, Packet::PubRel(ack(id, ReasonCode::PacketIdentifierNotFound)));
        }
    }

    /// PUBCOMP for one of our QoS 2 messages.
    pub(super) fn on_pubcomp(
        &mut self,
        _conn: ConnId,
        key: SessionKey,
        pubcomp: &Ack,
        now: Instant,
    ) {
        self.finish_flight(key, pubcomp.packet_id, OutState::Released, PacketType::PubComp);
        self.pump(key, now);
    }

    fn finish_flight(
        &mut self,
        key: SessionKey,
        id: PacketId,
        expected: OutState,
        packet: PacketType,
    ) {
        self.changes += 1;
        let Some(session) = self.sessions.get_mut(key) else { return };
        if !session.outgoing.complete(id, expected) {
            let client_id = session.client_id.clone();
            self.log(LogEvent::UnknownPacketId { client_id, packet, packet_id: id.get() });
        }
    }
}

/// An acknowledgement with no properties.
pub(super) fn ack(packet_id: PacketId, reason: ReasonCode) -> Ack {
    Ack { packet_id, reason, properties: Properties::default() }
}

/// PUBACK reason for a routed message: v5 says when nobody was subscribed.
fn publish_ack_code(version: ProtocolVersion, delivered: usize) -> ReasonCode {
    if version == ProtocolVersion::V5 && delivered == 0 {
        ReasonCode::NoMatchingSubscribers
    } else {
        ReasonCode::Success
    }
}
