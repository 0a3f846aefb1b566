//! CONNECT: client-id rules, authentication, session takeover/resumption and the CONNACK.

use std::time::{Duration, Instant};

use mqtt_codec::{
    ConnAck, Connect, MqttString, Packet, Properties, ProtocolVersion, QoS, ReasonCode, TopicName,
};

use super::Broker;
use crate::conn::SessionKey;
use crate::conn::{Authenticating, Phase};
use crate::event::{
    CertificateUsername, ConnId, DisconnectReason, INTERNAL_LISTENER, LogEvent, Output, WillInfo,
};
use crate::mount;
use crate::session::{EXPIRY_NEVER, PendingWill, Session};
use crate::timers::Timer;

impl Broker {
    /// First CONNECT on a connection: validate, then authenticate or accept.
    pub(super) fn on_connect(&mut self, conn: ConnId, connect: Connect, now: Instant) {
        let version = connect.protocol;
        let Some(state) = self.conns.get_mut(&conn) else { return };
        state.protocol = version;
        state.bridge = connect.bridge;
        let listener = state.peer.listener;
        if listener == INTERNAL_LISTENER {
            let client_id = connect.client_id.as_str().to_owned();
            self.accept(conn, connect, client_id, false, now);
            return;
        }
        if let Some(will) = &connect.will {
            if will.retain && !self.config.retain_available {
                if version == ProtocolVersion::V5 {
                    self.refuse(
                        conn,
                        ReasonCode::RetainNotSupported,
                        DisconnectReason::QosOrRetainNotSupported,
                    );
                } else {
                    self.drop_conn(conn, DisconnectReason::QosOrRetainNotSupported, None, now);
                }
                return;
            }
            if will.qos > self.config.options_of(listener).max_qos {
                if version == ProtocolVersion::V5 {
                    self.refuse(
                        conn,
                        ReasonCode::QoSNotSupported,
                        DisconnectReason::QosNotSupported,
                    );
                } else {
                    self.drop_conn(conn, DisconnectReason::QosNotSupported, None, now);
                }
                return;
            }
        }
        // Client id rules (Mosquitto's order: id before credentials).
        let (client_id, assigned) = if connect.client_id.is_empty() {
            let allowed = match version {
                // [v3.1] a client id of 1 to 23 characters is required.
                ProtocolVersion::V3_1 => false,
                // [v3.1.1 MQTT-3.1.3-8] an empty id needs clean session 1.
                ProtocolVersion::V3_1_1 => {
                    connect.clean_start
                        && self.config.security_of(listener).allow_zero_length_clientid
                }
                ProtocolVersion::V5 => self.config.security_of(listener).allow_zero_length_clientid,
            };
            if !allowed {
                let code = ReasonCode::ClientIdentifierNotValid;
                self.refuse(conn, code, DisconnectReason::ConnectRefused(code));
                return;
            }
            (self.ids.generate(&self.config.security_of(listener).auto_id_prefix), true)
        } else {
            (connect.client_id.as_str().to_owned(), false)
        };
        if self
            .config
            .clientid_prefixes
            .as_deref()
            .is_some_and(|prefix| !client_id.starts_with(prefix))
        {
            self.refuse(conn, ReasonCode::NotAuthorized, DisconnectReason::NotAuthorized);
            return;
        }
        if connect.properties.authentication_method.is_some() {
            let code = ReasonCode::BadAuthenticationMethod;
            self.refuse(conn, code, DisconnectReason::ConnectRefused(code));
            return;
        }
        if version != ProtocolVersion::V5
            && connect.username.is_none()
            && connect.password.is_some()
        {
            // [v3.1.1 MQTT-3.1.2-22] a password needs a username; Mosquitto closes without CONNACK.
            self.drop_conn(conn, DisconnectReason::ProtocolError, None, now);
            return;
        }
        let from_certificate =
            self.conns.get(&conn).and_then(|state| state.peer.certificate_username.clone());
        let use_username = self.config.options_of(listener).use_username_as_clientid;
        // `use_username_as_clientid`; a certificate's name is applied in
        // `connect_with_certificate`, once it has become the username.
        let client_id = if !use_username || from_certificate.is_some() {
            client_id
        } else if let Some(username) = &connect.username {
            username.as_str().to_owned()
        } else {
            self.refuse(conn, ReasonCode::NotAuthorized, DisconnectReason::NotAuthorized);
            return;
        };
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
            _ if !security.allow_anonymous => {
                self.refuse(conn, ReasonCode::NotAuthorized, DisconnectReason::NotAuthorized);
            }
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
        if let Some(at) = state.timer_at {
            self.timers.cancel(at, Timer::Conn(conn));
        }
        self.send(
            conn,
            Packet::ConnAck(ConnAck {
                session_present: false,
                reason: code,
                properties: Properties::default(),
            }),
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
        self.changes += 1;
        // Take over a live connection with the same id.
        if let Some(key) = self.sessions.find(&client_id) {
            let old = self.sessions.get(key).and_then(|s| s.conn);
            if let Some(old_conn) = old {
                self.log(LogEvent::SessionTakenOver {
                    client_id: client_id.clone(),
                    old_conn,
                    new_conn: conn,
                });
                self.drop_conn(old_conn, DisconnectReason::TakenOver, None, now);
            }
        }
        // The old connection's close may have ended the session; look again.
        let existing = self.sessions.find(&client_id);
        if let (Some(key), true) = (existing, connect.clean_start) {
            self.end_session(key, now);
        }
        let (key, session_present) = match self.sessions.find(&client_id) {
            Some(key) => {
                self.resume_session(key);
                (key, version != ProtocolVersion::V3_1)
            }
            None => (self.sessions.insert(Session::new(client_id.clone(), version)), false),
        };

        let props = &connect.properties;
        let expiry_secs = match version {
            ProtocolVersion::V5 => props.session_expiry_interval.unwrap_or(0),
            _ if connect.clean_start => 0,
            _ => EXPIRY_NEVER,
        };
        let username = connect.username.as_ref().map(|u| u.as_str().to_owned());
        let listener = self.conns.get(&conn).map_or(0, |state| state.peer.listener);
        let mount_point = self.config.options_of(listener).mount_point.as_deref();
        let will = connect.will.and_then(|will| {
            let mut properties = will.properties;
            // `mount_point`: a will whose topic would be too long once prefixed is dropped.
            let topic = match mount_point {
                Some(mount) => TopicName::new(&mount::topic(mount, will.topic.as_str())).ok()?,
                None => will.topic,
            };
            let delay_secs = properties.will_delay_interval.take().unwrap_or(0);
            Some(Box::new(PendingWill {
                topic,
                payload: will.payload,
                qos: will.qos,
                retain: will.retain,
                properties,
                delay_secs,
            }))
        });
        let will_info = will.as_ref().map(|w| WillInfo {
            topic: w.topic.as_str().to_owned(),
            payload_len: w.payload.len(),
            qos: w.qos,
            retain: w.retain,
        });
        if let Some(session) = self.sessions.get_mut(key) {
            session.conn = Some(conn);
            session.listener = listener;
            session.protocol = version;
            session.username.clone_from(&username);
            session.expiry_secs = expiry_secs;
            session.will = will;
        }

        // Keep alive: v5 clients get Server Keep Alive when they ask for 0 or too much. The
        // runtime's own (internal) connections never time out.
        let mut keep_alive = connect.keep_alive;
        let mut server_keep_alive = None;
        if version == ProtocolVersion::V5
            && listener != INTERNAL_LISTENER
            && (keep_alive == 0 || keep_alive > self.config.max_keepalive)
        {
            keep_alive = self.config.max_keepalive;
            server_keep_alive = Some(keep_alive);
        }
        let Some(state) = self.conns.get_mut(&conn) else { return };
        state.phase = Phase::Connected(key);
        state.keep_alive_limit =
            (keep_alive > 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500));
        state.max_packet_out = props.maximum_packet_size.filter(|&size| size > 0);
        state.receive_max_out = props.receive_maximum.filter(|&max| max > 0).unwrap_or(u16::MAX);
        state.topic_alias_max_out = props.topic_alias_maximum.unwrap_or(0);
        if let Some(at) = state.timer_at.take() {
            self.timers.cancel(at, Timer::Conn(conn));
        }
        if let Some(limit) = state.keep_alive_limit {
            let at = now + limit;
            state.timer_at = Some(at);
            self.timers.set(at, Timer::Conn(conn));
        }
        let peer = state.peer.clone();
        let bridge = state.bridge;
        let internal = peer.listener == INTERNAL_LISTENER;

        if self.config.connection_messages && !internal {
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
        if !internal {
            self.log(LogEvent::WillSpecified { conn, will: will_info });
        }

        let mut properties = Properties::default();
        if version == ProtocolVersion::V5 {
            let config = &self.config;
            properties.topic_alias_maximum =
                (config.max_topic_alias > 0).then_some(config.max_topic_alias);
            properties.receive_maximum =
                (config.max_inflight_messages > 0).then_some(config.max_inflight_messages);
            properties.maximum_packet_size =
                (config.max_packet_size > 0).then_some(config.max_packet_size);
            properties.retain_available = (!config.retain_available).then_some(0);
            properties.server_keep_alive = server_keep_alive;
            let max_qos = config.options_of(listener).max_qos;
            properties.maximum_qos = (max_qos != QoS::ExactlyOnce).then_some(max_qos.as_u8());
            if assigned {
                properties.assigned_client_identifier = MqttString::new(&client_id).ok();
            }
        }
        self.send(
            conn,
            Packet::ConnAck(ConnAck { session_present, reason: ReasonCode::Success, properties }),
        );
        if session_present {
            self.resend_inflight(conn, key, now);
        }
        self.pump(key, now);
    }

    /// A reconnect arrived for a detached session: stop its expiry and cancel its delayed will
    /// ([v5 MQTT-3.1.3-9]: a will is not sent if the session is resumed within the delay).
    fn resume_session(&mut self, key: SessionKey) {
        let Some(session) = self.sessions.get_mut(key) else { return };
        if let Some(at) = session.expires_at.take() {
            self.timers.cancel(at, Timer::SessionExpiry(key));
        }
        if let Some(at) = session.will_at.take() {
            self.timers.cancel(at, Timer::Will(key));
        }
        session.will = None;
    }
}
