//! Keep alive: enforced at 1.5 × the client's value, reset by any packet, none for 0 (v3),
//! and v5 Server Keep Alive when the client asks for more than `max_keepalive`.

use std::time::Duration;

use mqtt_codec::{Packet, ReasonCode};

use super::harness::Harness;
use crate::{Config, ConnId, DisconnectReason};

/// A default broker with the v3 client `id` connected with keep alive `secs`.
fn connected(id: &str, secs: u16) -> (Harness, ConnId) {
    let mut h = Harness::default();
    let conn = h.connect_with(id, |c| c.keep_alive_secs(secs));
    (h, conn)
}

#[test]
fn silent_client_is_disconnected_at_one_and_a_half_keep_alives() {
    let (mut h, conn) = connected("quiet", 10);
    h.advance(Duration::from_millis(14_999));
    assert_eq!(h.closed(conn), None);
    h.advance(Duration::from_millis(1));
    h.assert_closed_and_logged(conn, "quiet", DisconnectReason::KeepAliveTimeout);
}

#[test]
fn any_packet_restarts_the_keep_alive() {
    let (mut h, conn) = connected("pinger", 10);
    for _ in 0..5 {
        h.advance(Duration::from_secs(10));
        h.send(conn, Packet::PingReq);
        assert_eq!(h.take(conn), [Packet::PingResp]);
    }
    assert_eq!(h.closed(conn), None);
}

#[test]
fn keep_alive_zero_means_no_timeout_for_v3() {
    let (mut h, conn) = connected("forever", 0);
    h.advance(Duration::from_secs(1_000_000));
    assert_eq!(h.closed(conn), None);
}

#[test]
fn v5_client_asking_for_too_long_a_keep_alive_is_told_the_server_keep_alive() {
    let mut h = Harness::new(Config { max_keepalive: 30, ..Config::default() });
    let conn = h.try_connect_with("greedy", |c| c.v5().keep_alive_secs(600));
    assert_eq!(h.connack(conn).properties.server_keep_alive, Some(30));
    h.advance(Duration::from_secs(45));
    assert_eq!(h.closed(conn), Some(&DisconnectReason::KeepAliveTimeout));
    assert_eq!(h.disconnect_reason(conn), Some(ReasonCode::KeepAliveTimeout));
}

#[test]
fn v5_keep_alive_zero_gets_the_maximum_as_server_keep_alive() {
    let mut h = Harness::default();
    let conn = h.try_connect_with("zero", |c| c.v5().keep_alive_secs(0));
    assert_eq!(h.connack(conn).properties.server_keep_alive, Some(65535));
}
