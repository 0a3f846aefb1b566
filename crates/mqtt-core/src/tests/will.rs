//! Wills: published on abnormal ends, not on a normal DISCONNECT, v5 reason 0x04, the will
//! delay and its cancellation by a reconnect, and retained wills.

use std::time::Duration;

use mqtt_codec::{Properties, QoS, ReasonCode};

use super::harness::Harness;
use crate::config::Config;

fn watcher(h: &mut Harness) -> crate::ConnId {
    h.subscriber("watcher", "dead/#", QoS::AtMostOnce)
}

#[test]
fn will_is_published_when_the_socket_dies() {
    let mut h = Harness::default();
    let watcher = watcher(&mut h);
    let victim = h.connect_with("victim", |c| c.will("dead/victim", "bye"));
    h.kill(victim);
    h.assert_published(watcher, &[("dead/victim", "bye")]);
}

#[test]
fn will_is_published_when_keep_alive_expires() {
    let mut h = Harness::default();
    let watcher = watcher(&mut h);
    let _victim = h.connect_with("victim", |c| c.keep_alive_secs(10).will("dead/victim", "bye"));
    h.advance(Duration::from_secs(16)); // more than 1.5 × keep alive
    h.assert_published(watcher, &[("dead/victim", "bye")]);
}

#[test]
fn will_is_published_after_a_protocol_error() {
    let mut h = Harness::default();
    let watcher = watcher(&mut h);
    let victim = h.connect_with("victim", |c| c.will("dead/victim", "bye"));
    h.send(victim, mqtt_codec::Packet::Auth(mqtt_codec::Auth::default()));
    h.assert_published(watcher, &[("dead/victim", "bye")]);
}

#[test]
fn will_is_discarded_on_a_normal_disconnect() {
    let mut h = Harness::default();
    let watcher = watcher(&mut h);
    let polite = h.connect_with("polite", |c| c.will("dead/polite", "bye"));
    h.disconnect(polite);
    assert_eq!(h.published_to(watcher), []);
}

#[test]
fn v5_disconnect_with_will_message_publishes_it() {
    let mut h = Harness::default();
    let watcher = watcher(&mut h);
    let leaver = h.connect_with("leaver", |c| c.v5().will("dead/leaver", "as asked"));
    h.disconnect_with(leaver, ReasonCode::DisconnectWithWillMessage, Properties::default());
    h.assert_published(watcher, &[("dead/leaver", "as asked")]);
}

#[test]
fn v5_will_delay_postpones_the_will() {
    let mut h = Harness::default();
    let watcher = watcher(&mut h);
    let victim = h.connect_with("victim", |c| {
        c.v5().session_expiry(300).will("dead/victim", "late").will_delay(30)
    });
    h.kill(victim);
    h.advance(Duration::from_secs(29));
    assert_eq!(h.published_to(watcher), []);
    h.advance(Duration::from_secs(1));
    h.assert_published(watcher, &[("dead/victim", "late")]);
}

#[test]
fn v5_will_delay_is_cancelled_by_a_reconnect_in_time() {
    let mut h = Harness::default();
    let watcher = watcher(&mut h);
    let victim = h.connect_with("victim", |c| {
        c.v5().session_expiry(300).will("dead/victim", "never").will_delay(30)
    });
    h.kill(victim);
    h.advance(Duration::from_secs(10));
    let _back = h.connect_with("victim", |c| c.v5().clean(false).session_expiry(300));
    h.advance(Duration::from_secs(60));
    assert_eq!(h.published_to(watcher), []);
}

#[test]
fn v5_will_is_published_when_the_session_ends_before_the_delay() {
    let mut h = Harness::default();
    let watcher = watcher(&mut h);
    let victim = h.connect_with("victim", |c| {
        c.v5().session_expiry(5).will("dead/victim", "session over").will_delay(30)
    });
    h.kill(victim);
    h.advance(Duration::from_secs(5));
    h.assert_published(watcher, &[("dead/victim", "session over")]);
}

#[test]
fn takeover_publishes_the_old_connections_will() {
    let mut h = Harness::default();
    let watcher = watcher(&mut h);
    let _old = h.connect_with("twin", |c| c.will("dead/twin", "replaced"));
    let _new = h.connect("twin");
    h.assert_published(watcher, &[("dead/twin", "replaced")]);
}

#[test]
fn takeover_that_resumes_the_session_discards_the_will() {
    let mut h = Harness::default();
    let watcher = watcher(&mut h);
    let _old = h.connect_with("twin", |c| c.clean(false).will("dead/twin", "replaced"));
    let _new = h.connect_with("twin", |c| c.clean(false));
    assert_eq!(h.published_to(watcher), []);
}

#[test]
fn retained_will_is_kept_for_later_subscribers() {
    let mut h = Harness::default();
    let victim = h.connect_with("victim", |c| c.will("dead/victim", "gone").will_retain());
    h.kill(victim);
    let late = h.subscriber("late", "dead/#", QoS::AtMostOnce);
    let got = h.take_publishes(late);
    assert_eq!(got.len(), 1);
    assert!(got[0].retain);
}

#[test]
fn v5_delayed_will_is_cancelled_by_a_clean_start_reconnect() {
    // [v5 MQTT-3.1.2-8] a new connection before the delay has passed cancels the will, even
    // one that starts a new session (as Mosquitto).
    let mut h = Harness::default();
    let watcher = watcher(&mut h);
    let victim = h.connect_with("victim", |c| {
        c.v5().session_expiry(300).will("dead/victim", "ended").will_delay(60)
    });
    h.kill(victim);
    let _fresh = h.connect_with("victim", |c| c.v5().clean(true));
    h.advance(Duration::from_secs(61));
    assert_eq!(h.published_to(watcher), []);
}

#[test]
fn will_over_message_size_limit_is_refused() {
    // Mosquitto: v5 gets 0x95 (Packet too large), 3.x "not authorised".
    let mut h = Harness::new(Config { message_size_limit: 4, ..Config::default() });
    for (id, v5, code) in
        [("big5", true, ReasonCode::PacketTooLarge), ("big3", false, ReasonCode::NotAuthorized)]
    {
        let conn = h.try_connect_with(id, |c| {
            if v5 {
                c.v5();
            }
            c.will("dead/big", "0123456789")
        });
        assert_eq!(h.connack(conn).reason, code, "{id}");
        assert!(h.closed(conn).is_some(), "{id}");
    }
}
