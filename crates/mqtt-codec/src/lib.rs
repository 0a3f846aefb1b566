//! MQTT 3.1, 3.1.1 and 5.0 control packets: bytes to typed packets and back, with no I/O.
//!
//! One [`Packet`] model serves all three versions; the [`ProtocolVersion`] is an argument to
//! [`decode`] and [`encode`]. Decoding is streaming (`Ok(None)` until a whole packet is
//! buffered), enforces a maximum packet size from the fixed header alone, and never copies a
//! PUBLISH payload or a string: they are [`bytes::Bytes`] slices of the read buffer. Every wire
//! rule of the 3.1.1 and 5.0 specs is checked, and each error names the rule it enforces and
//! the MQTT 5 reason code a broker answers with.
//!
//! Strings follow Mosquitto where the spec leaves a choice: besides ill-formed UTF-8 and U+0000
//! (which the spec forbids), control characters and Unicode noncharacters (which it says SHOULD
//! NOT be sent) are refused as malformed. Encoding validates too, and returns an [`EncodeError`]
//! rather than writing a packet the peer would reject.
//!
//! # Layout
//!
//! - `packet` — [`Packet`], [`decode`] / [`encode`] / [`encoded_len`] /
//!   [`encode_publish_header`], and one module per packet (`packet/connect.rs` ... `packet/auth.rs`), each with its byte tests.
//! - `fixed_header` — packet type, flags and remaining length; "is a whole packet buffered?"
//!   ([`whole_packet_len`]).
//! - `reader` / `writer` — bounded field reader (rejects trailing bytes) and encoding primitives.
//! - `properties` — [`Properties`] (one pointer, to [`PropertyValues`] when any is set) and
//!   the property table: [`PropertyId`] (name,
//!   [`PropertyType`], which [`PropertyContext`] allows it).
//! - `reason` — [`ReasonCode`] and the v3 CONNACK / SUBACK return-code mapping.
//! - `topic` — [`MqttString`], [`TopicName`], [`TopicFilter`]: validated, zero-copy strings;
//!   [`filter_matches`]: does a filter match a topic name.
//! - `types` — [`PacketType`], [`ProtocolVersion`], [`QoS`], [`PacketId`].
//! - `error` — [`DecodeError`] (malformed vs protocol error vs too large) and [`EncodeError`].
//!
//! # Example
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use mqtt_codec::{decode, encode, Packet, ProtocolVersion, Publish, TopicName};
//!
//! let publish = Publish::new(TopicName::new("sensors/1").unwrap(), Bytes::from_static(b"21.5"));
//! let mut wire = BytesMut::new();
//! encode(&Packet::Publish(publish.clone()), ProtocolVersion::V3_1_1, 1024, &mut wire).unwrap();
//! assert_eq!(&wire[..2], [0x30, 15]);
//!
//! // Bytes arrive in pieces: decode answers Ok(None) until the packet is complete.
//! let mut buf = BytesMut::from(&wire[..5]);
//! assert_eq!(decode(&mut buf, ProtocolVersion::V3_1_1, 1024), Ok(None));
//! buf.extend_from_slice(&wire[5..]);
//! assert_eq!(decode(&mut buf, ProtocolVersion::V3_1_1, 1024), Ok(Some(Packet::Publish(publish))));
//! assert!(buf.is_empty());
//! ```
#![warn(missing_docs)]

mod error;
mod fixed_header;
mod packet;
mod properties;
mod reader;
mod reason;
mod topic;
mod types;
mod writer;

pub use crate::error::{DecodeError, EncodeError, Spec, Violation};
pub use crate::fixed_header::whole_packet_len;
pub use crate::packet::{
    Ack, Auth, ConnAck, Connect, Disconnect, MAX_PACKET_SIZE, Packet, Publish, RetainHandling,
    Sender, SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe, Will, decode, encode,
    encode_as, encode_publish_header, encoded_len,
};
pub use crate::properties::{
    Context as PropertyContext, Properties, PropertyId, PropertyType, PropertyValues, WriteOrder,
};
pub use crate::reason::ReasonCode;
pub use crate::topic::{
    MqttString, StringError, TopicError, TopicFilter, TopicName, filter_matches,
};
pub use crate::types::{PacketId, PacketType, ProtocolVersion, QoS};
