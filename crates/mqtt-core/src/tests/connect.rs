//! CONNECT handling: client ids, CONNACK codes per version, authentication, takeover, the
//! first-packet and second-CONNECT rules, and the CONNECT timeout.

use std::time::Duration;

use mqtt_codec::{Packet, PacketType, ProtocolVersion, QoS, ReasonCode};

use super::harness::{Harness, publish_packet};
use crate::{Config, DisconnectReason, ListenerSecurity, LogEvent};

/// A broker whose listener checks passwords (a `password_file` is configured).
fn with_password_file() -> Harness {
    let security = ListenerSecurity { password_file: true, ..ListenerSecurity::default() };
    Harness::new(Config { security, ..Config::default() })
}

#[test]
fn v311_client_is_accepted_and_logged_as_mosquitto_does() {
    let mut h = Harness::default();
    let conn = h.connect_with("sensor", |c| c.keep_alive_secs(30).username("alice"));
    assert_eq!(h.broker.client_id(conn), Some("sensor"));
    let connected = h.logs.iter().find_map(|e| match e {
        LogEvent::ClientConnected {
            client_id,
            protocol,
            clean_start,
            keep_alive,
            username,
            ..
        } => Some((client_id.clone(), *protocol, *clean_start, *keep_alive, username.clone())),
        _ => None,
    });
    assert_eq!(
        connected,
        Some(("sensor".into(), ProtocolVersion::V3_1_1, true, 30, Some("alice".into())))
    );
    assert!(h.logs.iter().any(|e| matches!(e, LogEvent::WillSpecified { will: None, .. })));
}

#[test]
fn v31_client_with_empty_id_is_refused_with_code_2() {
    let mut h = Harness::default();
    let conn = h.try_connect_with("", |c| c.version(ProtocolVersion::V3_1));
    assert_eq!(h.connack(conn).reason, ReasonCode::ClientIdentifierNotValid);
    assert!(h.closed(conn).is_some());
}

#[test]
fn v311_empty_id_with_clean_session_gets_an_auto_id() {
    let mut h = Harness::default();
    let conn = h.connect("");
    let id = h.broker.client_id(conn).expect("accepted").to_owned();
    assert!(id.starts_with("auto-") && id.len() == 5 + 36, "assigned {id}");
}

#[test]
fn v311_empty_id_without_clean_session_is_refused() {
    let mut h = Harness::default();
    let conn = h.try_connect_with("", |c| c.clean(false));
    assert_eq!(h.connack(conn).reason, ReasonCode::ClientIdentifierNotValid);
}

#[test]
fn empty_id_is_refused_when_zero_length_ids_are_not_allowed() {
    let mut h = Harness::new(Config {
        security: ListenerSecurity {
            allow_zero_length_clientid: false,
            ..ListenerSecurity::default()
        },
        ..Config::default()
    });
    let conn = h.try_connect_with("", |c| c.v5());
    assert_eq!(h.connack(conn).reason, ReasonCode::ClientIdentifierNotValid);
}

#[test]
fn v5_client_learns_its_assigned_id_and_the_server_limits_from_connack() {
    let mut h = Harness::new(Config {
        security: ListenerSecurity { auto_id_prefix: "gen-".into(), ..ListenerSecurity::default() },
        max_packet_size: 5000,
        ..Config::default()
    });
    let conn = h.try_connect_with("", |c| c.v5());
    let connack = h.connack(conn);
    assert_eq!(connack.reason, ReasonCode::Success);
    let assigned = connack.properties.assigned_client_identifier.clone().expect("assigned id sent");
    assert_eq!(Some(assigned.as_str()), h.broker.client_id(conn));
    assert!(assigned.as_str().starts_with("gen-"));
    assert_eq!(connack.properties.receive_maximum, Some(20));
    assert_eq!(connack.properties.topic_alias_maximum, Some(10));
    assert_eq!(connack.properties.maximum_packet_size, Some(5000));
    assert_eq!(connack.properties.retain_available, None);
}

#[test]
fn anonymous_client_is_refused_when_anonymous_access_is_off() {
    let mut h = Harness::new(Config {
        security: ListenerSecurity { allow_anonymous: false, ..ListenerSecurity::default() },
        ..Config::default()
    });
    let v3 = h.try_connect_with("anon", |c| c);
    assert_eq!(h.connack(v3).reason, ReasonCode::NotAuthorized, "v3 code 5");
    assert_eq!(h.closed(v3), Some(&DisconnectReason::NotAuthorized));
    let v5 = h.try_connect_with("anon5", |c| c.v5());
    assert_eq!(h.connack(v5).reason, ReasonCode::NotAuthorized, "v5 code 0x87");
}

#[test]
fn credentials_are_checked_off_the_driver_before_connack() {
    let mut h = Harness::new(Config {
        security: ListenerSecurity {
            allow_anonymous: false,
            password_file: true,
            ..ListenerSecurity::default()
        },
        ..Config::default()
    });
    let conn = h.try_connect_with("c1", |c| c.username("alice").password("secret"));
    assert_eq!(h.take(conn), [], "no CONNACK before the password check");
    assert_eq!(
        h.auth_requests,
        [(conn, "alice".to_owned(), Some(bytes::Bytes::from_static(b"secret")), 0)]
    );
    // A client may pipeline packets behind CONNECT; they wait for the verdict.
    h.send(conn, Packet::PingReq);
    h.auth_result(conn, true);
    assert_eq!(h.connack(conn).reason, ReasonCode::Success);
    assert_eq!(h.take(conn), [Packet::PingResp]);
}

#[test]
fn wrong_password_is_refused_with_not_authorised() {
    let mut h = with_password_file();
    let conn = h.try_connect_with("c1", |c| c.username("alice").password("wrong"));
    h.auth_result(conn, false);
    assert_eq!(h.connack(conn).reason, ReasonCode::NotAuthorized);
    assert!(h.logs.contains(&LogEvent::ClientDisconnected {
        conn,
        client_id: None,
        reason: DisconnectReason::NotAuthorized
    }));
}

#[test]
fn first_packet_other_than_connect_closes_the_connection() {
    let mut h = Harness::default();
    let conn = h.open();
    h.send(conn, Packet::PingReq);
    h.assert_dropped_for_protocol_error(conn);
}

#[test]
fn second_connect_is_a_protocol_error_closed_without_a_disconnect_like_mosquitto() {
    let mut h = Harness::default();
    let conn = h.connect_v5("twice");
    h.send(conn, Packet::Connect(Box::new(Harness::connect_packet("twice").0)));
    assert_eq!(h.disconnect_reason(conn), None);
    assert_eq!(h.closed(conn), Some(&DisconnectReason::ProtocolError));
}

#[test]
fn second_connect_that_fails_to_decode_is_closed_like_a_second_connect() {
    // Found by the `broker` fuzz target: a v5 client's second CONNECT with an unknown protocol
    // level was answered with DISCONNECT 0x84, a reason DISCONNECT may not carry.
    for reason in [ReasonCode::UnsupportedProtocolVersion, ReasonCode::MalformedPacket] {
        let mut h = Harness::default();
        let conn = h.connect_v5("twice");
        h.broker.handle_decode_error(conn, Some(PacketType::Connect), reason, h.now);
        h.advance(Duration::ZERO);
        assert_eq!(h.disconnect_reason(conn), None, "{reason:?}");
        assert_eq!(h.closed(conn), Some(&DisconnectReason::ProtocolError), "{reason:?}");
    }
}

#[test]
fn connection_without_connect_is_dropped_after_the_connect_timeout() {
    let mut h = Harness::default();
    let conn = h.open();
    h.advance(Duration::from_secs(89));
    assert_eq!(h.closed(conn), None);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.closed(conn), Some(&DisconnectReason::KeepAliveTimeout));
}

#[test]
fn unsupported_protocol_version_gets_connack_1() {
    let mut h = Harness::default();
    let conn = h.open();
    h.broker.handle_decode_error(conn, None, ReasonCode::UnsupportedProtocolVersion, h.now);
    h.advance(Duration::ZERO);
    assert_eq!(h.connack(conn).reason, ReasonCode::UnsupportedProtocolVersion);
    assert!(h.closed(conn).is_some());
}

#[test]
fn v5_connect_with_an_authentication_method_gets_bad_authentication_method() {
    let mut h = Harness::default();
    let conn = h.try_connect_with("scram", |c| {
        c.v5().properties().authentication_method =
            Some(super::harness::mqtt_string("SCRAM-SHA-1"));
        c
    });
    assert_eq!(h.connack(conn).reason, ReasonCode::BadAuthenticationMethod);
}

#[test]
fn new_connection_with_a_live_id_takes_over_and_v5_old_one_hears_why() {
    let mut h = Harness::default();
    let old = h.connect_v5("dup");
    let new = h.connect_v5("dup");
    assert_eq!(h.disconnect_reason(old), Some(ReasonCode::SessionTakenOver));
    assert_eq!(h.closed(old), Some(&DisconnectReason::TakenOver));
    assert_eq!(h.closed(new), None);
    assert_eq!(h.broker.client_id(new), Some("dup"));
    assert!(
        h.logs.iter().any(
            |e| matches!(e, LogEvent::SessionTakenOver { client_id, .. } if client_id == "dup")
        )
    );
}

#[test]
fn takeover_keeps_the_session_unless_clean_start() {
    let mut h = Harness::default();
    let old = h.connect_with("keep", |c| c.clean(false));
    h.subscribe(old, "k/#", QoS::AtLeastOnce);
    let new = h.try_connect_with("keep", |c| c.clean(false));
    assert!(h.connack(new).session_present);
    let publisher = h.connect("pub");
    h.publish(publisher, "k/1", "still subscribed");
    h.assert_published(new, &[("k/1", "still subscribed")]);

    let clean = h.try_connect_with("keep", |c| c.clean(true));
    assert!(!h.connack(clean).session_present);
    h.publish(publisher, "k/1", "gone");
    assert_eq!(h.published_to(clean), []);
}

#[test]
fn max_connections_refuses_extra_connections() {
    let mut h = Harness::new(Config { max_connections: Some(1), ..Config::default() });
    let first = h.connect("one");
    let second = h.open();
    assert_eq!(h.closed(first), None);
    assert_eq!(h.closed(second), Some(&DisconnectReason::MaxConnections));
}

#[test]
fn v3_password_without_username_is_closed_without_connack() {
    let mut h = Harness::default();
    let conn = h.try_connect_with("nouser", |c| c.password("p"));
    h.assert_dropped_for_protocol_error(conn);
}

#[test]
fn client_packets_that_only_servers_send_are_protocol_errors_but_pingresp() {
    let mut h = Harness::default();
    let conn = h.connect("confused");
    // Mosquitto 2.0.11 ignores a client's PINGRESP.
    h.send(conn, Packet::PingResp);
    assert_eq!(h.closed(conn), None);
    h.send(conn, Packet::ConnAck(mqtt_codec::ConnAck::default()));
    assert_eq!(h.closed(conn), Some(&DisconnectReason::ProtocolError));
    // Other clients are not disturbed.
    let other = h.connect("fine");
    h.send(other, Packet::Publish(publish_packet("a", "b", QoS::AtMostOnce, false, None)));
    assert_eq!(h.closed(other), None);
}

#[test]
fn client_ids_without_the_required_prefix_are_refused() {
    let mut h =
        Harness::new(Config { clientid_prefixes: Some("plant-".into()), ..Config::default() });
    let _ok = h.connect("plant-7");
    let refused = h.try_connect_with("office-1", |c| c);
    assert_eq!(h.connack(refused).reason, ReasonCode::NotAuthorized);
}

#[test]
fn connection_messages_off_silences_connect_and_disconnect_events() {
    let mut h = Harness::new(Config { connection_messages: false, ..Config::default() });
    let conn = h.connect("quiet");
    h.disconnect(conn);
    assert!(!h.logs.iter().any(|e| matches!(
        e,
        LogEvent::ClientConnected { .. } | LogEvent::ClientDisconnected { .. }
    )));
}

#[test]
fn socket_loss_is_reported_with_a_close_and_the_peer_closed_reason() {
    let mut h = Harness::default();
    let conn = h.connect("gone");
    h.kill(conn);
    h.assert_closed_and_logged(conn, "gone", DisconnectReason::PeerClosed);
}

#[test]
fn shutdown_closes_everyone_publishes_wills_and_tells_v5_clients() {
    let mut h = Harness::default();
    let v5 = h.connect_with("v5", |c| c.v5().will("dead/v5", "bye"));
    let v3 = h.subscriber("v3", "dead/#", QoS::AtMostOnce);
    h.broker.shutdown(h.now);
    h.advance(Duration::ZERO);
    assert_eq!(h.disconnect_reason(v5), Some(ReasonCode::ServerShuttingDown));
    assert_eq!(h.closed(v5), Some(&DisconnectReason::ServerShutdown));
    assert_eq!(h.closed(v3), Some(&DisconnectReason::ServerShutdown));
    assert_eq!(h.broker.connection_count(), 0);
}

#[test]
fn v5_will_with_retain_is_refused_when_retain_is_unavailable() {
    let mut h = Harness::new(Config { retain_available: false, ..Config::default() });
    let conn = h.try_connect_with("w", |c| c.v5().will("t", "x").will_retain());
    assert_eq!(h.connack(conn).reason, ReasonCode::RetainNotSupported);
}

#[test]
fn a_connection_closed_while_its_password_is_checked_is_forgotten() {
    let mut h = with_password_file();
    let conn = h.try_connect_with("slow", |c| c.username("u").password("p"));
    h.kill(conn);
    h.auth_result(conn, true);
    assert_eq!(h.take(conn), [], "no CONNACK to a closed connection");
    assert_eq!(h.broker.session_count(), 0);
}

/// `global_max_clients` (Mosquitto 2.1): sessions count, connected or not; over the cap a v5
/// client gets CONNACK 0x89 and a 3.x client is closed without one; a client coming back to
/// its own session is not counted twice.
#[test]
fn global_max_clients_counts_sessions_and_refuses_one_more() {
    let mut h = Harness::new(Config { max_clients: Some(2), ..Config::default() });
    let kept = h.connect_persistent("kept");
    h.disconnect(kept);
    h.connect("live");
    let v5 = h.try_connect_with("third", |c| c.v5());
    assert_eq!(h.connack(v5).reason, ReasonCode::ServerBusy);
    assert_eq!(h.closed(v5), Some(&DisconnectReason::ConnectRefused(ReasonCode::ServerBusy)));
    let v3 = h.try_connect_with("third", |c| c);
    assert_eq!(h.take(v3), []);
    assert_eq!(h.closed(v3), Some(&DisconnectReason::ConnectRefused(ReasonCode::ServerBusy)));
    h.reconnect_persistent("kept");
    h.connect("live");
}
