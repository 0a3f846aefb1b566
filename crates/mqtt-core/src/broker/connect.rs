//! CONNECT: client-id rules, authentication, session takeover/resumption and the CONNACK. The
//! rules that need no broker state are in `rules`.

mod rules;

use std::num::NonZeroU32;
use std::time::Instant;

use mqtt_codec::{
    ConnAck, Connect, MqttString, Packet, Properties, PropertyValues, ProtocolVersion, ReasonCode,
};

use self::rules::{
    Refusal, check_credentials, check_will, connack_properties, keep_alive, pending_will,
    session_expiry, username_as_client_id,
};
use super::Broker;
use crate::conn::SessionKey;
use crate::conn::{Authenticating, Phase};
use crate::event::{
    BRIDGE_USER_LISTENER, CertificateUsername, ConnId, DisconnectReason, INTERNAL_LISTENER,
    LogEvent, Output, PeerInfo, WillInfo,
};
use crate::session::Session;
use crate::timers::Timer;

impl Broker {
    /// First CONNECT on a connection: validate, then authenticate or accept.
    pub(super) fn on_connect(&mut self, conn: ConnId, connect: Connect, now: Instant) {
        let Some(state) = self.conns.get_mut(&conn) else { return };
        state.protocol = connect.protocol;
        state.bridge = connect.bridge;
        let listener = state.peer.listener;
        if listener == INTERNAL_LISTENER {
            let client_id = connect.client_id.as_str().to_owned();
            // A bridge with a `local_username` logs in like a client of the first listener
            // where that has a password file; without a username it needs none.
            let rules = BRIDGE_USER_LISTENER;
            if connect.username.is_some() && self.config.security_of(rules).password_file {
                self.authenticate_or_accept(conn, connect, client_id, false, rules, now);
            } else {
                self.accept(conn, connect, client_id, false, now);
            }
            return;
        }
        if !self.config.options_of(listener).protocol_versions.contains(connect.protocol) {
            // `accept_protocol_versions`, before every other check.
            self.turn_away(conn, Refusal::code(ReasonCode::UnsupportedProtocolVersion), now);
            return;
        }
        let (client_id, assigned) = match self.check_connect(conn, &connect, listener) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                self.turn_away(conn, refusal, now);
                return;
            }
        };
        let from_certificate = self
            .conns
            .get(&conn)
            .and_then(|state| state.peer.certificate_username.as_deref().cloned());
        if let Some(from_certificate) = from_certificate {
            self.connect_with_certificate(
                conn,
                connect,
                from_certificate,
                client_id,
                assigned,
                now,
            );
            return;
        }
        self.authenticate_or_accept(conn, connect, client_id, assigned, listener, now);
    }

    /// Mosquitto's checks of a CONNECT from outside, in its order (the will, the client id
    /// before the credentials); the client id to use and whether the broker assigned it.
    fn check_connect(
        &mut self,
        conn: ConnId,
        connect: &Connect,
        listener: usize,
    ) -> Result<(String, bool), Refusal> {
        check_will(&self.config, connect, listener)?;
        let (client_id, assigned) = self.choose_client_id(connect, listener)?;
        check_credentials(connect)?;
        let from_certificate =
            self.conns.get(&conn).is_some_and(|state| state.peer.certificate_username.is_some());
        let client_id =
            username_as_client_id(&self.config, connect, listener, client_id, from_certificate)?;
        Ok((client_id, assigned))
    }

    /// The CONNECT's client id, or a generated one where an empty id is allowed; then
    /// `clientid_prefixes`.
    fn choose_client_id(
        &mut self,
        connect: &Connect,
        listener: usize,
    ) -> Result<(String, bool), Refusal> {
        let security = self.config.security_of(listener);
        let (client_id, assigned) = if connect.client_id.is_empty() {
            let allowed = match connect.protocol {
                // [v3.1] a client id of 1 to 23 characters is required.
                ProtocolVersion::V3_1 => false,
                // [v3.1.1 MQTT-3.1.3-8] an empty id needs clean session 1.
                ProtocolVersion::V3_1_1 => {
                    connect.clean_start && security.allow_zero_length_clientid
                }
                ProtocolVersion::V5 => security.allow_zero_length_clientid,
            };
            if !allowed {
                return Err(Refusal::code(ReasonCode::ClientIdentifierNotValid));
            }
            (
                super::forward::assign_client_id(
                    &mut self.ids,
                    self.shard,
                    &security.auto_id_prefix,
                ),
                true,
            )
        } else {
            (connect.client_id.as_str().to_owned(), false)
        };
        if self
            .config
            .clientid_prefixes
            .as_deref()
            .is_some_and(|prefix| !client_id.starts_with(prefix))
        {
            return Err(Refusal::not_authorized());
        }
        Ok((client_id, assigned))
    }

    /// Ends a refused CONNECT: with a CONNACK or without.
    fn turn_away(&mut self, conn: ConnId, refusal: Refusal, now: Instant) {
        match refusal {
            Refusal::ConnAck(code, reason) => self.refuse(conn, code, reason),
            Refusal::Close(reason) => self.drop_conn(conn, reason, None, now),
        }
    }

    /// With a username and a password file, asks the runtime to check the password (the
    /// connection waits in `Phase::Authenticating`); otherwise accepts, or refuses an anonymous
    /// client where `allow_anonymous` is off.
    fn authenticate_or_accept(
        &mut self,
        conn: ConnId,
        connect: Connect,
        client_id: String,
        assigned: bool,
        listener: usize,
        now: Instant,
    ) {
        let security = self.config.security_of(listener);
        match &connect.username {
            Some(username) if security.password_file => {
                let request = Output::Authenticate {
                    conn,
                    client_id: client_id.clone(),
                    username: username.as_str().to_owned(),
                    password: connect.password.clone(),
                    listener,
                };
                if let Some(state) = self.conns.get_mut(&conn) {
                    state.phase = Phase::Authenticating(Box::new(Authenticating {
                        connect,
                        client_id,
                        assigned,
                        pending: Vec::new(),
                    }));
                }
                self.outputs.push_back(request);
            }
            _ if !security.allow_anonymous => self.turn_away(conn, Refusal::not_authorized(), now),
            _ => self.accept(conn, connect, client_id, assigned, now),
        }
    }

    /// `use_identity_as_username` / `use_subject_as_username`: the certificate's name replaces
    /// the CONNECT's username and password, and neither the password file nor
    /// `allow_anonymous` is consulted (Mosquitto 2.0). Without a name: "bad username or
    /// password".
    fn connect_with_certificate(
        &mut self,
        conn: ConnId,
        mut connect: Connect,
        from_certificate: CertificateUsername,
        client_id: String,
        assigned: bool,
        now: Instant,
    ) {
        let name = match from_certificate {
            CertificateUsername::Name(name) => MqttString::new(&name).ok(),
            CertificateUsername::Missing => None,
        };
        let Some(name) = name else {
            let code = ReasonCode::BadUserNameOrPassword;
            self.refuse(conn, code, DisconnectReason::ConnectRefused(code));
            return;
        };
        let listener = self.conns.get(&conn).map_or(0, |state| state.peer.listener);
        let client_id = if self.config.options_of(listener).use_username_as_clientid {
            name.as_str().to_owned()
        } else {
            client_id
        };
        connect.username = Some(name);
        connect.password = None;
        self.accept(conn, connect, client_id, assigned, now);
    }

    /// Sends a refusing CONNACK, logs and closes. The connection never had a client id.
    pub(super) fn refuse(&mut self, conn: ConnId, code: ReasonCode, reason: DisconnectReason) {
        let Some(state) = self.conns.remove(&conn) else { return };
        self.limits.connections.sub(1);
        if let Some(at) = state.timer_at() {
            self.timers.cancel(at, Timer::Conn(conn));
        }
        // A will above the listener's max_qos: v5 is told the maximum, as Mosquitto does.
        let max_qos = self.config.options_of(state.peer.listener).max_qos;
        let properties = Properties::from(PropertyValues {
            maximum_qos: (code == ReasonCode::QoSNotSupported).then_some(max_qos.as_u8()),
            ..PropertyValues::default()
        });
        self.send(
            conn,
            Packet::ConnAck(ConnAck { session_present: false, reason: code, properties }),
        );
        self.log_disconnect(conn, None, reason.clone());
        self.outputs.push_back(Output::Close { conn, reason });
    }

    /// The client is in: take over or resume its session, send CONNACK, re-send what is owed.
    pub(super) fn accept(
        &mut self,
        conn: ConnId,
        connect: Connect,
        client_id: String,
        assigned: bool,
        now: Instant,
    ) {
        let version = connect.protocol;
        if self.over_max_clients(conn, &client_id) {
            let code = ReasonCode::ServerBusy;
            let refusal =
                Refusal::by_version(version, code, DisconnectReason::ConnectRefused(code));
            self.turn_away(conn, refusal, now);
            return;
        }
        self.changes += 1;
        self.take_over(conn, &client_id, connect.clean_start, now);
        let (key, session_present) =
            self.open_session(&client_id, version, connect.clean_start, now);

        let expiry_secs = session_expiry(&connect);
        let username = connect.username.as_ref().map(|u| u.as_str().to_owned());
        let listener = self.conns.get(&conn).map_or(0, |state| state.peer.listener);
        let mount_point = self.config.options_of(listener).mount_point.as_deref();
        let will = connect.will.and_then(|will| pending_will(will, mount_point));
        let will_info = will.as_ref().map(|w| WillInfo {
            topic: w.topic.as_str().to_owned(),
            payload_len: w.payload.len(),
            qos: w.qos,
            retain: w.retain,
        });
        // The session now belongs to this connection.
        if let Some(session) = self.sessions.get_mut(key) {
            session.conn = Some(conn);
            session.listener = listener;
            session.protocol = version;
            session.username = username.as_deref().map(Box::from);
            session.expiry_secs = expiry_secs;
            session.will = will;
        }
        self.record_session_owner(key, now);

        let (keep_alive, server_keep_alive) =
            keep_alive(&self.config, version, listener, connect.keep_alive);
        let Some((peer, bridge)) =
            self.attach_connection(conn, key, &connect.properties, keep_alive, now)
        else {
            return;
        };
        if let Some(state) = self.conns.get_mut(&conn) {
            state.clean_start = connect.clean_start;
        }
        if peer.listener != INTERNAL_LISTENER {
            if self.config.connection_messages {
                self.log(LogEvent::ClientConnected {
                    conn,
                    peer,
                    client_id: client_id.clone(),
                    protocol: version,
                    clean_start: connect.clean_start,
                    keep_alive: connect.keep_alive,
                    username,
                    bridge,
                });
            }
            self.log(LogEvent::WillSpecified { conn, will: will_info });
        }

        let properties = if version == ProtocolVersion::V5 {
            let assigned_id = assigned.then_some(client_id.as_str());
            connack_properties(&self.config, listener, server_keep_alive, assigned_id)
        } else {
            Properties::default()
        };
        self.send(
            conn,
            Packet::ConnAck(ConnAck { session_present, reason: ReasonCode::Success, properties }),
        );
        if session_present {
            self.resend_inflight(conn, key, now);
        }
        self.pump(key, now);
    }

    /// `global_max_clients`: whether admitting `client_id` through `conn` would keep one
    /// session more than allowed. The sessions counted are the others (a client resuming or
    /// taking over its own session adds none); bridges are never refused.
    fn over_max_clients(&self, conn: ConnId, client_id: &str) -> bool {
        let Some(max) = self.config.max_clients else { return false };
        let internal =
            self.conns.get(&conn).is_some_and(|state| state.peer.listener == INTERNAL_LISTENER);
        let own = usize::from(self.sessions.find(client_id).is_some());
        !internal && self.sessions.len_everywhere().saturating_sub(own) >= max
    }

    /// Takes over a live connection with the same client id: logs it and closes the old one.
    /// Its will is published only when its session ends with it (no session kept, or a clean
    /// start): a session the new connection resumes keeps its client online, as in Mosquitto.
    fn take_over(&mut self, conn: ConnId, client_id: &str, clean_start: bool, now: Instant) {
        let Some(key) = self.sessions.find(client_id) else { return };
        let Some(session) = self.sessions.get(key) else { return };
        let Some(old_conn) = session.conn else { return };
        let publish_will = clean_start || session.expiry_secs == 0;
        self.log(LogEvent::SessionTakenOver {
            client_id: client_id.to_owned(),
            old_conn,
            new_conn: conn,
        });
        self.close_taken_over(old_conn, publish_will, now);
    }

    /// The session for `client_id`: a clean start ends the old one, otherwise it resumes; a new
    /// one is made when none is left. Also whether CONNACK says "session present".
    fn open_session(
        &mut self,
        client_id: &str,
        version: ProtocolVersion,
        clean_start: bool,
        now: Instant,
    ) -> (SessionKey, bool) {
        // The old connection's close may have ended the session; look again.
        let existing = self.sessions.find(client_id);
        if let (Some(key), true) = (existing, clean_start) {
            // [v5 MQTT-3.1.2-8] a new connection before the Will Delay Interval has passed
            // cancels the will, even one that starts a new session.
            self.cancel_delayed_will(key);
            self.end_session(key, now);
        }
        match self.sessions.find(client_id) {
            Some(key) => {
                self.resume_session(key);
                (key, version != ProtocolVersion::V3_1)
            }
            None => (self.sessions.insert(Session::new(client_id.to_owned(), version)), false),
        }
    }

    /// Moves the connection to `Phase::Connected`, records the client's limits and arms its
    /// keep-alive timer; the peer and whether it is a bridge, for the connect log line.
    fn attach_connection(
        &mut self,
        conn: ConnId,
        key: SessionKey,
        props: &Properties,
        keep_alive: u16,
        now: Instant,
    ) -> Option<(PeerInfo, bool)> {
        let state = self.conns.get_mut(&conn)?;
        state.phase = Phase::Connected(key);
        state.keep_alive = keep_alive;
        state.max_packet_out = props.maximum_packet_size.and_then(NonZeroU32::new);
        state.receive_max_out = props.receive_maximum.filter(|&max| max > 0).unwrap_or(u16::MAX);
        // A client that sends no Topic Alias Maximum accepts no alias ([v5 MQTT-3.1.2-27]).
        let ours = self.config.options_of(state.peer.listener).max_topic_alias_broker;
        state.alias_max_out = props.topic_alias_maximum.unwrap_or(0).min(ours);
        if let Some(at) = state.take_timer_at() {
            self.timers.cancel(at, Timer::Conn(conn));
        }
        if let Some(limit) = state.keep_alive_limit() {
            let at = now + limit;
            state.set_timer_at(Some(at));
            self.timers.set(at, Timer::Conn(conn));
        }
        Some((state.peer.clone(), state.bridge))
    }

    /// A reconnect arrived for a detached session: stop its expiry and cancel its delayed will
    /// ([v5 MQTT-3.1.3-9]: a will is not sent if the session is resumed within the delay).
    fn resume_session(&mut self, key: SessionKey) {
        let Some(session) = self.sessions.get_mut(key) else { return };
        if let Some(at) = session.expires_at.take() {
            self.timers.cancel(at, Timer::SessionExpiry(key));
        }
        if let Some(at) = session.will.take().and_then(|will| will.due) {
            self.timers.cancel(at, Timer::Will(key));
        }
    }

    /// Drops the session's will if it is waiting for its delay.
    fn cancel_delayed_will(&mut self, key: SessionKey) {
        let Some(session) = self.sessions.get_mut(key) else { return };
        if let Some(at) = session.will.as_ref().and_then(|will| will.due) {
            self.timers.cancel(at, Timer::Will(key));
            session.will = None;
        }
    }
}
