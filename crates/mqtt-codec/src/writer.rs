//! Encoding primitives: variable byte integers, length-prefixed strings and binary data, and the
//! size each one takes, so that a packet's length is known before a byte is written.

use bytes::{BufMut, BytesMut};

use crate::error::EncodeError;
use crate::topic::MqttString;

/// Bytes a variable byte integer takes for `value` (1..=4; `value` is at most 268,435,455).
pub(crate) const fn varint_len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes `value` as a variable byte integer; `value` must be at most 268,435,455.
pub(crate) fn put_varint(out: &mut BytesMut, mut value: u32) {
    loop {
        let mut byte = (value & 0x7F) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        out.put_u8(byte);
        if value == 0 {
            return;
        }
    }
}

/// Bytes an MQTT string takes with its length prefix (the type guarantees it fits).
pub(crate) fn string_len(s: &MqttString) -> usize {
    2 + s.len()
}

/// Writes an MQTT string with its two-byte length prefix.
pub(crate) fn put_string(out: &mut BytesMut, s: &MqttString) {
    put_binary(out, s.as_bytes());
}

/// Bytes binary data takes with its length prefix, or an error if it is over 65535 bytes.
pub(crate) fn binary_len(what: &'static str, data: &[u8]) -> Result<usize, EncodeError> {
    if data.len() > usize::from(u16::MAX) {
        return Err(EncodeError::FieldTooLong { what, len: data.len() });
    }
    Ok(2 + data.len())
}

/// Writes binary data with its two-byte length prefix; the length was checked by `binary_len`.
pub(crate) fn put_binary(out: &mut BytesMut, data: &[u8]) {
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
    out.put_u16(len);
    out.put_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_use_the_fewest_bytes() {
        for (value, bytes) in [
            (0, &[0x00][..]),
            (127, &[0x7F][..]),
            (128, &[0x80, 0x01][..]),
            (16_383, &[0xFF, 0x7F][..]),
            (16_384, &[0x80, 0x80, 0x01][..]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01][..]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F][..]),
        ] {
            let mut out = BytesMut::new();
            put_varint(&mut out, value);
            assert_eq!(&out[..], bytes, "{value}");
            assert_eq!(varint_len(value), bytes.len());
        }
    }

    #[test]
    fn binary_over_65535_bytes_is_refused() {
        assert_eq!(binary_len("password", &[0; 65535]), Ok(65537));
        assert_eq!(
            binary_len("password", &[0; 65536]),
            Err(EncodeError::FieldTooLong { what: "password", len: 65536 })
        );
    }
}
