//! AUTH (5.0 only): extended authentication exchange; reason code and properties, both omitted
//! for Success without properties.
//!
//! ```text
//! [reason code (0x00, 0x18, 0x19) [properties]]
//! ```

use bytes::BytesMut;

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::packet::fields::{ReasonRule, write_tail};
use crate::properties::{Context, Properties};
use crate::reader::Reader;
use crate::reason::{self, ReasonCode};
use crate::types::ProtocolVersion;

/// AUTH: one step of MQTT 5 extended authentication.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    /// Success, ContinueAuthentication or ReAuthenticate.
    pub reason: ReasonCode,
    /// Authentication Method / Data, Reason String, User Properties.
    pub properties: Properties,
}

/// The reason codes and properties AUTH allows.
const RULE: ReasonRule = ReasonRule {
    packet: PacketType::Auth,
    allowed: reason::AUTH,
    section: "§3.15.2.1",
    context: Context::Auth,
};

impl Auth {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let (reason, properties) = RULE.read_tail(r)?;
        Ok(Self { reason, properties })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if !v.is_v5() {
            return Err(EncodeError::invalid(
                v,
                "§2.2.1",
                "§2.1.2",
                "AUTH does not exist before MQTT 5.0",
            ));
        }
        RULE.tail_len(v, self.reason, &self.properties)
    }

    pub(crate) fn write_body(&self, _v: ProtocolVersion, out: &mut BytesMut) {
        write_tail(self.reason, &self.properties, out);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::{decode_err, encode_err, round_trip};
    use crate::properties::PropertyValues;
    use crate::topic::MqttString;

    #[test]
    fn auth_round_trips_in_v5() {
        round_trip(&Packet::Auth(Auth::default()), ProtocolVersion::V5, &[0xF0, 0]);
        let auth = Auth {
            reason: ReasonCode::ContinueAuthentication,
            properties: PropertyValues {
                authentication_method: Some(MqttString::from_static("X")),
                authentication_data: Some(Bytes::from_static(b"\x01")),
                ..PropertyValues::default()
            }
            .into(),
        };
        round_trip(
            &Packet::Auth(auth),
            ProtocolVersion::V5,
            &[0xF0, 10, 0x18, 8, 0x15, 0, 1, b'X', 0x16, 0, 1, 1],
        );
    }

    #[test]
    fn auth_is_v5_only_and_checks_its_codes() {
        assert_eq!(
            decode_err(&[0xF0, 0], ProtocolVersion::V3_1_1),
            "malformed packet: [v3.1.1 §2.2.1] packet type 15 is reserved before MQTT 5.0"
        );
        assert_eq!(
            encode_err(&Packet::Auth(Auth::default()), ProtocolVersion::V3_1),
            "cannot encode: [v3.1.1 §2.2.1] AUTH does not exist before MQTT 5.0"
        );
        assert_eq!(
            decode_err(&[0xF0, 1, 0x80], ProtocolVersion::V5),
            "protocol error: [v5.0 §3.15.2.1] AUTH: reason code 0x80 (Unspecified error) is not allowed here"
        );
    }
}
