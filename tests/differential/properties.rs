//! The order of the v5 properties in the packets the broker sends: a forwarded PUBLISH's
//! (Subscription Identifiers, then the message's own, Message Expiry Interval last).

use super::harness::{A, B, Scenario};
use super::wire::{V5, connect, hex, subscribe_with};

/// A subscribed to `p/#` at QoS `level` with Subscription Identifier 5, B connected.
fn subscribed(level: u8) -> Scenario {
    let subscribe =
        subscribe_with(V5, 1, &[("p/#", level)], |s| s.properties.subscription_identifiers.push(5));
    Scenario::new()
        .connect(A, V5, connect(V5, "diff-props-sub"))
        .send(A, subscribe)
        .recv(A)
        .connect(B, V5, connect(V5, "diff-props-pub"))
}

/// PUBLISH QoS 0 to `p/o` with every message property, in an order of its own: user
/// property k=v, content type, message expiry 60, payload format 1, response topic,
/// correlation data, user property k=w.
const SCRAMBLED: &str = "30 29 00 03 70 2f 6f 22 \
    26 00 01 6b 00 01 76  03 00 02 74 74  02 00 00 00 3c  01 01  08 00 01 72  09 00 01 63 \
    26 00 01 6b 00 01 77  78";

/// The same properties in identifier order.
const ORDERED: &str = "30 29 00 03 70 2f 6f 22 \
    01 01  02 00 00 00 3c  03 00 02 74 74  08 00 01 72  09 00 01 63 \
    26 00 01 6b 00 01 76  26 00 01 6b 00 01 77  78";

#[test]
fn v5_publish_properties_in_any_order_are_forwarded_in_mosquittos() {
    subscribed(0).send(B, hex(SCRAMBLED)).recv(A).run();
}

#[test]
fn v5_publish_properties_in_identifier_order_are_forwarded_in_mosquittos() {
    subscribed(0).send(B, hex(ORDERED)).recv(A).run();
}

#[test]
fn v5_qos1_publish_properties_are_forwarded_in_mosquittos_order() {
    subscribed(1).send(B, hex(ORDERED)).recv(A).run();
}
