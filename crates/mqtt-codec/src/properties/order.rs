//! The order properties are written in. Identifier order serves every packet but those whose
//! order Mosquitto 2.0.11 fixes by the order it adds them: there culex writes the same bytes,
//! since captures, test suites and tools compare packets byte for byte.
//!
//! CONNACK: Mosquitto adds Topic Alias Maximum, Server Keep Alive, Assigned Client Identifier,
//! Authentication Method and Authentication Data while it accepts the client, then Retain
//! Available, Maximum Packet Size, Receive Maximum and Maximum QoS as it sends the CONNACK.
//! Properties it never sends there follow in identifier order.
//!
//! PUBLISH: Mosquitto writes the subscriber's Subscription Identifiers first, then the
//! message's own properties, and the Message Expiry Interval (the time left) last. It keeps
//! the message's properties in the order the publisher sent them; culex does not keep that
//! order and writes them in identifier order, which is the order its own clients send.
//!
//! A sender may choose the order instead ([`WriteOrder`]): Mosquitto's clients write their
//! properties in the order they were added, which is the order of the `-D` options, and
//! culex's clients do the same.

use bytes::BytesMut;

use super::{Context, Properties, PropertyId, PropertyValues, Value, put_property};
use crate::reader::VARINT_MAX;
use crate::writer::put_varint;

/// Mosquitto's CONNACK order, by identifier.
const CONNACK: &[u8] = &[0x22, 0x13, 0x12, 0x15, 0x16, 0x25, 0x27, 0x21, 0x24];

/// PUBLISH: Subscription Identifier first, Message Expiry Interval last, the rest between.
const PUBLISH_FIRST: u8 = 0x0B;
const PUBLISH_LAST: u8 = 0x02;

/// The fixed order of `ctx`'s properties, if it has one.
fn fixed_order(ctx: Context) -> Option<&'static [u8]> {
    match ctx {
        Context::ConnAck => Some(CONNACK),
        _ => None,
    }
}

/// The order a sender wants its properties written in: identifiers, a repeated property (a
/// user property) once per value. Properties it leaves out follow in identifier order; an
/// identifier with no property left is skipped. It is how the list is written, not part of
/// its value: two lists with the same properties are equal whatever their orders. Behind one
/// pointer (`None` when no order was chosen), so that every packet's properties grow by 8 bytes
/// only.
#[derive(Clone, Debug, Default, Eq)]
#[expect(
    clippy::box_collection,
    reason = "a thin pointer: 8 bytes in every packet's properties where a Vec takes 24"
)]
pub struct WriteOrder(Option<Box<Vec<u8>>>);

impl WriteOrder {
    /// Identifier order (no order chosen).
    pub const NONE: Self = Self(None);

    /// True when no order was chosen (identifier order).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids().is_empty()
    }

    /// The identifiers in the chosen order.
    #[must_use]
    pub fn ids(&self) -> &[u8] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl FromIterator<PropertyId> for WriteOrder {
    fn from_iter<I: IntoIterator<Item = PropertyId>>(ids: I) -> Self {
        let ids: Vec<u8> = ids.into_iter().map(|id| id as u8).collect();
        Self((!ids.is_empty()).then(|| Box::new(ids)))
    }
}

/// Follows the identifiers of a property list as it is read and keeps their order, but only
/// once it leaves identifier order: reading a list in identifier order allocates nothing.
#[derive(Default)]
pub(super) struct OrderTracker {
    last: u8,
    order: Option<Vec<u8>>,
}

impl OrderTracker {
    /// Notes the next identifier read; `read_so_far` is the list read before it.
    pub(super) fn note(&mut self, id: u8, read_so_far: &PropertyValues) {
        if let Some(order) = &mut self.order {
            order.push(id);
        } else if id < self.last {
            // Everything before was in identifier order, which is the order `for_each` gives.
            let mut order = Vec::new();
            read_so_far.for_each(|seen, _| order.push(seen));
            order.push(id);
            self.order = Some(order);
        }
        self.last = id;
    }

    /// The order read: empty when it was identifier order.
    pub(super) fn finish(self) -> WriteOrder {
        WriteOrder(self.order.map(Box::new))
    }
}

impl PartialEq for WriteOrder {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Properties {
    /// Writes the property list with its length prefix: in the sender's own order when it
    /// chose one, else in `ctx`'s fixed order (properties it does not name follow in identifier
    /// order; repeated ones keep theirs); `encoded_len` checked it before (the order changes no
    /// length).
    pub(crate) fn write_in(&self, ctx: Context, out: &mut BytesMut) {
        if ctx == Context::Publish {
            self.write_publish(out);
            return;
        }
        match fixed_order(ctx) {
            Some(order) if self.order.is_empty() => self.write_sorted(order, out),
            _ => self.write(out),
        }
    }

    /// Writes the property list with its length prefix, sorted by each identifier's place in
    /// `order` (a stable sort: a repeated property, such as a user property, keeps its order).
    fn write_sorted(&self, order: &[u8], out: &mut BytesMut) {
        let mut set: Vec<(u8, Value<'_>)> = Vec::new();
        self.for_each(|id, value| set.push((id, value)));
        set.sort_by_key(|&(id, _)| {
            order.iter().position(|&first| first == id).unwrap_or(order.len())
        });
        put_varint(out, u32::try_from(self.wire_len()).unwrap_or(VARINT_MAX));
        for (id, value) in set {
            put_property(out, id, value);
        }
    }

    /// Writes the property list with its length prefix: first the properties `order` names,
    /// the nth mention of an identifier taking its nth value, then the rest in identifier
    /// order.
    pub(super) fn write_ordered(&self, order: &[u8], out: &mut BytesMut) {
        put_varint(out, u32::try_from(self.wire_len()).unwrap_or(VARINT_MAX));
        self.put_ordered(order, |_| true, out);
    }

    /// Writes the properties `keep` accepts (no length prefix): first those `order` names,
    /// the nth mention of an identifier taking its nth value, then the rest in identifier
    /// order.
    fn put_ordered(&self, order: &[u8], keep: impl Fn(u8) -> bool, out: &mut BytesMut) {
        let mut set: Vec<Option<(u8, Value<'_>)>> = Vec::new();
        self.for_each(|id, value| {
            if keep(id) {
                set.push(Some((id, value)));
            }
        });
        for &wanted in order {
            let next = set.iter_mut().find(|slot| matches!(slot, Some((id, _)) if *id == wanted));
            if let Some((id, value)) = next.and_then(Option::take) {
                put_property(out, id, value);
            }
        }
        for (id, value) in set.into_iter().flatten() {
            put_property(out, id, value);
        }
    }

    /// PUBLISH's order: Subscription Identifiers, the message's own properties (in the order
    /// they were read or chosen, else identifier order), Message Expiry Interval. Allocates
    /// nothing for a list in identifier order (every forwarded message is encoded with it).
    fn write_publish(&self, out: &mut BytesMut) {
        put_varint(out, u32::try_from(self.wire_len()).unwrap_or(VARINT_MAX));
        let middle = |id: u8| id != PUBLISH_FIRST && id != PUBLISH_LAST;
        let put_only = |wanted: u8, out: &mut BytesMut| {
            self.for_each(|id, value| {
                if id == wanted {
                    put_property(out, id, value);
                }
            });
        };
        put_only(PUBLISH_FIRST, out);
        if self.order.is_empty() {
            self.for_each(|id, value| {
                if middle(id) {
                    put_property(out, id, value);
                }
            });
        } else {
            self.put_ordered(self.order.ids(), middle, out);
        }
        put_only(PUBLISH_LAST, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::MqttString;
    use crate::types::PacketType;

    #[test]
    fn connack_and_publish_properties_follow_mosquitto() {
        let connack = Properties::from(PropertyValues {
            receive_maximum: Some(5),
            topic_alias_maximum: Some(3),
            maximum_qos: Some(1),
            retain_available: Some(0),
            maximum_packet_size: Some(1000),
            server_keep_alive: Some(10),
            assigned_client_identifier: Some(MqttString::from_static("a")),
            reason_string: Some(MqttString::from_static("r")),
            ..PropertyValues::default()
        });
        let publish = Properties::from(PropertyValues {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(60),
            content_type: Some(MqttString::from_static("t")),
            subscription_identifiers: vec![5, 7],
            user_properties: vec![(MqttString::from_static("k"), MqttString::from_static("v"))],
            ..PropertyValues::default()
        });
        #[rustfmt::skip]
        let cases: [(Context, Properties, &[u8]); 2] = [
            (Context::ConnAck, connack, &[
                26,
                0x22, 0, 3,
                0x13, 0, 10,
                0x12, 0, 1, b'a',
                0x25, 0,
                0x27, 0, 0, 0x03, 0xe8,
                0x21, 0, 5,
                0x24, 1,
                0x1F, 0, 1, b'r',
            ]),
            (Context::Publish, publish, &[
                22,
                0x0B, 5,
                0x0B, 7,
                0x01, 1,
                0x03, 0, 1, b't',
                0x26, 0, 1, b'k', 0, 1, b'v',
                0x02, 0, 0, 0, 60,
            ]),
        ];
        for (ctx, p, expected) in cases {
            assert_written(&p, ctx, expected);
        }
    }

    /// Asserts that `p` is written in `ctx` as `expected` (its length prefix first).
    fn assert_written(p: &Properties, ctx: Context, expected: &[u8]) {
        let mut out = BytesMut::new();
        p.write_in(ctx, &mut out);
        assert_eq!(&out[..], expected, "{}", ctx.name());
    }

    #[test]
    fn an_order_read_out_of_identifier_order_is_kept() {
        let key = |text: &'static str| MqttString::from_static(text);
        #[rustfmt::skip]
        let wire = [
            16,
            0x26, 0, 1, b'k', 0, 1, b'v',
            0x03, 0, 1, b't',
            0x02, 0, 0, 0, 5,
        ];
        let p = read_publish_properties(&wire);
        assert_eq!(p.order.ids(), [0x26, 0x03, 0x02]);
        assert_eq!(p.user_properties, [(key("k"), key("v"))]);
        let mut out = BytesMut::new();
        p.write(&mut out);
        assert_eq!(&out[..], wire, "a client re-sends it as read");
        let in_order = [6, 0x01, 1, 0x03, 0, 1, b't'];
        let p = read_publish_properties(&in_order);
        assert!(p.order.is_empty(), "identifier order is not recorded");
    }

    fn read_publish_properties(wire: &[u8]) -> Properties {
        let bytes = bytes::Bytes::copy_from_slice(wire);
        let mut r =
            crate::reader::Reader::new(bytes, crate::ProtocolVersion::V5, PacketType::Publish);
        Properties::decode(&mut r, Context::Publish).expect("decodes")
    }

    #[test]
    fn other_packets_keep_identifier_order() {
        let p = Properties::from(PropertyValues {
            reason_string: Some(MqttString::from_static("r")),
            session_expiry_interval: Some(1),
            ..PropertyValues::default()
        });
        let (mut ordered, mut plain) = (BytesMut::new(), BytesMut::new());
        p.write_in(Context::Disconnect, &mut ordered);
        p.write(&mut plain);
        assert_eq!(ordered, plain);
        assert_eq!(plain[1], 0x11);
    }

    #[test]
    fn a_chosen_order_is_kept_with_the_rest_after_it() {
        let key = |text: &'static str| MqttString::from_static(text);
        let p = Properties::from(PropertyValues {
            content_type: Some(key("c")),
            message_expiry_interval: Some(9),
            payload_format_indicator: Some(1),
            user_properties: vec![(key("a"), key("1")), (key("b"), key("2"))],
            order: [
                PropertyId::UserProperty,
                PropertyId::ContentType,
                PropertyId::UserProperty,
                PropertyId::TopicAlias,
                PropertyId::MessageExpiryInterval,
            ]
            .into_iter()
            .collect(),
            ..PropertyValues::default()
        });
        // As a client writes it (`Sender::Client`); the broker's PUBLISH keeps its own frame.
        let mut out = BytesMut::new();
        p.write(&mut out);
        #[rustfmt::skip]
        assert_eq!(&out[..], [
            25,
            0x26, 0, 1, b'a', 0, 1, b'1',
            0x03, 0, 1, b'c',
            0x26, 0, 1, b'b', 0, 1, b'2',
            0x02, 0, 0, 0, 9,
            0x01, 1,
        ]);
        #[rustfmt::skip]
        assert_written(&p, Context::Publish, &[
            25,
            0x26, 0, 1, b'a', 0, 1, b'1',
            0x03, 0, 1, b'c',
            0x26, 0, 1, b'b', 0, 1, b'2',
            0x01, 1,
            0x02, 0, 0, 0, 9,
        ]);
        assert_eq!(
            p,
            Properties::from(PropertyValues { order: WriteOrder::default(), ..(*p).clone() })
        );
    }
}
