//! The runtime's own connections (`INTERNAL_LISTENER`, a bridge's local side) and the bridge
//! bit of 3.x CONNECTs: no password, no access rules (unless a bridge names a
//! `local_username`), no keep-alive, no connect log, and bridges never get their own messages
//! back.

use std::sync::Arc;
use std::time::Duration;

use mqtt_codec::{QoS, ReasonCode};

use super::harness::Harness;
use crate::acl::AclFile;
use crate::{AccessControl, Config, INTERNAL_LISTENER, ListenerSecurity, LogEvent};

/// A broker that refuses anonymous clients and lets nobody read or write anything.
fn locked_down() -> Harness {
    let acl: Arc<dyn AccessControl> =
        Arc::new(AclFile::parse("user nobody\ntopic read nothing\n").expect("a valid acl"));
    let mut h = Harness::new(Config {
        security: ListenerSecurity { allow_anonymous: false, ..ListenerSecurity::default() },
        ..Config::default()
    });
    h.broker.set_access_control(Some(acl));
    h
}

#[test]
fn internal_connections_skip_passwords_and_access_rules_and_are_not_logged() {
    let mut h = locked_down();
    let anonymous = h.try_connect_with("outsider", |c| c);
    assert_eq!(h.connack(anonymous).reason, ReasonCode::NotAuthorized);
    h.listener = INTERNAL_LISTENER;
    let bridge = h.connect_with("local.bridge", |c| c.v5().keep_alive_secs(0));
    let other = h.connect_with("local.other", |c| c.v5().keep_alive_secs(0));
    assert_eq!(
        h.subscribe(other, "$SYS/broker/connection/#", QoS::AtLeastOnce),
        [ReasonCode::GrantedQoS1]
    );
    h.publish(bridge, "$SYS/broker/connection/remote/state", "1");
    h.assert_published(other, &[("$SYS/broker/connection/remote/state", "1")]);
    assert!(
        !h.logs.iter().any(|log| matches!(log, LogEvent::ClientConnected { .. })),
        "internal connections are not logged: {:?}",
        h.logs
    );
}

#[test]
fn internal_connections_never_time_out() {
    let mut h = Harness::default();
    h.listener = INTERNAL_LISTENER;
    let conn = h.try_connect_with("local.bridge", |c| c.v5().keep_alive_secs(0));
    let connack = h.connack(conn);
    assert_eq!(connack.reason, ReasonCode::Success);
    assert_eq!(connack.properties.server_keep_alive, None);
    h.advance(Duration::from_secs(3 * 65535));
    assert_eq!(h.closed(conn), None);
}

#[test]
fn the_bridge_bit_makes_subscriptions_no_local_and_retain_as_published() {
    let mut h = Harness::default();
    let bridge = h.connect_with("remote-bridge", |c| {
        c.0.bridge = true;
        c
    });
    let plain = h.connect("plain");
    h.subscribe(bridge, "t/#", QoS::AtMostOnce);
    h.subscribe(plain, "t/#", QoS::AtMostOnce);
    h.publish(bridge, "t/echo", "once");
    assert_eq!(h.published_to(bridge), []);
    h.assert_published(plain, &[("t/echo", "once")]);
    h.publish_retained(plain, "t/kept", "r");
    let to_bridge = h.take_publishes(bridge);
    assert_eq!(to_bridge.len(), 1);
    assert!(to_bridge[0].retain, "retain as published");
}

#[test]
fn an_internal_connection_with_a_username_logs_in_and_follows_the_access_rules() {
    let acl: Arc<dyn AccessControl> = Arc::new(
        AclFile::parse(
            "user bridge\ntopic readwrite ok/#\ntopic write $SYS/broker/connection/#\n\
             user reader\ntopic readwrite #\ntopic read $SYS/#\n",
        )
        .expect("a valid acl"),
    );
    let mut h = Harness::new(Config {
        security: ListenerSecurity { password_file: true, ..ListenerSecurity::default() },
        ..Config::default()
    });
    h.broker.set_access_control(Some(acl));
    let reader = h.try_connect_with("reader", |c| c.username("reader"));
    h.auth_result(reader, true);
    h.take(reader);
    h.subscribe(reader, "#", QoS::AtMostOnce);
    h.subscribe(reader, "$SYS/broker/connection/#", QoS::AtMostOnce);
    h.listener = INTERNAL_LISTENER;
    let refused = h.try_connect_with("local.refused", |c| {
        c.v5().keep_alive_secs(0).username("bridge").password("wrong")
    });
    assert_eq!(h.auth_requests.len(), 2, "the password is checked");
    h.auth_result(refused, false);
    assert_eq!(h.connack(refused).reason, ReasonCode::NotAuthorized);
    let bridge = h.try_connect_with("local.bridge", |c| {
        c.v5().keep_alive_secs(0).username("bridge").password("secret")
    });
    h.auth_result(bridge, true);
    assert_eq!(h.connack(bridge).reason, ReasonCode::Success);
    for topic in ["ok/in", "denied/in", "$SYS/broker/connection/b/state"] {
        h.publish(bridge, topic, "m");
    }
    h.subscribe(bridge, "#", QoS::AtMostOnce);
    assert_eq!(
        h.published_to(reader),
        [("ok/in".into(), "m".into()), ("$SYS/broker/connection/b/state".into(), "m".into())]
    );
    h.listener = 0;
    for topic in ["ok/out", "denied/out"] {
        h.publish(reader, topic, "r");
    }
    assert_eq!(h.published_to(bridge), [("ok/out".into(), "r".into())]);
}
