//! DISCONNECT: empty in 3.x; in 5.0 a reason code and properties, both omitted when the reason
//! is Normal disconnection and there are no properties.
//!
//! ```text
//! 3.x: (nothing)        5.0: [reason code [properties]]
//! ```

use bytes::BytesMut;

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::packet::fields::{ReasonRule, write_tail};
use crate::properties::{Context, Properties};
use crate::reader::Reader;
use crate::reason::{self, ReasonCode};
use crate::types::ProtocolVersion;

/// DISCONNECT: an orderly close (sent by either side in 5.0, by the client in 3.x).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Disconnect {
    /// Why (v5); Success (Normal disconnection) in 3.x.
    pub reason: ReasonCode,
    /// v5 properties (Session Expiry Interval, Reason String, Server Reference, User Properties).
    pub properties: Properties,
}

/// The reason codes and properties DISCONNECT allows.
const RULE: ReasonRule = ReasonRule {
    packet: PacketType::Disconnect,
    allowed: reason::DISCONNECT,
    section: "§3.14.2.1",
    context: Context::Disconnect,
};

impl Disconnect {
    /// A DISCONNECT with `reason` and no properties.
    #[must_use]
    pub fn new(reason: ReasonCode) -> Self {
        Self { reason, properties: Properties::default() }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        if !r.version.is_v5() || r.is_empty() {
            return Ok(Self::default());
        }
        let (reason, properties) = RULE.read_tail(r)?;
        Ok(Self { reason, properties })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if !v.is_v5() {
            return Ok(0);
        }
        RULE.tail_len(v, self.reason, &self.properties)
    }

    pub(crate) fn write_body(&self, v: ProtocolVersion, out: &mut BytesMut) {
        if v.is_v5() {
            write_tail(self.reason, &self.properties, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::{decode_err, encode_err, round_trip};

    #[test]
    fn disconnect_in_every_version() {
        round_trip(&Packet::Disconnect(Disconnect::default()), ProtocolVersion::V3_1, &[0xE0, 0]);
        round_trip(&Packet::Disconnect(Disconnect::default()), ProtocolVersion::V3_1_1, &[0xE0, 0]);
        round_trip(&Packet::Disconnect(Disconnect::default()), ProtocolVersion::V5, &[0xE0, 0]);
        let will = Disconnect::new(ReasonCode::DisconnectWithWillMessage);
        round_trip(&Packet::Disconnect(will), ProtocolVersion::V5, &[0xE0, 1, 0x04]);
        let mut expiry = Disconnect::default();
        expiry.properties.session_expiry_interval = Some(0);
        round_trip(
            &Packet::Disconnect(expiry),
            ProtocolVersion::V5,
            &[0xE0, 7, 0, 5, 0x11, 0, 0, 0, 0],
        );
    }

    #[test]
    fn disconnect_violations() {
        assert_eq!(
            decode_err(&[0xE0, 1, 0], ProtocolVersion::V3_1_1),
            "malformed packet: [v3.1.1 §2.2.3] DISCONNECT: 1 byte left after the last field"
        );
        assert_eq!(
            decode_err(&[0xE0, 1, 0x01], ProtocolVersion::V5),
            "protocol error: [v5.0 §3.14.2.1] DISCONNECT: reason code 0x01 (Granted QoS 1) is not allowed here"
        );
        assert_eq!(
            decode_err(&[0xE0, 3, 0x00, 1, 0x11], ProtocolVersion::V5),
            "malformed packet: [v5.0 §2.2.2.1] DISCONNECT: property length ends inside the Session Expiry Interval (4 bytes needed, 0 left)"
        );
        assert_eq!(
            encode_err(
                &Packet::Disconnect(Disconnect::new(ReasonCode::ContinueAuthentication)),
                ProtocolVersion::V5
            ),
            "cannot encode: [v5.0 §3.14.2.1] DISCONNECT: reason code 0x18 (Continue authentication) is not allowed here"
        );
    }
}
