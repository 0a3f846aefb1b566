//! Seeded random sessions of two clients, A and B, each subscribing, unsubscribing and
//! publishing (QoS 0 to 2, retained or not) on a few topics. After every step both
//! connections listen, and whatever either broker sends is compared byte for byte. The
//! filters never overlap on a topic, and a client's options for a filter never change, so no
//! declared difference (overlapping subscriptions, a re-SUBSCRIBE's options) comes into play.
//! Subscriptions are QoS 0, so no delivery waits for an acknowledgement from the test.

use mqtt_codec::{ProtocolVersion, RetainHandling};

use super::harness::{A, B, Conn, Scenario, scenarios};
use super::wire::{
    V3_1_1, V5, connect, publish_with, pubrel, subscribe, subscribe_with, unsubscribe,
};

/// Filters of which at most one matches any of [`TOPICS`].
const FILTERS: [&str; 4] = ["t/a", "t/b", "x/#", "+/c"];

/// Topics, each matched by at most one of [`FILTERS`] (`u` by none).
const TOPICS: [&str; 6] = ["t/a", "t/b", "x/y", "x/y/z", "u", "q/c"];

/// One payload per step: the session has as many steps.
const PAYLOADS: [&[u8]; 8] = [b"m0", b"m1", b"m2", b"m3", b"m4", b"m5", b"m6", b"m7"];

/// A small, deterministic generator (xorshift64*): the same seed, the same session.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33;
        usize::try_from(value).unwrap_or_default() % n
    }
}

/// The session of `seed` in `version`.
fn session(version: ProtocolVersion, seed: u64) -> Scenario {
    let mut dice = Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut scenario = Scenario::new()
        .connect(A, version, connect(version, "diff-rand-a"))
        .connect(B, version, connect(version, "diff-rand-b"));
    let mut next_id = [1u16, 1u16];
    for payload in PAYLOADS {
        let (conn, who) = if dice.below(2) == 0 { (A, 0) } else { (B, 1) };
        let id = next_id[who];
        next_id[who] += 1;
        let roll = dice.below(10);
        scenario = if roll < 4 {
            let filter = FILTERS[dice.below(FILTERS.len())];
            subscribed(scenario, conn, version, id, filter, seed)
        } else if roll < 5 {
            let filter = FILTERS[dice.below(FILTERS.len())];
            scenario.send(conn, unsubscribe(version, id, &[filter]))
        } else {
            let topic = TOPICS[dice.below(TOPICS.len())];
            let level = u8::try_from(dice.below(3)).unwrap_or_default();
            let retain = dice.below(4) == 0;
            let bytes = publish_with(version, topic, payload, level, id, |p| p.retain = retain);
            let scenario = scenario.send(conn, bytes);
            // A QoS 2 flow goes on at once: the PUBREC comes back within the listening.
            if level == 2 { scenario.send(conn, pubrel(version, id)) } else { scenario }
        };
        scenario = scenario.quiet(A).quiet(B);
    }
    scenario
}

/// `conn` subscribes to `filter` at QoS 0. In v5 its options for the filter come from the
/// client, the filter and the seed, so a second SUBSCRIBE repeats them.
fn subscribed(
    scenario: Scenario,
    conn: Conn,
    version: ProtocolVersion,
    id: u16,
    filter: &str,
    seed: u64,
) -> Scenario {
    if version != V5 {
        return scenario.send(conn, subscribe(version, id, &[(filter, 0)]));
    }
    let salt = filter.bytes().map(u64::from).sum::<u64>() + seed + if conn == A { 0 } else { 7 };
    let bytes = subscribe_with(version, id, &[(filter, 0)], |s| {
        let options = &mut s.filters[0].1;
        options.no_local = salt % 2 == 0;
        options.retain_as_published = salt % 3 == 0;
        options.retain_handling = match salt % 3 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            _ => RetainHandling::DoNotSend,
        };
    });
    scenario.send(conn, bytes)
}

scenarios! {
    v3_1_1_random_session_1 => session(V3_1_1, 1);
    v3_1_1_random_session_2 => session(V3_1_1, 2);
    v3_1_1_random_session_3 => session(V3_1_1, 3);
    v5_random_session_1 => session(V5, 1);
    v5_random_session_2 => session(V5, 2);
    v5_random_session_3 => session(V5, 3);
}
