//! Keep alive: a client silent past 1.5 × its keep alive, keep alive 0, pings that keep a
//! connection open, and `max_keepalive` against v3 and v5 clients.

use super::harness::{A, Scenario, scenarios};
use super::wire::{V3_1_1, V5, connect_with, pingreq};
use mqtt_codec::ProtocolVersion;

/// A connected with keep alive `seconds`, under `config` (may be empty).
fn kept(version: ProtocolVersion, seconds: u16, config: &str) -> Scenario {
    Scenario::new().config(config).connect(
        A,
        version,
        connect_with(version, "ka", |c| c.keep_alive = seconds),
    )
}

scenarios! {
    v3_1_1_silent_client_is_closed => kept(V3_1_1, 1, "").closed_slow(A);

    v5_silent_client_is_closed =>
        kept(V5, 1, "")
            .closed_slow(A)
            .differs("culex tells a v5 client why: DISCONNECT 0x8D (keep alive timeout)");

    v3_1_1_keep_alive_0_is_never_closed =>
        kept(V3_1_1, 0, "").wait(2000).send(A, pingreq()).recv(A);

    v5_keep_alive_0_is_never_closed => kept(V5, 0, "").wait(2000).send(A, pingreq()).recv(A);

    v3_1_1_pings_keep_the_connection => {
        let mut scenario = kept(V3_1_1, 1, "");
        for _ in 0..4 {
            scenario = scenario.wait(600).send(A, pingreq()).recv(A);
        }
        scenario.quiet(A)
    };

    v5_keep_alive_below_the_maximum_is_kept =>
        kept(V5, 5, "max_keepalive 10").send(A, pingreq()).recv(A);

    v5_keep_alive_at_the_maximum_is_kept => kept(V5, 10, "max_keepalive 10");
    v3_1_1_keep_alive_above_the_maximum => kept(V3_1_1, 100, "max_keepalive 10").quiet(A);
    v3_1_1_keep_alive_0_with_a_maximum => kept(V3_1_1, 0, "max_keepalive 10").quiet(A);
}
