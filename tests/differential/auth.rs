//! Authentication and ACLs: `password_file` with good and bad credentials per version,
//! `allow_anonymous false`, `acl_file` topic and pattern rules on publish and subscribe, an
//! ACL change applied at reload to a session already subscribed, and a broken password file.

use super::harness::{A, B, Scenario, scenarios};
use super::wire::{
    V3_1, V3_1_1, V5, connect, connect_with, pingreq, publish, subscribe, subscribe_with,
};
use bytes::Bytes;
use mqtt_codec::ProtocolVersion;

/// The ACL: alice may use `data/#`, read `public/#`, and use `own/<client id>/#`; bob may
/// read everything.
pub(super) const ACL: &str = "user alice\ntopic readwrite data/#\ntopic read public/#\n\
                   pattern readwrite own/%c/#\n\nuser bob\ntopic read #\n";

/// Both brokers with alice/secret and bob/hunter2, [`ACL`], and no anonymous access.
fn secured() -> Scenario {
    Scenario::new()
        .passwords("passwords", &[("alice", "secret"), ("bob", "hunter2")])
        .file("acl", ACL)
        .config("password_file {dir}/passwords")
        .config("acl_file {dir}/acl")
        .config("allow_anonymous false")
}

/// A CONNECT as `id` with `user` and `password` (none when empty).
pub(super) fn login(
    version: ProtocolVersion,
    id: &str,
    user: &str,
    password: &'static str,
) -> Vec<u8> {
    connect_with(version, id, |c| {
        if !user.is_empty() {
            c.username = Some(super::wire::s(user));
        }
        if !password.is_empty() {
            c.password = Some(Bytes::from_static(password.as_bytes()));
        }
    })
}

/// One connection attempt: the CONNACK and whether the broker closes.
fn attempt(version: ProtocolVersion, user: &str, password: &'static str) -> Scenario {
    secured().connect(A, version, login(version, "auth-try", user, password)).quiet(A)
}

scenarios! {
    v3_1_1_good_password => attempt(V3_1_1, "alice", "secret");
    v3_1_1_bad_password => attempt(V3_1_1, "alice", "wrong");
    v3_1_1_unknown_user => attempt(V3_1_1, "mallory", "secret");
    v3_1_1_username_without_password => attempt(V3_1_1, "alice", "");
    v3_1_1_anonymous_refused => attempt(V3_1_1, "", "");
    v3_1_bad_password => attempt(V3_1, "alice", "wrong");
    v3_1_anonymous_refused => attempt(V3_1, "", "");
    v5_good_password => attempt(V5, "alice", "secret");
    v5_bad_password => attempt(V5, "alice", "wrong");
    v5_unknown_user => attempt(V5, "mallory", "secret");
    v5_anonymous_refused => attempt(V5, "", "");
}

/// bob (B) reads `#`; alice (A, client id `alice-c`) is connected: both speak `version`.
fn alice_and_bob(version: ProtocolVersion) -> Scenario {
    secured()
        .connect(B, version, login(version, "bob-c", "bob", "hunter2"))
        .send(B, subscribe(version, 1, &[("#", 2)]))
        .recv(B)
        .connect(A, version, login(version, "alice-c", "alice", "secret"))
}

/// alice publishes to `topic` at `level`; bob shows whether it was forwarded.
fn alice_publishes(version: ProtocolVersion, topic: &str, level: u8) -> Scenario {
    let scenario = alice_and_bob(version).send(A, publish(version, topic, b"acl", level, 4));
    let scenario = if level == 0 { scenario.send(A, pingreq()) } else { scenario };
    scenario.recv(A).quiet(B)
}

scenarios! {
    v3_1_1_allowed_publish_is_forwarded => alice_publishes(V3_1_1, "data/1", 1);
    v3_1_1_denied_qos0_publish_is_dropped => alice_publishes(V3_1_1, "public/1", 0);

    v3_1_1_denied_qos1_publish_is_acknowledged_and_dropped =>
        alice_publishes(V3_1_1, "public/1", 1);

    v3_1_1_denied_qos2_publish_is_acknowledged_and_dropped =>
        alice_publishes(V3_1_1, "secret/1", 2);

    v5_allowed_publish_is_forwarded => alice_publishes(V5, "data/1", 1);
    v5_denied_qos0_publish_is_dropped => alice_publishes(V5, "public/1", 0);
    v5_denied_qos1_publish_gets_0x87 => alice_publishes(V5, "public/1", 1);
    v5_denied_qos2_publish_gets_0x87 => alice_publishes(V5, "secret/1", 2);
    v3_1_1_pattern_allows_the_own_client_id => alice_publishes(V3_1_1, "own/alice-c/x", 1);
    v5_pattern_denies_another_client_id => alice_publishes(V5, "own/bob-c/x", 1);
}

/// alice subscribes to `filters` at QoS 1.
fn alice_subscribes(version: ProtocolVersion, filters: &[&str]) -> Scenario {
    let filters: Vec<(&str, u8)> = filters.iter().map(|filter| (*filter, 1)).collect();
    secured()
        .connect(A, version, login(version, "alice-c", "alice", "secret"))
        .send(A, subscribe(version, 1, &filters))
        .recv(A)
}

scenarios! {
    v3_1_1_subscribe_acl =>
        alice_subscribes(V3_1_1, &["data/#", "secret/#", "public/1", "own/alice-c/#"]);

    v5_subscribe_acl => alice_subscribes(V5, &["data/#", "secret/#", "public/1", "own/bob-c/#"]);

    v5_denied_subscription_receives_nothing =>
        alice_subscribes(V5, &["secret/#"])
            .connect(B, V5, login(V5, "alice-2", "alice", "secret"))
            .send(B, publish(V5, "data/1", b"x", 1, 2))
            .recv(B)
            .quiet(A);
}

/// alice (A) subscribed to `data/#`; the ACL becomes `acl`, the brokers reload, and alice
/// publishes to `data/1` from B.
fn acl_reload(version: ProtocolVersion, acl: &str) -> Scenario {
    alice_subscribes(version, &["data/#"])
        .connect(B, version, login(version, "alice-2", "alice", "secret"))
        .rewrite("acl", acl)
        .reload()
        .send(B, publish(version, "data/1", b"after reload", 1, 2))
        .recv(B)
        .quiet(A)
}

/// [`ACL`] with alice's `data/#` rule made write-only.
const ACL_WRITE_ONLY: &str = "user alice\ntopic write data/#\n";

scenarios! {
    v3_1_1_acl_reload_applies_to_a_subscribed_session => acl_reload(V3_1_1, ACL_WRITE_ONLY);
    v5_acl_reload_applies_to_a_subscribed_session => acl_reload(V5, ACL_WRITE_ONLY);
    v5_acl_reload_that_keeps_the_rule => acl_reload(V5, ACL);

    v5_no_local_subscriber_still_counts_for_the_puback => {
        // Like a subscriber the ACL keeps a message from: matched, so PUBACK 0x00, not 0x10.
        Scenario::new()
            .connect(A, V5, connect(V5, "auth-nl"))
            .send(A, subscribe_with(V5, 1, &[("t/#", 1)], |s| s.filters[0].1.no_local = true))
            .recv(A)
            .send(A, publish(V5, "t/1", b"x", 1, 5))
            .recv(A)
    };
}

/// A password file with a line that is not `user:hash`.
fn broken_passwords(version: ProtocolVersion) -> Scenario {
    Scenario::new()
        .file("passwords", "alice:secret\nno colon here\n")
        .config("password_file {dir}/passwords")
        .connect(A, version, login(version, "auth-broken", "alice", "secret"))
        .quiet(A)
}

scenarios! {
    v3_1_1_unparsable_password_file => broken_passwords(V3_1_1);
    v5_unparsable_password_file => broken_passwords(V5);
}
