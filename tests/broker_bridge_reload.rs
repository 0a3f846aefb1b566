//! Mosquitto 2.1's bridge restart and reload, end to end against the fake remote broker of
//! `broker_bridge21` (Debian has no 2.1): `restart_timeout`'s back-off lines and its
//! stable-connection period; SIGHUP applying a changed bridge now (`bridge_reload_type
//! immediate`) or at its next connection (`lazy`), starting an added bridge and stopping a
//! removed one while an unchanged bridge keeps its connection. And 2.0.11's refusal of a
//! back-off cap below the base, which culex keeps.

use std::time::{Duration, Instant};

use mqtt_codec::{Packet, Properties};

use crate::broker_bridge21::{FakeRemote, bridging_to};
use crate::support::{
    BrokerProcess, COMMAND_DEADLINE, reference_client, refused_like_mosquitto, run,
};

/// Whether `packet` is a SUBSCRIBE or UNSUBSCRIBE of `filter` (as `kind` says).
fn names_filter(packet: &Packet, kind: &str, filter: &str) -> bool {
    match packet {
        Packet::Subscribe(s) if kind == "SUBSCRIBE" => {
            s.filters.iter().any(|(f, _)| f.as_str() == filter)
        }
        Packet::Unsubscribe(u) if kind == "UNSUBSCRIBE" => {
            u.filters.iter().any(|f| f.as_str() == filter)
        }
        _ => false,
    }
}

/// Waits for `kind` of `filter` from the bridge on its connection number `connection`.
fn wait_for_filter(remote: &FakeRemote, connection: usize, kind: &str, filter: &str) {
    remote.wait_on(connection, &format!("{kind} {filter}"), |p| names_filter(p, kind, filter));
}

/// How many CONNECTs `remote` has seen.
fn connects(remote: &FakeRemote) -> usize {
    remote.packets().iter().filter(|(_, p)| matches!(p, Packet::Connect(_))).count()
}

/// Whether the bridge published on `topic` to `remote` on connection number `connection`.
fn published(remote: &FakeRemote, connection: usize, topic: &str) -> bool {
    remote.packets().iter().any(|(n, packet)| {
        *n == connection && matches!(packet, Packet::Publish(p) if p.topic.as_str() == topic)
    })
}

/// Waits until the bridge forwarded `topic` to `remote` on its connection number `connection`.
fn forwarded(remote: &FakeRemote, connection: usize, topic: &str) {
    let what = format!("PUBLISH {topic}");
    remote.wait_on(
        connection,
        &what,
        |p| matches!(p, Packet::Publish(p) if p.topic.as_str() == topic),
    );
}

/// The bridge's second connection has the reloaded topics: it subscribes `b/#` and
/// unsubscribes `a/#` on the remote, and locally `b/…` goes out while `a/…` no longer does.
fn second_connection_has_the_new_topics(remote: &FakeRemote, broker: &BrokerProcess) {
    wait_for_filter(remote, 2, "SUBSCRIBE", "b/#");
    wait_for_filter(remote, 2, "UNSUBSCRIBE", "a/#");
    publish(broker, "a/2");
    publish(broker, "b/2");
    forwarded(remote, 2, "b/2");
    // a/2 went first, so it would be there by now.
    assert!(!published(remote, 2, "a/2"), "{:?}", remote.packets());
}

/// Publishes `topic` once at QoS 1 on `broker` with mosquitto_pub.
fn publish(broker: &BrokerProcess, topic: &str) {
    let done = run(
        reference_client("mosquitto_pub", broker.port).args(["-q", "1", "-t", topic, "-m", "x"]),
        COMMAND_DEADLINE,
    );
    assert_eq!(done.code(), 0, "{}", done.stderr);
}

/// Rewrites `broker`'s configuration file with `edit`, sends SIGHUP and waits for the
/// broker's `Reloading config.` line (the n-th, `reloads` counting this one).
fn reload(broker: &BrokerProcess, reloads: usize, edit: impl Fn(String) -> String) {
    let path = broker.config_path();
    let text = std::fs::read_to_string(&path).expect("reading the broker's config");
    std::fs::write(&path, edit(text)).expect("rewriting the broker's config");
    broker.signal("HUP");
    let start = Instant::now();
    while broker.log_lines().iter().filter(|line| *line == "Reloading config.").count() < reloads {
        assert!(start.elapsed() < COMMAND_DEADLINE, "no reload: {:?}", broker.log_lines());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How long a test waits to see that something does not happen.
const QUIET: Duration = Duration::from_millis(1500);

#[test]
fn the_backoff_is_logged_and_restarts_from_the_base_after_a_stable_connection() {
    let remote = FakeRemote::start(Properties::default());
    // Base 1 s, cap 2 s, stable after 1 s (the line replaces bridging_to's `restart_timeout 1`).
    let broker = bridging_to(remote.port, "restart_timeout 1 2 1\ntopic t/# out 1\n");
    // The first connection ends at once: not stable.
    remote.wait_on(1, "CONNECT", |p| matches!(p, Packet::Connect(_)));
    remote.hang_up();
    let backoff = broker.wait_for_log(|line| line.starts_with("Bridge br next backoff will be "));
    let millis: u64 = backoff
        .strip_prefix("Bridge br next backoff will be ")
        .and_then(|rest| rest.strip_suffix(" ms"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{backoff:?}"));
    assert!((1000..=2000).contains(&millis), "{backoff:?}");
    // The second connection stays: after a second it resets the back-off.
    remote.wait_on(2, "CONNECT", |p| matches!(p, Packet::Connect(_)));
    let stable = "Bridge br connection was stable enough, resetting backoff";
    broker.wait_for_log(|line| line == stable);
    let lines = broker.log_lines();
    let count = |wanted: &str| lines.iter().filter(|line| line.starts_with(wanted)).count();
    assert_eq!(count(stable), 1, "{lines:#?}");
    assert_eq!(count("Bridge br next backoff will be "), 1, "{lines:#?}");
}

#[test]
fn a_cap_below_the_base_is_refused_as_mosquitto_2_0_11_refuses_it() {
    let config = "connection br\naddress 127.0.0.1:1\ntopic t\nrestart_timeout 10 5\n";
    assert_eq!(refused_like_mosquitto("bridge-restart-timeout", &[config]), [3]);
}

/// A bridge (with `options`) of topic `a/#` both ways to a fake remote, connected, whose
/// topic a reload then changes to `b/#`.
fn reloaded_from_a_to_b(options: &str) -> (FakeRemote, BrokerProcess) {
    let remote = FakeRemote::start(Properties::default());
    let broker = bridging_to(remote.port, &format!("{options}topic a/# both 1\n"));
    wait_for_filter(&remote, 1, "SUBSCRIBE", "a/#");
    reload(&broker, 1, |text| text.replace("topic a/# both 1", "topic b/# both 1"));
    (remote, broker)
}

#[test]
fn immediate_reconnects_with_the_new_topics_at_once() {
    let (remote, broker) = reloaded_from_a_to_b("bridge_reload_type immediate\n");
    second_connection_has_the_new_topics(&remote, &broker);
    let first: Vec<_> = remote.packets().into_iter().filter(|(n, _)| *n == 1).collect();
    assert!(
        first.iter().any(|(_, p)| matches!(p, Packet::Disconnect(_))),
        "the old connection ends with a DISCONNECT: {first:?}"
    );
    assert_eq!(connects(&remote), 2);
}

#[test]
fn lazy_keeps_the_old_topics_until_the_link_drops() {
    let (remote, broker) = reloaded_from_a_to_b("");
    // The old settings go on: a/… still goes out, on the same connection.
    std::thread::sleep(QUIET);
    publish(&broker, "a/1");
    forwarded(&remote, 1, "a/1");
    assert_eq!(connects(&remote), 1, "{:?}", remote.packets());
    // The link drops: the next connection has the new settings.
    remote.hang_up();
    second_connection_has_the_new_topics(&remote, &broker);
}

#[test]
fn an_added_bridge_starts_a_removed_one_stops_and_an_unchanged_one_stays_connected() {
    let kept = FakeRemote::start(Properties::default());
    let added = FakeRemote::start(Properties::default());
    let broker = bridging_to(kept.port, "bridge_reload_type immediate\ntopic a/# both 1\n");
    wait_for_filter(&kept, 1, "SUBSCRIBE", "a/#");
    let second = format!(
        "connection br2\naddress 127.0.0.1:{}\nremote_clientid second\nrestart_timeout 1\n\
         bridge_reload_type immediate\ntopic c/# both 1\n",
        added.port
    );
    reload(&broker, 1, |text| format!("{text}{second}"));
    wait_for_filter(&added, 1, "SUBSCRIBE", "c/#");
    publish(&broker, "c/1");
    forwarded(&added, 1, "c/1");
    reload(&broker, 2, |text| text.replace(&second, ""));
    added.wait_on(1, "DISCONNECT", |p| matches!(p, Packet::Disconnect(_)));
    // Removed for good: no reconnection after its restart_timeout.
    std::thread::sleep(QUIET);
    assert_eq!(connects(&added), 1, "{:?}", added.packets());
    // The bridge whose section did not change kept its first connection through both reloads.
    publish(&broker, "a/1");
    forwarded(&kept, 1, "a/1");
    assert_eq!(connects(&kept), 1, "{:?}", kept.packets());
    assert!(!kept.packets().iter().any(|(_, p)| matches!(p, Packet::Disconnect(_))));
}
