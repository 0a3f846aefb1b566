//! `per_listener_settings true`: each listener's own security settings and access rules,
//! looked up by the listener a client connected through (and remembered while it is offline).

use std::sync::Arc;

use mqtt_codec::{QoS, ReasonCode};

use super::harness::Harness;
use crate::acl::AclFile;
use crate::{AccessControl, CertificateUsername, Config, ListenerSecurity};

/// Listener 0 is open to anonymous clients; listener 1 wants a password and assigns ids
/// with its own prefix; any other listener falls back to the broker-wide settings.
fn two_listeners() -> Harness {
    Harness::new(Config {
        security: ListenerSecurity { allow_anonymous: false, ..ListenerSecurity::default() },
        listener_security: vec![
            ListenerSecurity { allow_zero_length_clientid: false, ..ListenerSecurity::default() },
            ListenerSecurity {
                allow_anonymous: false,
                password_file: true,
                auto_id_prefix: "secure-".into(),
                ..ListenerSecurity::default()
            },
        ],
        ..Config::default()
    })
}

fn acl(text: &str) -> Option<Arc<dyn AccessControl>> {
    Some(Arc::new(AclFile::parse(text).expect("a valid acl file")))
}

#[test]
fn anonymous_access_and_passwords_follow_the_listener() {
    let mut h = two_listeners();
    h.listener = 0;
    h.connect("open-door");
    h.listener = 1;
    let anonymous = h.try_connect_with("anon", |c| c);
    assert_eq!(h.connack(anonymous).reason, ReasonCode::NotAuthorized);
    let user = h.try_connect_with("user", |c| c.username("leo").password("pw"));
    assert_eq!(h.auth_requests.last().map(|r| (r.0, r.3)), Some((user, 1)));
    h.auth_result(user, true);
    assert_eq!(h.connack(user).reason, ReasonCode::Success);
    h.listener = 7;
    let elsewhere = h.try_connect_with("elsewhere", |c| c);
    assert_eq!(h.connack(elsewhere).reason, ReasonCode::NotAuthorized, "broker-wide settings");
}

#[test]
fn client_id_rules_follow_the_listener() {
    let mut h = two_listeners();
    h.listener = 0;
    let refused = h.try_connect_with("", |c| c.v5());
    assert_eq!(h.connack(refused).reason, ReasonCode::ClientIdentifierNotValid);
    h.listener = 1;
    let conn = h.try_connect_with("", |c| c.v5().username("leo").password("pw"));
    h.auth_result(conn, true);
    let assigned =
        h.connack(conn).properties.assigned_client_identifier.clone().expect("assigned id");
    assert!(assigned.as_str().starts_with("secure-"), "{assigned:?}");
}

#[test]
fn access_rules_follow_the_listener_also_for_offline_sessions() {
    let mut h = Harness::default();
    h.broker.set_access_control(acl("topic deny #\n"));
    h.broker.set_listener_access_control(vec![acl("topic readwrite open/#\n"), None]);
    // Listener 0 may use open/# only; listener 1 has no rules; listener 2 the broker-wide ones.
    h.listener = 0;
    let ruled = h.connect_with("ruled", |c| c.clean(false));
    assert_eq!(h.subscribe(ruled, "#", QoS::AtLeastOnce), [ReasonCode::GrantedQoS1]);
    h.disconnect(ruled);
    h.listener = 1;
    let free = h.subscriber("free", "#", QoS::AtMostOnce);
    h.publish_qos(free, "open/a", "for both", QoS::AtLeastOnce);
    h.publish_qos(free, "closed/b", "only for free", QoS::AtLeastOnce);
    h.assert_published(free, &[("open/a", "for both"), ("closed/b", "only for free")]);
    h.listener = 2;
    let denied = h.connect("denied");
    h.publish(denied, "open/c", "dropped: the broker-wide rules deny everything");
    assert_eq!(h.published_to(free), []);
    // The offline session kept its listener's rules: it was queued open/a only.
    h.listener = 0;
    let back = h.connect_with("ruled", |c| c.clean(false));
    h.assert_published(back, &[("open/a", "for both")]);
}

#[test]
fn a_certificate_name_replaces_the_connect_credentials() {
    // A password file and no anonymous access: the certificate still lets the client in,
    // and the access rules see its name, as with Mosquitto's use_identity_as_username.
    let mut h = two_listeners();
    h.broker.set_listener_access_control(vec![None, acl("user client\ntopic readwrite cn/#\n")]);
    h.listener = 1;
    h.certificate_username = Some(CertificateUsername::Name("client".into()));
    let conn = h.try_connect_with("by-cert", |c| c.username("someone-else").password("ignored"));
    assert!(h.auth_requests.is_empty(), "no password check");
    assert_eq!(h.connack(conn).reason, ReasonCode::Success);
    assert_eq!(h.subscribe(conn, "cn/#", QoS::AtMostOnce), [ReasonCode::Success]);
    h.publish(conn, "cn/x", "mine");
    h.publish(conn, "elsewhere", "denied");
    h.assert_published(conn, &[("cn/x", "mine")]);
}

#[test]
fn a_missing_certificate_name_is_a_bad_username_or_password() {
    let mut h = two_listeners();
    h.listener = 0;
    h.certificate_username = Some(CertificateUsername::Missing);
    let v3 = h.try_connect_with("v3", |c| c);
    assert_eq!(h.connack(v3).reason, ReasonCode::BadUserNameOrPassword);
    assert!(h.closed(v3).is_some());
    let v5 = h.try_connect_with("v5", |c| c.v5());
    assert_eq!(h.connack(v5).reason, ReasonCode::BadUserNameOrPassword);
}
