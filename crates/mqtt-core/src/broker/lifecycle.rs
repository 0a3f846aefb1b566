//! How connections and sessions end: DISCONNECT, closes for any reason, wills (with delay),
//! keep-alive and CONNECT timeouts, and session expiry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mqtt_codec::{
    Disconnect, MqttString, Packet, PacketType, Properties, PropertyValues, ProtocolVersion,
    ReasonCode,
};

use super::{Broker, DropCause};
use crate::conn::Phase;
use crate::conn::SessionKey;
use crate::event::{ConnId, DisconnectReason, LogEvent, Output};
use crate::message::Message;
use crate::session::EXPIRY_NEVER;
use crate::timers::Timer;

/// The DISCONNECT reason Mosquitto 2.0.11 sends a v5 client whose `packet` failed to decode
/// with `reason`, or `None` when it closes without one (observed, tests/differential/malformed.rs):
/// nothing for a malformed or illegal acknowledgement or DISCONNECT, 0x81 for any malformed or
/// illegal SUBSCRIBE or UNSUBSCRIBE, `reason` otherwise.
pub(super) fn decode_error_answer(
    packet: Option<PacketType>,
    reason: ReasonCode,
) -> Option<ReasonCode> {
    if !matches!(reason, ReasonCode::MalformedPacket | ReasonCode::ProtocolError) {
        return Some(reason);
    }
    let Some(packet) = packet else { return Some(reason) };
    match packet {
        PacketType::PubAck
        | PacketType::PubRec
        | PacketType::PubRel
        | PacketType::PubComp
        | PacketType::Disconnect => None,
        PacketType::Subscribe | PacketType::Unsubscribe => Some(ReasonCode::MalformedPacket),
        _ => Some(reason),
    }
}

/// What a v5 client is told when the broker closes its connection.
enum Farewell {
    /// The DISCONNECT reason that goes with the [`DisconnectReason`], if any.
    ByReason,
    /// DISCONNECT with this code and, with [`Config::reason_strings`](crate::Config::reason_strings), this Reason String.
    Code(ReasonCode, Option<&'static str>),
    /// Nothing: the connection just closes.
    Silent,
}

impl Broker {
    /// DISCONNECT from a connected client.
    pub(super) fn on_disconnect(
        &mut self,
        conn: ConnId,
        key: SessionKey,
        disconnect: &Disconnect,
        now: Instant,
    ) {
        if let Some(new_expiry) = disconnect.properties.session_expiry_interval {
            let Some(session) = self.sessions.get_mut(key) else { return };
            if session.expiry_secs == 0 && new_expiry != 0 {
                self.violation(
                    conn,
                    ReasonCode::ProtocolError,
                    "[v5 MQTT-3.14.2-2] Session Expiry Interval set at DISCONNECT after 0 in CONNECT",
                    now,
                );
                return;
            }
            let changed = session.expiry_secs != new_expiry;
            session.expiry_secs = new_expiry;
            if changed && new_expiry != 0 {
                self.record_session_owner(key, now);
            }
        }
        // [v5 MQTT-3.1.2-10] only a Normal Disconnection (0x00) discards the will.
        let publish_will = disconnect.reason != ReasonCode::Success;
        let reason = DisconnectReason::ClientDisconnected;
        self.close_conn(conn, reason, Farewell::ByReason, publish_will, now);
    }

    /// Ends `conn` abnormally: optional v5 DISCONNECT, log, `Close`, and the will is published
    /// (subject to its delay). `code` overrides the DISCONNECT reason derived from `reason`.
    pub(super) fn drop_conn(
        &mut self,
        conn: ConnId,
        reason: DisconnectReason,
        code: Option<ReasonCode>,
        now: Instant,
    ) {
        let farewell = code.map_or(Farewell::ByReason, |code| Farewell::Code(code, None));
        self.close_conn(conn, reason, farewell, true, now);
    }

    /// Ends `conn` for a broken rule without a DISCONNECT, even to a v5 client (as Mosquitto
    /// 2.0.11 does on a second CONNECT, for example); the will is published.
    pub(super) fn close_silently(&mut self, conn: ConnId, reason: DisconnectReason, now: Instant) {
        self.close_conn(conn, reason, Farewell::Silent, true, now);
    }

    /// The client broke a rule: a v5 client gets DISCONNECT with `code` (and `text` as Reason
    /// String with [`Config::reason_strings`](crate::Config::reason_strings)); the connection
    /// closes and the will is published.
    pub(super) fn violation(
        &mut self,
        conn: ConnId,
        code: ReasonCode,
        text: &'static str,
        now: Instant,
    ) {
        let reason = match code {
            ReasonCode::MalformedPacket => DisconnectReason::MalformedPacket,
            ReasonCode::PacketTooLarge => DisconnectReason::PacketTooLarge,
            ReasonCode::RetainNotSupported => DisconnectReason::QosOrRetainNotSupported,
            ReasonCode::QoSNotSupported => DisconnectReason::QosNotSupported,
            _ => DisconnectReason::ProtocolError,
        };
        let text = self.config.reason_strings.then_some(text);
        self.close_conn(conn, reason, Farewell::Code(code, text), true, now);
    }

    /// Ends `conn` because another connection took over its client id; its will is published
    /// when `publish_will` (the session ends with it).
    pub(super) fn close_taken_over(&mut self, conn: ConnId, publish_will: bool, now: Instant) {
        self.close_conn(conn, DisconnectReason::TakenOver, Farewell::ByReason, publish_will, now);
    }

    fn close_conn(
        &mut self,
        conn: ConnId,
        reason: DisconnectReason,
        farewell: Farewell,
        publish_will: bool,
        now: Instant,
    ) {
        let Some(state) = self.conns.remove(&conn) else { return };
        self.limits.connections.sub(1);
        if let Some(at) = state.timer_at() {
            self.timers.cancel(at, Timer::Conn(conn));
        }
        let key = state.session();
        // What waited for the other shards goes out first, as sent (or is dropped, if it waits
        // for durability: see `held`).
        self.end_wait(conn);
        // [v5 MQTT-4.13.1-1] DISCONNECT only after CONNACK, and only v5 has one from the server.
        if key.is_some() && state.protocol == ProtocolVersion::V5 {
            let said = match farewell {
                Farewell::ByReason => reason.v5_disconnect_code().map(|code| (code, None)),
                Farewell::Code(code, text) => Some((code, text)),
                Farewell::Silent => None,
            };
            if let Some((code, text)) = said {
                let properties = Properties::from(PropertyValues {
                    reason_string: text.map(MqttString::from_static),
                    ..PropertyValues::default()
                });
                let mut packet = Packet::Disconnect(Disconnect { reason: code, properties });
                let size =
                    mqtt_codec::encoded_len(&packet, ProtocolVersion::V5).unwrap_or(usize::MAX);
                if state.max_packet_out.is_some_and(|max| size > max.get() as usize) {
                    // [v5 MQTT-3.14.2-3] drop the Reason String rather than exceed the client's
                    // Maximum Packet Size.
                    packet = Packet::Disconnect(Disconnect {
                        reason: code,
                        properties: Properties::default(),
                    });
                }
                self.send(conn, packet);
            }
        }
        let client_id = key.and_then(|k| self.sessions.get(k)).map(|s| s.client_id.to_string());
        self.log_disconnect(conn, client_id, reason.clone());
        self.outputs.push_back(Output::Close { conn, reason });
        if let Some(key) = key {
            self.detach(key, publish_will, now);
        }
    }

    /// The session lost its connection: publish or schedule the will, then end the session or
    /// start its expiry.
    fn detach(&mut self, key: SessionKey, publish_will: bool, now: Instant) {
        let max_offline = self.config.persistent_client_expiration;
        let Some(session) = self.sessions.get_mut(key) else { return };
        session.conn = None;
        if !publish_will {
            session.will = None;
        }
        let expiry = session.expiry_secs;
        let will_delay = session.will.as_ref().map(|w| w.delay_secs);
        if expiry == 0 {
            self.end_session(key, now);
            return;
        }
        let mut expires_in =
            (expiry != EXPIRY_NEVER).then(|| Duration::from_secs(u64::from(expiry)));
        if let Some(max) = max_offline {
            expires_in = Some(expires_in.map_or(max, |e| e.min(max)));
        }
        let expires_at = expires_in.map(|after| now + after);
        if let Some(at) = expires_at {
            session.expires_at = Some(at);
            self.timers.set(at, Timer::SessionExpiry(key));
        }
        match will_delay {
            Some(0) => self.publish_will(key, now),
            Some(delay) => {
                let at = now + Duration::from_secs(u64::from(delay));
                if let Some(will) = &mut session.will {
                    will.due = Some(at);
                    self.timers.set(at, Timer::Will(key));
                }
            }
            None => {}
        }
        if let Some(at) = expires_at {
            self.record_detached(key, at);
        }
    }

    /// The session ends (clean start, expiry, or expiry 0 at disconnect): its pending will is
    /// published ([v5 MQTT-3.1.3-9]: "or the Session ends"), its subscriptions go.
    pub(super) fn end_session(&mut self, key: SessionKey, now: Instant) {
        self.changes += 1;
        self.publish_will(key, now);
        self.record_session_gone(key);
        let Some(session) = self.sessions.remove(key) else { return };
        if let Some(at) = session.expires_at {
            self.timers.cancel(at, Timer::SessionExpiry(key));
        }
        for filter in session.subscriptions.keys() {
            self.unsubscribe_in_tree(filter, key);
        }
    }

    /// Publishes the session's will, if it has one, as a message from that client.
    fn publish_will(&mut self, key: SessionKey, now: Instant) {
        let Some(session) = self.sessions.get_mut(key) else { return };
        let Some(will) = session.will.take() else { return };
        if let Some(at) = will.due {
            self.timers.cancel(at, Timer::Will(key));
        }
        let client_id = session.client_id.to_string();
        let username = session.username.as_deref().map(str::to_owned);
        let listener = session.listener;
        if !self.may_publish(listener, &client_id, username.as_deref(), will.topic.as_str()) {
            self.stats.dropped(DropCause::NotAuthorized);
            return;
        }
        let will = *will;
        let id = self.durable.message();
        let mut message = self.charged(Message::from_publish(
            id,
            will.topic,
            will.payload,
            will.qos,
            will.retain,
            will.properties,
            now,
        ));
        self.note_source(&mut message, key);
        self.route(Arc::new(message), Some(key), now);
    }

    /// A connection's deadline: CONNECT not received in time, or keep alive exceeded.
    pub(super) fn on_conn_timer(&mut self, conn: ConnId, fired_at: Instant, now: Instant) {
        let connect_timeout = self.config.connect_timeout;
        let Some(state) = self.conns.get_mut(&conn) else { return };
        if state.timer_at() != Some(fired_at) {
            return;
        }
        state.set_timer_at(None);
        let deadline = match state.phase {
            Phase::Connected(_) => match state.keep_alive_limit() {
                Some(limit) => state.last_in() + limit,
                None => return,
            },
            _ => state.opened_at + connect_timeout,
        };
        if deadline > now {
            // Packets arrived since the entry was set: look again at the real deadline.
            state.set_timer_at(Some(deadline));
            self.timers.set(deadline, Timer::Conn(conn));
            return;
        }
        self.drop_conn(conn, DisconnectReason::KeepAliveTimeout, None, now);
    }

    /// A delayed will is due.
    pub(super) fn on_will_timer(&mut self, key: SessionKey, now: Instant) {
        let due = self
            .sessions
            .get(key)
            .and_then(|s| s.will.as_ref().filter(|_| s.conn.is_none()))
            .is_some_and(|will| will.due.is_some_and(|at| at <= now));
        if due {
            self.publish_will(key, now);
        }
    }

    /// A detached session's expiry is due.
    pub(super) fn on_expiry_timer(&mut self, key: SessionKey, now: Instant) {
        let Some(session) = self.sessions.get(key) else { return };
        if session.conn.is_some() || session.expires_at.is_none_or(|at| at > now) {
            return;
        }
        let client_id = session.client_id.to_string();
        self.log(LogEvent::SessionExpired { client_id });
        self.stats.clients_expired += 1;
        self.end_session(key, now);
    }
}
