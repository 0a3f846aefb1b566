//! PINGREQ and PINGRESP: a fixed header and nothing else. `decode` handles them directly (the
//! body must be empty, which `Reader::finish` checks); this module holds their byte tests.

#[cfg(test)]
mod tests {
    use crate::packet::Packet;
    use crate::packet::testing::{decode_err, round_trip};
    use crate::types::ProtocolVersion;

    #[test]
    fn pings_are_two_bytes_in_every_version() {
        for v in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            round_trip(&Packet::PingReq, v, &[0xC0, 0]);
            round_trip(&Packet::PingResp, v, &[0xD0, 0]);
        }
    }

    #[test]
    fn pings_with_a_body_or_flags_are_malformed() {
        assert_eq!(
            decode_err(&[0xC0, 1, 0], ProtocolVersion::V3_1_1),
            "malformed packet: [v3.1.1 §2.2.3] PINGREQ: 1 byte left after the last field"
        );
        assert_eq!(
            decode_err(&[0xD2, 0], ProtocolVersion::V5),
            "malformed packet: [v5.0 MQTT-2.1.3-1] PINGRESP: reserved flags are 0b0010, must be 0b0000"
        );
    }
}
