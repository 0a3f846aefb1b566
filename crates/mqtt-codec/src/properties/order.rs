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

use bytes::BytesMut;

use super::{Context, Properties, Value, put_property};
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

impl Properties {
    /// Writes the property list with its length prefix in `ctx`'s order; `encoded_len`
    /// checked it before (the order changes no length).
    pub(crate) fn write_in(&self, ctx: Context, out: &mut BytesMut) {
        if ctx == Context::Publish {
            self.write_publish(out);
            return;
        }
        let Some(order) = fixed_order(ctx) else {
            self.write(out);
            return;
        };
        let mut set: Vec<(u8, Value<'_>)> = Vec::new();
        self.for_each(|id, value| set.push((id, value)));
        // A stable sort: repeated properties (user properties) keep the order given.
        set.sort_by_key(|&(id, _)| {
            order.iter().position(|&first| first == id).unwrap_or(order.len())
        });
        put_varint(out, u32::try_from(self.wire_len()).unwrap_or(VARINT_MAX));
        for (id, value) in set {
            put_property(out, id, value);
        }
    }

    /// PUBLISH's order without allocating (every forwarded message is encoded with it): three
    /// passes over the properties, for the first, the middle and the last.
    fn write_publish(&self, out: &mut BytesMut) {
        put_varint(out, u32::try_from(self.wire_len()).unwrap_or(VARINT_MAX));
        let middle = |id: u8| id != PUBLISH_FIRST && id != PUBLISH_LAST;
        let passes: [&dyn Fn(u8) -> bool; 3] =
            [&|id| id == PUBLISH_FIRST, &middle, &|id| id == PUBLISH_LAST];
        for pass in passes {
            self.for_each(|id, value| {
                if pass(id) {
                    put_property(out, id, value);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::MqttString;

    #[test]
    fn connack_properties_follow_mosquitto() {
        let p = Properties {
            receive_maximum: Some(5),
            topic_alias_maximum: Some(3),
            maximum_qos: Some(1),
            retain_available: Some(0),
            maximum_packet_size: Some(1000),
            server_keep_alive: Some(10),
            assigned_client_identifier: Some(MqttString::from_static("a")),
            reason_string: Some(MqttString::from_static("r")),
            ..Properties::default()
        };
        let mut out = BytesMut::new();
        p.write_in(Context::ConnAck, &mut out);
        #[rustfmt::skip]
        let expected = [
            26,
            0x22, 0, 3,
            0x13, 0, 10,
            0x12, 0, 1, b'a',
            0x25, 0,
            0x27, 0, 0, 0x03, 0xe8,
            0x21, 0, 5,
            0x24, 1,
            0x1F, 0, 1, b'r',
        ];
        assert_eq!(&out[..], expected);
    }

    #[test]
    fn publish_properties_follow_mosquitto() {
        let p = Properties {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(60),
            content_type: Some(MqttString::from_static("t")),
            subscription_identifiers: vec![5, 7],
            user_properties: vec![(MqttString::from_static("k"), MqttString::from_static("v"))],
            ..Properties::default()
        };
        let mut out = BytesMut::new();
        p.write_in(Context::Publish, &mut out);
        #[rustfmt::skip]
        let expected = [
            22,
            0x0B, 5,
            0x0B, 7,
            0x01, 1,
            0x03, 0, 1, b't',
            0x26, 0, 1, b'k', 0, 1, b'v',
            0x02, 0, 0, 0, 60,
        ];
        assert_eq!(&out[..], expected);
    }

    #[test]
    fn other_packets_keep_identifier_order() {
        let p = Properties {
            reason_string: Some(MqttString::from_static("r")),
            session_expiry_interval: Some(1),
            ..Properties::default()
        };
        let (mut ordered, mut plain) = (BytesMut::new(), BytesMut::new());
        p.write_in(Context::Disconnect, &mut ordered);
        p.write(&mut plain);
        assert_eq!(ordered, plain);
        assert_eq!(plain[1], 0x11);
    }
}
