//! CONNECT: client-id rules, authentication, session takeover/resumption and the CONNACK.

use std::time::{Duration, Instant};

use mqtt_codec::{
    ConnAck, Connect, MqttString, Packet, Properties, ProtocolVersion, QoS, ReasonCode, TopicName,
    Will,
};

use super::Broker;
use crate::config::Config;
use crate::conn::{Authenticating, Phase};
use crate::event::{
    CertificateUsername, ConnId, DisconnectReason, INTERNAL_LISTENER, LogEvent, Output, PeerInfo,
    WillInfo,
};
use crate::mount;
use crate::session::{EXPIRY_NEVER, PendingWill, Session, SessionKey};
use crate::timers::Timer;

/// Why a CONNECT is turned away, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Refusal {
    /// A refusing CONNACK with this code, then close ([`Broker::refuse`]).
    ConnAck(ReasonCode, DisconnectReason),
    /// Close without a CONNACK.
    Close(DisconnectReason),
}

impl Refusal {
    /// A refusing CONNACK whose log line names the code.
    const fn code(code: ReasonCode) -> Self {
        Self::ConnAck(code, DisconnectReason::ConnectRefused(code))
    }

    /// "Not authorised", as a CONNACK.
    const fn not_authorized() -> Self {
        Self::ConnAck(ReasonCode::NotAuthorized, DisconnectReason::NotAuthorized)
    }

    /// A v5 client gets a CONNACK with `code`; 3.x clients are closed without one.
    const fn by_version(
        version: ProtocolVersion,
        code: ReasonCode,
        reason: DisconnectReason,
    ) -> Self {
        if matches!(version, ProtocolVersion::V5) {
            Self::ConnAck(code, reason)
        } else {
            Self::Close(reason)
        }
    }
}

impl Broker {
    /// First CONNECT on a connection: validate, then authenticate or accept.
    pub(super) fn on_connect(&mut self, conn: ConnId, connect: Connect, now: Instant) {
        let Some(state) = self.conns.get_mut(&conn) else { return };
        state.protocol = connect.protocol;
        state.bridge = connect.bridge;
        let listener = state.peer.listener;
        if listener == INTERNAL_LISTENER {
            let client_id = connect.client_id.as_str().to_owned();
            self.accept(conn, connect, client_id, false, now);
            return;
        }
        let (client_id, assigned) = match self.check_connect(conn, &connect, listener) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                self.turn_away(conn, refusal, now);
                return;
            }
        };
        let from_certificate =
            self.conns.get(&conn).and_then(|state| state.peer.certificate_username.clone());
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
            (self.ids.generate(&security.auto_id_prefix), true)
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
        self.take_over(conn, &client_id, now);
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
            session.username.clone_from(&username);
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

    /// Takes over a live connection with the same client id: logs it and closes the old one.
    fn take_over(&mut self, conn: ConnId, client_id: &str, now: Instant) {
        let Some(key) = self.sessions.find(client_id) else { return };
        let Some(old_conn) = self.sessions.get(key).and_then(|s| s.conn) else { return };
        self.log(LogEvent::SessionTakenOver {
            client_id: client_id.to_owned(),
            old_conn,
            new_conn: conn,
        });
        self.drop_conn(old_conn, DisconnectReason::TakenOver, None, now);
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
        Some((state.peer.clone(), state.bridge))
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

/// The will's QoS and retain flag against `max_qos` and `retain_available`.
fn check_will(config: &Config, connect: &Connect, listener: usize) -> Result<(), Refusal> {
    let Some(will) = &connect.will else { return Ok(()) };
    let version = connect.protocol;
    if will.retain && !config.retain_available {
        return Err(Refusal::by_version(
            version,
            ReasonCode::RetainNotSupported,
            DisconnectReason::QosOrRetainNotSupported,
        ));
    }
    if will.qos > config.options_of(listener).max_qos {
        return Err(Refusal::by_version(
            version,
            ReasonCode::QoSNotSupported,
            DisconnectReason::QosNotSupported,
        ));
    }
    Ok(())
}

/// Credentials the broker refuses whatever they are: v5 enhanced authentication (not
/// supported), and a 3.x password without a username.
fn check_credentials(connect: &Connect) -> Result<(), Refusal> {
    if connect.properties.authentication_method.is_some() {
        return Err(Refusal::code(ReasonCode::BadAuthenticationMethod));
    }
    if connect.protocol != ProtocolVersion::V5
        && connect.username.is_none()
        && connect.password.is_some()
    {
        // [v3.1.1 MQTT-3.1.2-22] a password needs a username; Mosquitto closes without CONNACK.
        return Err(Refusal::Close(DisconnectReason::ProtocolError));
    }
    Ok(())
}

/// `use_username_as_clientid`: the username replaces the client id (a client without one is
/// refused). A certificate's name is applied in `connect_with_certificate` instead, once it
/// has become the username.
fn username_as_client_id(
    config: &Config,
    connect: &Connect,
    listener: usize,
    client_id: String,
    from_certificate: bool,
) -> Result<String, Refusal> {
    if !config.options_of(listener).use_username_as_clientid || from_certificate {
        return Ok(client_id);
    }
    match &connect.username {
        Some(username) => Ok(username.as_str().to_owned()),
        None => Err(Refusal::not_authorized()),
    }
}

/// The session expiry a CONNECT asks for, in seconds: v5 says it; 3.x sessions end with the
/// connection when clean and never otherwise.
fn session_expiry(connect: &Connect) -> u32 {
    match connect.protocol {
        ProtocolVersion::V5 => connect.properties.session_expiry_interval.unwrap_or(0),
        _ if connect.clean_start => 0,
        _ => EXPIRY_NEVER,
    }
}

/// The will to keep for the session, under the listener's `mount_point`; `None` when the
/// mounted topic would be too long (the will is dropped).
fn pending_will(will: Will, mount_point: Option<&str>) -> Option<Box<PendingWill>> {
    let mut properties = will.properties;
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
}

/// The keep alive to enforce and the Server Keep Alive to announce: v5 clients get
/// `max_keepalive` when they ask for 0 or more. The runtime's own (internal) connections never
/// time out.
fn keep_alive(
    config: &Config,
    version: ProtocolVersion,
    listener: usize,
    requested: u16,
) -> (u16, Option<u16>) {
    if version == ProtocolVersion::V5
        && listener != INTERNAL_LISTENER
        && (requested == 0 || requested > config.max_keepalive)
    {
        (config.max_keepalive, Some(config.max_keepalive))
    } else {
        (requested, None)
    }
}

/// The v5 CONNACK properties: the broker's limits, the Server Keep Alive, and the client id
/// the broker assigned, if it did.
fn connack_properties(
    config: &Config,
    listener: usize,
    server_keep_alive: Option<u16>,
    assigned_id: Option<&str>,
) -> Properties {
    let max_qos = config.options_of(listener).max_qos;
    Properties {
        topic_alias_maximum: (config.max_topic_alias > 0).then_some(config.max_topic_alias),
        receive_maximum: (config.max_inflight_messages > 0).then_some(config.max_inflight_messages),
        maximum_packet_size: (config.max_packet_size > 0).then_some(config.max_packet_size),
        retain_available: (!config.retain_available).then_some(0),
        server_keep_alive,
        maximum_qos: (max_qos != QoS::ExactlyOnce).then_some(max_qos.as_u8()),
        assigned_client_identifier: assigned_id.and_then(|id| MqttString::new(id).ok()),
        ..Properties::default()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::tests::harness::{Harness, mqtt_string};

    fn v5() -> Connect {
        Harness::connect_packet("c").v5().0.clone()
    }

    #[test]
    fn a_will_the_listener_cannot_honour_is_refused_by_version() {
        let config = Config { retain_available: false, ..Config::default() };
        let mut builder = Harness::connect_packet("c");
        builder.will("w", "x").will_retain();
        assert_eq!(
            check_will(&config, &builder.0, 0),
            Err(Refusal::Close(DisconnectReason::QosOrRetainNotSupported))
        );
        builder.v5();
        assert_eq!(
            check_will(&config, &builder.0, 0),
            Err(Refusal::ConnAck(
                ReasonCode::RetainNotSupported,
                DisconnectReason::QosOrRetainNotSupported
            ))
        );
        assert_eq!(check_will(&Config::default(), &builder.0, 0), Ok(()));
    }

    #[test]
    fn credentials_without_a_username_or_with_enhanced_auth_are_refused() {
        let mut connect = Harness::connect_packet("c").password("p").0.clone();
        assert_eq!(
            check_credentials(&connect),
            Err(Refusal::Close(DisconnectReason::ProtocolError))
        );
        connect.protocol = ProtocolVersion::V5;
        assert_eq!(check_credentials(&connect), Ok(()));
        connect.properties.authentication_method = Some(mqtt_string("SCRAM"));
        assert_eq!(
            check_credentials(&connect),
            Err(Refusal::code(ReasonCode::BadAuthenticationMethod))
        );
    }

    #[test]
    fn the_username_becomes_the_client_id_only_when_configured() {
        let mut config = Config::default();
        let anonymous = v5();
        let named = Harness::connect_packet("c").username("alice").0.clone();
        assert_eq!(username_as_client_id(&config, &named, 0, "c".into(), false), Ok("c".into()));
        config.listener_options = vec![crate::config::ListenerOptions {
            use_username_as_clientid: true,
            ..Default::default()
        }];
        assert_eq!(
            username_as_client_id(&config, &named, 0, "c".into(), false),
            Ok("alice".into())
        );
        assert_eq!(
            username_as_client_id(&config, &anonymous, 0, "c".into(), false),
            Err(Refusal::not_authorized())
        );
        assert_eq!(username_as_client_id(&config, &anonymous, 0, "c".into(), true), Ok("c".into()));
    }

    #[test]
    fn session_expiry_follows_the_version() {
        let mut connect = v5();
        assert_eq!(session_expiry(&connect), 0);
        connect.properties.session_expiry_interval = Some(30);
        assert_eq!(session_expiry(&connect), 30);
        let mut connect = Harness::connect_packet("c").0.clone();
        assert_eq!(session_expiry(&connect), 0);
        connect.clean_start = false;
        assert_eq!(session_expiry(&connect), EXPIRY_NEVER);
    }

    #[test]
    fn a_will_is_mounted_and_loses_its_delay_property() {
        let mut builder = Harness::connect_packet("c");
        builder.v5().will("w", "bye").will_delay(5);
        let will = builder.0.will.clone().expect("a will");
        let pending = pending_will(will.clone(), Some("m/")).expect("a short topic");
        assert_eq!(pending.topic.as_str(), "m/w");
        assert_eq!(pending.delay_secs, 5);
        assert_eq!(pending.properties.will_delay_interval, None);
        assert_eq!(pending.payload, Bytes::from_static(b"bye"));
        let long = "m".repeat(65535);
        assert!(pending_will(will, Some(&long)).is_none());
    }

    #[test]
    fn v5_clients_get_a_server_keep_alive_when_they_ask_for_none_or_too_much() {
        let config = Config { max_keepalive: 100, ..Config::default() };
        assert_eq!(keep_alive(&config, ProtocolVersion::V5, 0, 0), (100, Some(100)));
        assert_eq!(keep_alive(&config, ProtocolVersion::V5, 0, 500), (100, Some(100)));
        assert_eq!(keep_alive(&config, ProtocolVersion::V5, 0, 60), (60, None));
        assert_eq!(keep_alive(&config, ProtocolVersion::V3_1_1, 0, 0), (0, None));
        assert_eq!(keep_alive(&config, ProtocolVersion::V5, INTERNAL_LISTENER, 0), (0, None));
    }

    #[test]
    fn connack_properties_announce_limits_and_the_assigned_id() {
        let config = Config {
            max_topic_alias: 10,
            max_inflight_messages: 0,
            max_packet_size: 0,
            retain_available: false,
            ..Config::default()
        };
        let props = connack_properties(&config, 0, Some(30), Some("auto-1"));
        assert_eq!(props.topic_alias_maximum, Some(10));
        assert_eq!(props.receive_maximum, None);
        assert_eq!(props.maximum_packet_size, None);
        assert_eq!(props.retain_available, Some(0));
        assert_eq!(props.server_keep_alive, Some(30));
        assert_eq!(props.maximum_qos, None);
        assert_eq!(props.assigned_client_identifier, Some(mqtt_string("auto-1")));
    }
}
