//! The pure rules of CONNECT, apart from the broker's state: which CONNECTs are turned away
//! and how (`Refusal`), and what an accepted one asks for (session expiry, will, keep alive,
//! CONNACK properties).

use mqtt_codec::{
    Connect, MqttString, Properties, PropertyValues, ProtocolVersion, QoS, ReasonCode, TopicName,
    Will,
};

use crate::config::Config;
use crate::event::{DisconnectReason, INTERNAL_LISTENER};
use crate::mount;
use crate::session::{EXPIRY_NEVER, PendingWill};

/// Why a CONNECT is turned away, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// A refusing CONNACK with this code, then close (`Broker::refuse`).
    ConnAck(ReasonCode, DisconnectReason),
    /// Close without a CONNACK.
    Close(DisconnectReason),
}

impl Refusal {
    /// A refusing CONNACK whose log line names the code.
    pub(super) const fn code(code: ReasonCode) -> Self {
        Self::ConnAck(code, DisconnectReason::ConnectRefused(code))
    }

    /// "Not authorised", as a CONNACK.
    pub(super) const fn not_authorized() -> Self {
        Self::ConnAck(ReasonCode::NotAuthorized, DisconnectReason::NotAuthorized)
    }

    /// A v5 client gets a CONNACK with `code`; 3.x clients are closed without one.
    pub(super) const fn by_version(
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

/// The will's QoS and retain flag against `max_qos` and `retain_available`, and its payload
/// against `message_size_limit`.
pub(super) fn check_will(
    config: &Config,
    connect: &Connect,
    listener: usize,
) -> Result<(), Refusal> {
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
    let limit = config.message_size_limit;
    if limit != 0 && will.payload.len() > limit as usize {
        // Mosquitto refuses a will payload over message_size_limit: 0x95 for v5, and
        // "not authorised" for 3.x, which has no code for it.
        return Err(Refusal::code(if version == ProtocolVersion::V5 {
            ReasonCode::PacketTooLarge
        } else {
            ReasonCode::NotAuthorized
        }));
    }
    Ok(())
}

/// Credentials the broker refuses whatever they are: v5 enhanced authentication (not
/// supported), and a 3.x password without a username.
pub(super) fn check_credentials(connect: &Connect) -> Result<(), Refusal> {
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
pub(super) fn username_as_client_id(
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
pub(super) fn session_expiry(connect: &Connect) -> u32 {
    match connect.protocol {
        ProtocolVersion::V5 => connect.properties.session_expiry_interval.unwrap_or(0),
        _ if connect.clean_start => 0,
        _ => EXPIRY_NEVER,
    }
}

/// The will to keep for the session, under the listener's `mount_point`; `None` when the
/// mounted topic would be too long (the will is dropped).
pub(super) fn pending_will(will: Will, mount_point: Option<&str>) -> Option<Box<PendingWill>> {
    let mut properties = will.properties;
    let topic = match mount_point {
        Some(mount) => TopicName::new(&mount::topic(mount, will.topic.as_str())).ok()?,
        None => will.topic,
    };
    let delay_secs =
        properties.get_mut().and_then(|values| values.will_delay_interval.take()).unwrap_or(0);
    Some(Box::new(PendingWill {
        topic,
        payload: will.payload,
        qos: will.qos,
        retain: will.retain,
        properties,
        delay_secs,
        due: None,
    }))
}

/// The keep alive to enforce and the Server Keep Alive to announce: v5 clients get
/// `max_keepalive` when they ask for 0 or more. The runtime's own (internal) connections never
/// time out.
pub(super) fn keep_alive(
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
pub(super) fn connack_properties(
    config: &Config,
    listener: usize,
    server_keep_alive: Option<u16>,
    assigned_id: Option<&str>,
) -> Properties {
    let max_qos = config.options_of(listener).max_qos;
    Properties::from(PropertyValues {
        topic_alias_maximum: (config.max_topic_alias > 0).then_some(config.max_topic_alias),
        receive_maximum: (config.max_inflight_messages > 0).then_some(config.max_inflight_messages),
        maximum_packet_size: (config.max_packet_size > 0).then_some(config.max_packet_size),
        retain_available: (!config.retain_available).then_some(0),
        server_keep_alive,
        maximum_qos: (max_qos != QoS::ExactlyOnce).then_some(max_qos.as_u8()),
        assigned_client_identifier: assigned_id.and_then(|id| MqttString::new(id).ok()),
        ..PropertyValues::default()
    })
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
