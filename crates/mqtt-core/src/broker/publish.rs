//! Incoming PUBLISH (topic aliases, limits, access, QoS 1/2 acknowledgement and exactly-once
//! for QoS 2) and the acknowledgements of our own outgoing QoS flows.

use std::ops::ControlFlow;
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
use crate::message;
use crate::mount;
use crate::qos::OutState;

/// What the checks decided about an incoming PUBLISH, in Mosquitto's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Route it (QoS 0 and 1) or hold it until PUBREL (QoS 2).
    Accept,
    /// A protocol violation: DISCONNECT with this reason, then close.
    Violation(ReasonCode, &'static str),
    /// QoS above the listener's maximum: logged, then a violation.
    QosTooHigh,
    /// A QoS 2 PUBLISH that is already held: acknowledged again, not delivered again.
    Resent(PacketId),
    /// Dropped (too large, or not authorised) but acknowledged.
    Drop(DropReason, ReasonCode),
    /// Holding it would take the broker above `memory_limit`.
    OutOfMemory,
    /// The session is gone (or a QoS 2 PUBLISH without an id): nothing to do.
    Ignore,
}

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
        if self.resolve_topic(conn, key, &mut publish, version, now).is_break() {
            return;
        }
        match self.judge_publish(key, &publish, version) {
            Verdict::Accept => self.accept_publish(conn, key, publish, version, now),
            Verdict::Violation(code, text) => self.violation(conn, code, text, now),
            Verdict::QosTooHigh => {
                if let Some(session) = self.sessions.get(key) {
                    let client_id = session.client_id.to_string();
                    self.log(LogEvent::QosTooHigh { client_id });
                }
                self.violation(
                    conn,
                    ReasonCode::QoSNotSupported,
                    "[v5 3.2.2.3.4] PUBLISH QoS above the Maximum QoS in CONNACK",
                    now,
                );
            }
            // [v5 MQTT-4.3.3-9] a re-sent QoS 2 PUBLISH is acknowledged, not delivered again.
            Verdict::Resent(id) => self.send(conn, Packet::PubRec(ack(id, ReasonCode::Success))),
            Verdict::Drop(why, code) => self.drop_publish(conn, key, &publish, version, why, code),
            // A v5 client is told, and may try again later; v3 has no way to refuse a
            // message, so the connection closes, as Mosquitto closes every version's.
            Verdict::OutOfMemory if version == ProtocolVersion::V5 => {
                let why = DropReason::MemoryLimit;
                self.drop_publish(conn, key, &publish, version, why, ReasonCode::QuotaExceeded);
            }
            Verdict::OutOfMemory => self.close_silently(conn, DisconnectReason::OutOfMemory, now),
            Verdict::Ignore => {}
        }
    }

    /// The topic the PUBLISH is for: a v5 topic alias resolved, then the listener's
    /// `mount_point` added. `Break` after a protocol error closed `conn`.
    fn resolve_topic(
        &mut self,
        conn: ConnId,
        key: SessionKey,
        publish: &mut Publish,
        version: ProtocolVersion,
        now: Instant,
    ) -> ControlFlow<()> {
        if version == ProtocolVersion::V5 {
            let Some(topic) = self.resolve_alias(conn, publish, now) else {
                return ControlFlow::Break(());
            };
            publish.topic = topic;
        } else if publish.topic.is_empty() {
            self.drop_conn(conn, DisconnectReason::ProtocolError, None, now);
            return ControlFlow::Break(());
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
                return ControlFlow::Break(());
            };
            publish.topic = topic;
        }
        ControlFlow::Continue(())
    }

    /// Checks a PUBLISH (its topic resolved) against the broker's limits, the QoS 2 window
    /// and the access rules; decides nothing by itself.
    fn judge_publish(
        &self,
        key: SessionKey,
        publish: &Publish,
        version: ProtocolVersion,
    ) -> Verdict {
        if publish.retain && !self.config.retain_available {
            return Verdict::Violation(
                ReasonCode::RetainNotSupported,
                "[v5 MQTT-3.3.1-11] retained PUBLISH while Retain Available is 0",
            );
        }
        let Some(session) = self.sessions.get(key) else { return Verdict::Ignore };
        if publish.qos > self.config.options_of(session.listener).max_qos {
            return Verdict::QosTooHigh;
        }
        if publish.qos == QoS::ExactlyOnce {
            let Some(id) = publish.packet_id else { return Verdict::Ignore };
            if session.incoming.contains_key(&id.get()) {
                return Verdict::Resent(id);
            }
            let receive_max = usize::from(self.config.max_inflight_messages);
            if version == ProtocolVersion::V5
                && receive_max > 0
                && session.incoming.len() >= receive_max
            {
                return Verdict::Violation(
                    ReasonCode::ReceiveMaximumExceeded,
                    "[v5 MQTT-3.3.4-9] more QoS 2 PUBLISHes unacknowledged than Receive Maximum",
                );
            }
        }
        // Borrowed, not cloned: this runs for every message.
        if self.config.message_size_limit != 0
            && publish.payload.len() > self.config.message_size_limit as usize
        {
            Verdict::Drop(DropReason::TooLarge, ReasonCode::PacketTooLarge)
        } else if !self.may_publish(
            session.listener,
            &session.client_id,
            session.username.as_deref(),
            publish.topic.as_str(),
        ) {
            Verdict::Drop(DropReason::NotAuthorized, ReasonCode::NotAuthorized)
        } else if self.over_memory_limit(publish) {
            Verdict::OutOfMemory
        } else {
            Verdict::Accept
        }
    }

    /// Whether holding `publish` would take the broker above `memory_limit`.
    fn over_memory_limit(&self, publish: &Publish) -> bool {
        let limit = self.config.memory_limit;
        limit != 0 && {
            let topic = publish.topic.as_str().len();
            let bytes = message::estimated_bytes(topic, publish.payload.len(), &publish.properties);
            self.memory_in_use().saturating_add(bytes) > limit
        }
    }

    /// Drops a PUBLISH: counted, logged, and acknowledged with `code` (v3 has no error PUBREC,
    /// so a v3 QoS 2 flow goes on with PUBREL, which we complete).
    fn drop_publish(
        &mut self,
        conn: ConnId,
        key: SessionKey,
        publish: &Publish,
        version: ProtocolVersion,
        why: DropReason,
        code: ReasonCode,
    ) {
        let Some(session) = self.sessions.get(key) else { return };
        let client_id = session.client_id.to_string();
        let packet_id = publish.packet_id;
        self.stats.dropped(why.into());
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
                    if let Some(session) = self.sessions.get_mut(key) {
                        session.incoming.insert(id.get(), None);
                    }
                    self.record_incoming_dropped(key, id.get());
                }
                self.send(conn, Packet::PubRec(ack(id, code)));
            }
            _ => {}
        }
    }

    /// An accepted PUBLISH: QoS 0 and 1 are routed now (QoS 1 then PUBACK); QoS 2 is held for
    /// the session until PUBREL, then routed (Mosquitto's order).
    fn accept_publish(
        &mut self,
        conn: ConnId,
        key: SessionKey,
        publish: Publish,
        version: ProtocolVersion,
        now: Instant,
    ) {
        let packet_id = publish.packet_id;
        let qos = publish.qos;
        let mut message = self.message_of(publish, now);
        self.note_source(&mut message, key);
        let message = Arc::new(message);
        match (qos, packet_id) {
            (QoS::AtMostOnce, _) => {
                self.route(message, Some(key), now);
            }
            (QoS::AtLeastOnce, Some(id)) => {
                let delivered = self.route_acknowledged(message, key, conn, now);
                self.send(conn, Packet::PubAck(ack(id, publish_ack_code(version, delivered))));
            }
            (QoS::ExactlyOnce, Some(id)) => {
                self.changes += 1;
                self.record_incoming(key, id.get(), &message, now);
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
        // A bridge's local connection skips the reserved-topic rules (its state goes to
        // `$SYS`); `allowed` checks it only when it has a `local_username`.
        if listener == crate::event::INTERNAL_LISTENER {
            return self.allowed(listener, client_id, username, topic, Access::Write);
        }
        acl::reserved_topic_allowed(topic, acl::Access::Write)
            && self.allowed(listener, client_id, username, topic, Access::Write)
    }

    /// PUBREL for an incoming QoS 2 message: route it now, then PUBCOMP.
    pub(super) fn on_pubrel(&mut self, conn: ConnId, key: SessionKey, rel: &Ack, now: Instant) {
        self.changes += 1;
        let Some(session) = self.sessions.get_mut(key) else { return };
        // Routed (and its deliveries journaled) before the release is: a crash between the
        // two can at worst route it again when the PUBREL is re-sent, never lose it.
        let code = match session.incoming.remove(&rel.packet_id.get()) {
            Some(Some(message)) => {
                self.route_acknowledged(message, key, conn, now);
                self.record_released(conn, key, rel.packet_id.get());
                ReasonCode::Success
            }
            Some(None) => {
                self.record_released(conn, key, rel.packet_id.get());
                ReasonCode::Success
            }
            None => {
                let client_id = session.client_id.to_string();
                self.follow_release(conn, &client_id, rel.packet_id.get());
                self.log(LogEvent::UnknownPacketId {
                    client_id,
                    packet: PacketType::PubRel,
                    packet_id: rel.packet_id.get(),
                });
                // Mosquitto 2.0.11 completes an unknown flow with Success, not 0x92 (checked
                // byte for byte in tests/differential).
                ReasonCode::Success
            }
        };
        self.send(conn, Packet::PubComp(ack(rel.packet_id, code)));
    }

    /// Whether `packet` acknowledges one of our messages of the other QoS (PUBACK for QoS 2,
    /// PUBREC or PUBCOMP for QoS 1); Mosquitto 2.0.11 then closes the connection without a
    /// DISCONNECT, and so does this.
    fn wrong_ack(
        &mut self,
        conn: ConnId,
        key: SessionKey,
        id: PacketId,
        packet: PacketType,
        now: Instant,
    ) -> bool {
        let state = self.sessions.get(key).and_then(|s| s.outgoing.state_of(id));
        let wrong = match packet {
            PacketType::PubAck => matches!(state, Some(OutState::Qos2Sent | OutState::Released)),
            _ => state == Some(OutState::Qos1Sent),
        };
        if wrong {
            self.close_silently(conn, DisconnectReason::ProtocolError, now);
        }
        wrong
    }

    /// PUBACK for one of our QoS 1 messages.
    pub(super) fn on_puback(&mut self, conn: ConnId, key: SessionKey, puback: &Ack, now: Instant) {
        if self.wrong_ack(conn, key, puback.packet_id, PacketType::PubAck, now) {
            return;
        }
        self.finish_flight(key, puback.packet_id, OutState::Qos1Sent, PacketType::PubAck);
        self.pump(key, now);
    }

    /// PUBREC for one of our QoS 2 messages: answer PUBREL (or end the flow on a v5 error).
    pub(super) fn on_pubrec(&mut self, conn: ConnId, key: SessionKey, pubrec: &Ack, now: Instant) {
        if self.wrong_ack(conn, key, pubrec.packet_id, PacketType::PubRec, now) {
            return;
        }
        let Some(session) = self.sessions.get_mut(key) else { return };
        let id = pubrec.packet_id;
        if pubrec.reason.is_error() {
            // [v5 MQTT-4.3.3-4] an error PUBREC ends the flow.
            let abandoned = session.outgoing.abandon(id);
            self.record_delivered(key, abandoned);
            self.pump(key, now);
            return;
        }
        if let Some(delivery) = session.outgoing.received(id) {
            self.record_in_flight(key, delivery, id.get(), OutState::Released);
            self.send(conn, Packet::PubRel(ack(id, ReasonCode::Success)));
        } else {
            let client_id = session.client_id.to_string();
            self.log(LogEvent::UnknownPacketId {
                client_id,
                packet: PacketType::PubRec,
                packet_id: id.get(),
            });
            // Mosquitto 2.0.11 releases an unknown flow with Success, not 0x92 (checked byte
            // for byte in tests/differential), as it completes an unknown PUBREL.
            self.send(conn, Packet::PubRel(ack(id, ReasonCode::Success)));
        }
    }

    /// PUBCOMP for one of our QoS 2 messages.
    pub(super) fn on_pubcomp(
        &mut self,
        conn: ConnId,
        key: SessionKey,
        pubcomp: &Ack,
        now: Instant,
    ) {
        if self.wrong_ack(conn, key, pubcomp.packet_id, PacketType::PubComp, now) {
            return;
        }
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
        match session.outgoing.complete(id, expected) {
            Some(delivery) => self.record_delivered(key, Some(delivery)),
            None => {
                let client_id = session.client_id.to_string();
                self.log(LogEvent::UnknownPacketId { client_id, packet, packet_id: id.get() });
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::tests::harness::{Harness, packet_id, publish_packet};

    /// A harness with `config` and one connected client "c", and the client's session.
    fn connected(config: Config, v5: bool) -> (Harness, SessionKey) {
        let mut h = Harness::new(config);
        h.connect_with("c", |c| {
            if v5 {
                c.v5();
            }
            c
        });
        let key = h.broker.sessions.find("c").expect("c's session");
        (h, key)
    }

    #[test]
    fn retain_and_qos_limits_come_first() {
        let config = Config { retain_available: false, ..Config::default() };
        let (h, key) = connected(config, true);
        let retained = publish_packet("t", "x", QoS::AtMostOnce, true, None);
        assert!(matches!(
            h.broker.judge_publish(key, &retained, ProtocolVersion::V5),
            Verdict::Violation(ReasonCode::RetainNotSupported, _)
        ));
        let config = Config {
            listener_options: vec![crate::config::ListenerOptions {
                max_qos: QoS::AtMostOnce,
                ..Default::default()
            }],
            ..Config::default()
        };
        let (h, key) = connected(config, true);
        let qos1 = publish_packet("t", "x", QoS::AtLeastOnce, false, Some(1));
        assert_eq!(h.broker.judge_publish(key, &qos1, ProtocolVersion::V5), Verdict::QosTooHigh);
    }

    #[test]
    fn a_held_qos2_message_is_acknowledged_again_and_the_window_is_enforced() {
        let config = Config { max_inflight_messages: 1, ..Config::default() };
        let (mut h, key) = connected(config, true);
        let first = publish_packet("t", "x", QoS::ExactlyOnce, false, Some(1));
        let second = publish_packet("t", "y", QoS::ExactlyOnce, false, Some(2));
        assert_eq!(h.broker.judge_publish(key, &first, ProtocolVersion::V5), Verdict::Accept);
        let conn = h.broker.sessions.get(key).and_then(|s| s.conn).expect("connected");
        h.send(conn, Packet::Publish(first.clone()));
        assert_eq!(
            h.broker.judge_publish(key, &first, ProtocolVersion::V5),
            Verdict::Resent(packet_id(1))
        );
        assert!(matches!(
            h.broker.judge_publish(key, &second, ProtocolVersion::V5),
            Verdict::Violation(ReasonCode::ReceiveMaximumExceeded, _)
        ));
        // 3.x has no Receive Maximum.
        assert_eq!(h.broker.judge_publish(key, &second, ProtocolVersion::V3_1_1), Verdict::Accept);
    }

    #[test]
    fn oversized_and_reserved_topics_are_dropped_with_a_reason() {
        let config = Config { message_size_limit: 3, ..Config::default() };
        let (h, key) = connected(config, false);
        let large = publish_packet("t", "four", QoS::AtLeastOnce, false, Some(1));
        assert_eq!(
            h.broker.judge_publish(key, &large, ProtocolVersion::V3_1_1),
            Verdict::Drop(DropReason::TooLarge, ReasonCode::PacketTooLarge)
        );
        let sys = publish_packet("$SYS/x", "1", QoS::AtMostOnce, false, None);
        assert_eq!(
            h.broker.judge_publish(key, &sys, ProtocolVersion::V3_1_1),
            Verdict::Drop(DropReason::NotAuthorized, ReasonCode::NotAuthorized)
        );
    }
}
