//! CONNACK: session-present flag, return code (3.x) or reason code (5.0), and v5 properties.
//!
//! ```text
//! acknowledge flags (bit 0 session present; 3.1: unused) | return / reason code | [v5: properties]
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::packet::fields::{SpecRule, check_reason, read_reason};
use crate::properties::{Context, Properties};
use crate::reader::Reader;
use crate::reason::{self, ReasonCode};
use crate::types::ProtocolVersion;

/// CONNACK: the server's answer to CONNECT.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnAck {
    /// The server resumed a stored session (always false in 3.1, which has no such flag).
    pub session_present: bool,
    /// Success, or why the connection is refused (3.x: see the mapping in [`ReasonCode`]).
    pub reason: ReasonCode,
    /// v5 CONNACK properties.
    pub properties: Properties,
}

/// A refused connection has no session.
const REFUSED_WITH_SESSION: SpecRule = SpecRule {
    rule3: "MQTT-3.2.2-4",
    rule5: "MQTT-3.2.2-6",
    detail: "CONNACK: session present with a refusal",
};

impl ConnAck {
    /// A CONNACK with `reason`, no session and no properties.
    #[must_use]
    pub fn new(reason: ReasonCode) -> Self {
        Self { session_present: false, reason, properties: Properties::default() }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let v = r.version;
        let flags = r.u8("connect acknowledge flags")?;
        // MQTT 3.1 calls this byte "reserved, not used": ignore it.
        let session_present = v != ProtocolVersion::V3_1 && flags & 0x01 != 0;
        if v != ProtocolVersion::V3_1 && flags & 0xFE != 0 {
            return Err(DecodeError::malformed(
                v,
                "§3.2.2.1",
                "§3.2.2.1.1",
                "CONNACK: reserved acknowledge flags (bits 7-1) are set",
            ));
        }
        let reason = if v.is_v5() {
            read_reason(r, reason::CONNACK, "§3.2.2.2")?
        } else {
            let code = r.u8("return code")?;
            ReasonCode::from_v3_connack(code).ok_or_else(|| {
                DecodeError::protocol(
                    v,
                    "§3.2.2.3",
                    "§3.2.2.3",
                    format!("CONNACK: return code {code} is reserved"),
                )
            })?
        };
        if session_present && reason.is_error() {
            return Err(DecodeError::Protocol(REFUSED_WITH_SESSION.violation(v)));
        }
        let properties = if v.is_v5() {
            Properties::decode(r, Context::ConnAck)?
        } else {
            Properties::default()
        };
        Ok(Self { session_present, reason, properties })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.session_present && self.reason.is_error() {
            return Err(EncodeError::Invalid(REFUSED_WITH_SESSION.violation(v)));
        }
        if v.is_v5() {
            check_reason(v, PacketType::ConnAck, self.reason, reason::CONNACK, "§3.2.2.2")?;
            Ok(2 + self.properties.encoded_len_prefixed(Context::ConnAck)?)
        } else {
            Ok(2)
        }
    }

    pub(crate) fn write_body(&self, v: ProtocolVersion, out: &mut BytesMut) {
        out.put_u8(u8::from(self.session_present && v != ProtocolVersion::V3_1));
        if v.is_v5() {
            out.put_u8(self.reason.as_u8());
            self.properties.write_in(Context::ConnAck, out);
        } else {
            out.put_u8(self.reason.to_v3_connack());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::{decode_err, encode_err, round_trip};
    use crate::properties::PropertyValues;

    #[test]
    fn connack_in_every_version() {
        let refused = ConnAck::new(ReasonCode::NotAuthorized);
        round_trip(&Packet::ConnAck(refused.clone()), ProtocolVersion::V3_1, &[0x20, 2, 0, 5]);
        round_trip(&Packet::ConnAck(refused.clone()), ProtocolVersion::V3_1_1, &[0x20, 2, 0, 5]);
        round_trip(&Packet::ConnAck(refused), ProtocolVersion::V5, &[0x20, 3, 0, 0x87, 0]);
        let resumed = ConnAck { session_present: true, ..ConnAck::new(ReasonCode::Success) };
        round_trip(&Packet::ConnAck(resumed), ProtocolVersion::V3_1_1, &[0x20, 2, 1, 0]);
    }

    #[test]
    fn v5_connack_as_mosquitto_sends_it() {
        // Observed from mosquitto 2.0.11 (tests/differential): topic alias maximum 10, then
        // receive maximum 20, the order Mosquitto adds them in.
        let ack = ConnAck {
            properties: PropertyValues {
                topic_alias_maximum: Some(10),
                receive_maximum: Some(20),
                ..PropertyValues::default()
            }
            .into(),
            ..ConnAck::new(ReasonCode::Success)
        };
        round_trip(
            &Packet::ConnAck(ack),
            ProtocolVersion::V5,
            &[0x20, 0x09, 0x00, 0x00, 0x06, 0x22, 0x00, 0x0a, 0x21, 0x00, 0x14],
        );
    }

    #[test]
    fn v5_only_codes_map_to_the_nearest_v3_code() {
        let mut out = BytesMut::new();
        let packet = Packet::ConnAck(ConnAck::new(ReasonCode::ServerBusy));
        crate::encode(&packet, ProtocolVersion::V3_1_1, 100, &mut out).unwrap();
        assert_eq!(&out[..], [0x20, 2, 0, 3]);
    }

    #[test]
    fn connack_violations() {
        let v4 = ProtocolVersion::V3_1_1;
        let v5 = ProtocolVersion::V5;
        assert_eq!(
            decode_err(&[0x20, 2, 2, 0], v4),
            "malformed packet: [v3.1.1 §3.2.2.1] CONNACK: reserved acknowledge flags (bits 7-1) are set"
        );
        assert_eq!(
            decode_err(&[0x20, 2, 0, 6], v4),
            "protocol error: [v3.1.1 §3.2.2.3] CONNACK: return code 6 is reserved"
        );
        assert_eq!(
            decode_err(&[0x20, 2, 1, 5], v4),
            "protocol error: [v3.1.1 MQTT-3.2.2-4] CONNACK: session present with a refusal"
        );
        assert_eq!(
            decode_err(&[0x20, 3, 0, 0x10, 0], v5),
            "protocol error: [v5.0 §3.2.2.2] CONNACK: reason code 0x10 (No matching subscribers) is not allowed here"
        );
        assert_eq!(
            decode_err(&[0x20, 3, 0, 0x03, 0], v5),
            "malformed packet: [v5.0 §3.2.2.2] CONNACK: unknown reason code 0x03"
        );
        assert_eq!(
            decode_err(&[0x20, 3, 0, 0, 0], v4),
            "malformed packet: [v3.1.1 §2.2.3] CONNACK: 1 byte left after the last field"
        );
        assert_eq!(
            encode_err(&Packet::ConnAck(ConnAck::new(ReasonCode::GrantedQoS1)), v5),
            "cannot encode: [v5.0 §3.2.2.2] CONNACK: reason code 0x01 (Granted QoS 1) is not allowed here"
        );
    }
}
