//! The fixed header: packet type, flags and remaining length, and `check`, which answers "is a
//! whole packet buffered?" without consuming anything; [`whole_packet_len`] is its public
//! form, for runtimes that look ahead in a read buffer.
//!
//! ```text
//!   bit    7   6   5   4   3   2   1   0
//! byte 1   packet type   | flags (per type)
//! byte 2.. remaining length: 1 to 4 bytes, 7 bits each, least significant first,
//!          bit 7 set = another byte follows
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::DecodeError;
use crate::types::PacketType;
use crate::types::ProtocolVersion;
use crate::writer::put_varint;

/// A parsed fixed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FixedHeader {
    pub(crate) packet_type: PacketType,
    /// The low nibble of byte 1, already checked for the packet type.
    pub(crate) flags: u8,
    /// Bytes taken by the fixed header itself (2 to 5).
    pub(crate) header_len: usize,
    /// The remaining length: bytes of the packet after the fixed header.
    pub(crate) remaining_len: usize,
}

impl FixedHeader {
    /// Bytes of the whole packet.
    pub(crate) const fn total_len(&self) -> usize {
        self.header_len + self.remaining_len
    }
}

/// Parses the fixed header at the front of `buf`. `Ok(None)` means more bytes are needed;
/// errors are reported as soon as the bytes seen prove them (bad flags need only byte 1).
pub(crate) fn check(
    buf: &[u8],
    version: ProtocolVersion,
) -> Result<Option<FixedHeader>, DecodeError> {
    let Some(&first) = buf.first() else { return Ok(None) };
    let packet_type = packet_type(first >> 4, version)?;
    let flags = first & 0x0F;
    check_flags(packet_type, flags, version)?;
    let mut remaining_len = 0usize;
    for i in 0..4 {
        let Some(&byte) = buf.get(1 + i) else { return Ok(None) };
        remaining_len |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 && version.is_v5() {
                return Err(DecodeError::malformed(
                    version,
                    "§2.2.3",
                    "MQTT-1.5.5-1",
                    format!(
                        "{packet_type}: remaining length is not encoded in the minimum number of bytes"
                    ),
                ));
            }
            return Ok(Some(FixedHeader { packet_type, flags, header_len: 2 + i, remaining_len }));
        }
    }
    // A protocol error, as Mosquitto 2.0.11 counts it (`disconnected due to protocol error`).
    Err(DecodeError::protocol(
        version,
        "§2.2.3",
        "§2.1.4",
        format!("{packet_type}: remaining length is longer than 4 bytes"),
    ))
}

/// Is a whole packet buffered at the front of `buf`, and how long is it: its length in bytes
/// (fixed header included) once all of it is in `buf`, `Ok(None)` while more bytes are needed.
/// The fixed header is checked as [`decode`](crate::decode) checks it; nothing is consumed
/// and nothing is allocated unless the header is bad.
///
/// # Errors
/// When the fixed header is malformed for `version` (a reserved packet type, bad flags, or a
/// remaining length that is too long or not minimally encoded).
pub fn whole_packet_len(
    buf: &[u8],
    version: ProtocolVersion,
) -> Result<Option<usize>, DecodeError> {
    Ok(check(buf, version)?.map(|header| header.total_len()).filter(|&len| len <= buf.len()))
}

/// The packet type in the high nibble of byte 1.
fn packet_type(nibble: u8, version: ProtocolVersion) -> Result<PacketType, DecodeError> {
    match PacketType::from_u8(nibble) {
        Some(PacketType::Auth) if !version.is_v5() => Err(DecodeError::malformed(
            version,
            "§2.2.1",
            "§2.1.2",
            "packet type 15 is reserved before MQTT 5.0",
        )),
        Some(packet_type) => Ok(packet_type),
        // A protocol error, not a malformed packet, as Mosquitto 2.0.11 counts it (a v5 client
        // gets DISCONNECT 0x82: tests/differential/publish.rs).
        None => {
            Err(DecodeError::protocol(version, "§2.2.1", "§2.1.2", "packet type 0 is reserved"))
        }
    }
}

/// Checks the flags of byte 1 for `packet_type` (v3.1.1 Table 2.2, v5.0 Table 2-2).
fn check_flags(
    packet_type: PacketType,
    flags: u8,
    version: ProtocolVersion,
) -> Result<(), DecodeError> {
    if packet_type == PacketType::Publish {
        if flags & 0x06 == 0x06 {
            return Err(DecodeError::malformed(
                version,
                "MQTT-3.3.1-4",
                "MQTT-3.3.1-4",
                "PUBLISH: QoS 3 (both QoS bits set)",
            ));
        }
        return Ok(());
    }
    let expected = fixed_flags(packet_type);
    if flags != expected {
        return Err(DecodeError::malformed(
            version,
            "MQTT-2.2.2-1",
            "MQTT-2.1.3-1",
            format!("{packet_type}: reserved flags are 0b{flags:04b}, must be 0b{expected:04b}"),
        ));
    }
    Ok(())
}

/// The fixed flags of every packet type but PUBLISH.
pub(crate) const fn fixed_flags(packet_type: PacketType) -> u8 {
    match packet_type {
        PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
        _ => 0,
    }
}

/// Writes byte 1 and the remaining length.
pub(crate) fn write(out: &mut BytesMut, packet_type: PacketType, flags: u8, remaining_len: u32) {
    out.put_u8((packet_type as u8) << 4 | flags);
    put_varint(out, remaining_len);
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: ProtocolVersion = ProtocolVersion::V3_1_1;

    #[test]
    fn incomplete_headers_ask_for_more() {
        assert_eq!(check(&[], V4), Ok(None));
        assert_eq!(check(&[0x30], V4), Ok(None));
        assert_eq!(check(&[0x30, 0x80, 0x80], V4), Ok(None));
    }

    #[test]
    fn complete_headers_give_type_and_lengths() {
        let h = check(&[0x3B, 0xC1, 0x02, 0xFF], V4).unwrap().unwrap();
        assert_eq!(h.packet_type, PacketType::Publish);
        assert_eq!(h.flags, 0x0B);
        assert_eq!((h.header_len, h.remaining_len), (3, 321));
        assert_eq!(h.total_len(), 324);
    }

    #[test]
    fn header_violations_name_their_rule() {
        let cases: [(&[u8], ProtocolVersion, &str); 7] = [
            (&[0x00, 0x00], V4, "[v3.1.1 §2.2.1] packet type 0 is reserved"),
            (&[0xF0, 0x00], V4, "[v3.1.1 §2.2.1] packet type 15 is reserved before MQTT 5.0"),
            (&[0x36], V4, "[v3.1.1 MQTT-3.3.1-4] PUBLISH: QoS 3 (both QoS bits set)"),
            (
                &[0x60],
                V4,
                "[v3.1.1 MQTT-2.2.2-1] PUBREL: reserved flags are 0b0000, must be 0b0010",
            ),
            (
                &[0xC1],
                ProtocolVersion::V5,
                "[v5.0 MQTT-2.1.3-1] PINGREQ: reserved flags are 0b0001, must be 0b0000",
            ),
            (
                &[0x30, 0xFF, 0xFF, 0xFF, 0xFF],
                V4,
                "[v3.1.1 §2.2.3] PUBLISH: remaining length is longer than 4 bytes",
            ),
            (
                &[0x30, 0x80, 0x00],
                ProtocolVersion::V5,
                "[v5.0 MQTT-1.5.5-1] PUBLISH: remaining length is not encoded in the minimum number of bytes",
            ),
        ];
        for (bytes, version, expected) in cases {
            let err = check(bytes, version).unwrap_err();
            assert_eq!(err.violation().map(ToString::to_string).as_deref(), Some(expected));
        }
    }

    #[test]
    fn whole_packet_len_waits_for_the_last_byte() {
        let packet = [0x30, 0x03, 0x00, 0x01, b't', 0xC0];
        assert_eq!(whole_packet_len(&packet[..1], V4), Ok(None));
        assert_eq!(whole_packet_len(&packet[..4], V4), Ok(None));
        assert_eq!(whole_packet_len(&packet[..5], V4), Ok(Some(5)));
        assert_eq!(whole_packet_len(&packet, V4), Ok(Some(5)));
        assert!(whole_packet_len(&[0x00, 0x00], V4).is_err());
    }

    #[test]
    fn writes_what_it_reads() {
        let mut out = BytesMut::new();
        write(&mut out, PacketType::Subscribe, 0b0010, 200);
        assert_eq!(&out[..], [0x82, 0xC8, 0x01]);
        assert_eq!(check(&out, V4).unwrap().map(|h| h.remaining_len), Some(200));
    }
}
