//! A bounded reader over one packet's bytes: big-endian integers, variable byte integers, MQTT
//! strings and binary data, nested scopes for property lists, and `finish()`, which rejects
//! bytes left over after the last field.
//!
//! Every failure is a `DecodeError` naming the packet and the field, so a truncated CONNECT
//! reads "CONNECT: remaining length ends inside the client identifier".

use bytes::{Buf, Bytes};

use crate::error::DecodeError;
use crate::topic::{MqttString, StringError};
use crate::types::PacketType;
use crate::types::ProtocolVersion;

/// Largest value a variable byte integer can hold (four bytes).
pub(crate) const VARINT_MAX: u32 = 268_435_455;

/// Reads fields from the body of one packet (or from one property list inside it).
#[derive(Debug)]
pub(crate) struct Reader {
    buf: Bytes,
    pos: usize,
    /// The version whose rules apply (CONNECT updates it once the level is known).
    pub(crate) version: ProtocolVersion,
    /// The packet being read, for messages.
    pub(crate) packet: PacketType,
    /// What bounds this reader, for messages: "remaining length" or "property length".
    scope: &'static str,
}

impl Reader {
    /// A reader over the body of a `packet` (the bytes the remaining length announced).
    pub(crate) fn new(buf: Bytes, version: ProtocolVersion, packet: PacketType) -> Self {
        Self { buf, pos: 0, version, packet, scope: "remaining length" }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True once everything is read.
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The error for a field that does not fit in what is left.
    fn short(&self, what: &str, needed: usize) -> DecodeError {
        let (rule3, rule5) = self.length_rules();
        DecodeError::malformed(
            self.version,
            rule3,
            rule5,
            format!(
                "{}: {} ends inside the {what} ({needed} {} needed, {} left)",
                self.packet,
                self.scope,
                bytes_word(needed),
                self.remaining()
            ),
        )
    }

    /// The sections that define this reader's bound.
    fn length_rules(&self) -> (&'static str, &'static str) {
        if self.scope == "remaining length" {
            ("§2.2.3", "§2.1.4")
        } else {
            ("§2.2.2.1", "§2.2.2.1")
        }
    }

    /// The next `n` bytes as a range of `buf`.
    fn take(&mut self, n: usize, what: &str) -> Result<std::ops::Range<usize>, DecodeError> {
        if n > self.remaining() {
            return Err(self.short(what, n));
        }
        let start = self.pos;
        self.pos += n;
        Ok(start..self.pos)
    }

    /// One byte.
    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        let range = self.take(1, what)?;
        Ok(self.buf[range.start])
    }

    /// A big-endian two-byte integer.
    pub(crate) fn u16(&mut self, what: &str) -> Result<u16, DecodeError> {
        let range = self.take(2, what)?;
        Ok(u16::from_be_bytes([self.buf[range.start], self.buf[range.start + 1]]))
    }

    /// A big-endian four-byte integer.
    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let range = self.take(4, what)?;
        let b = &self.buf[range];
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A variable byte integer (v5.0 §1.5.5): at most four bytes, minimally encoded.
    pub(crate) fn varint(&mut self, what: &str) -> Result<u32, DecodeError> {
        let mut value: u32 = 0;
        for i in 0..4 {
            let byte = self.u8(what)?;
            value |= u32::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                if i > 0 && byte == 0 {
                    return Err(DecodeError::malformed(
                        self.version,
                        "§2.2.3",
                        "MQTT-1.5.5-1",
                        format!(
                            "{}: {what} is not encoded in the minimum number of bytes",
                            self.packet
                        ),
                    ));
                }
                return Ok(value);
            }
        }
        Err(DecodeError::malformed(
            self.version,
            "§2.2.3",
            "§1.5.5",
            format!("{}: {what} is longer than 4 bytes", self.packet),
        ))
    }

    /// The next `n` bytes, sharing the packet's buffer.
    pub(crate) fn bytes(&mut self, n: usize, what: &str) -> Result<Bytes, DecodeError> {
        let range = self.take(n, what)?;
        Ok(self.buf.slice(range))
    }

    /// Binary data: a two-byte length, then that many bytes (shared, not copied).
    pub(crate) fn binary(&mut self, what: &str) -> Result<Bytes, DecodeError> {
        let len = self.u16(what)?;
        self.bytes(usize::from(len), what)
    }

    /// An MQTT UTF-8 string: a two-byte length, then well-formed UTF-8 without U+0000.
    pub(crate) fn string(&mut self, what: &str) -> Result<MqttString, DecodeError> {
        let bytes = self.binary(what)?;
        MqttString::from_bytes(bytes).map_err(|err| self.string_error(what, err))
    }

    /// The error for a string field that broke the string rules.
    pub(crate) fn string_error(&self, what: &str, err: StringError) -> DecodeError {
        let (rule3, rule5) = match err {
            StringError::NullCharacter => ("MQTT-1.5.3-2", "MQTT-1.5.4-2"),
            StringError::DisallowedCodePoint(_) => ("§1.5.3", "§1.5.4"),
            StringError::InvalidUtf8 | StringError::TooLong(_) => ("MQTT-1.5.3-1", "MQTT-1.5.4-1"),
        };
        DecodeError::malformed(
            self.version,
            rule3,
            rule5,
            format!("{}: {what}: {err}", self.packet),
        )
    }

    /// A reader over the next `n` bytes (a property list), which this reader skips.
    pub(crate) fn sub(&mut self, n: usize, what: &str) -> Result<Self, DecodeError> {
        let buf = self.bytes(n, what)?;
        Ok(Self {
            buf,
            pos: 0,
            version: self.version,
            packet: self.packet,
            scope: "property length",
        })
    }

    /// Everything left (a PUBLISH payload), shared. Moves the buffer handle out rather than
    /// cloning it, which saves a reference-count round trip per PUBLISH.
    pub(crate) fn rest(&mut self) -> Bytes {
        let mut rest = std::mem::take(&mut self.buf);
        rest.advance(self.pos);
        self.pos = 0;
        rest
    }

    /// Succeeds only if every byte was read.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.is_empty() {
            return Ok(());
        }
        let (rule3, rule5) = self.length_rules();
        Err(DecodeError::malformed(
            self.version,
            rule3,
            rule5,
            format!(
                "{}: {} {} left after the last field",
                self.packet,
                self.remaining(),
                bytes_word(self.remaining())
            ),
        ))
    }
}

/// "byte" or "bytes".
const fn bytes_word(n: usize) -> &'static str {
    if n == 1 { "byte" } else { "bytes" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &'static [u8]) -> Reader {
        Reader::new(Bytes::from_static(bytes), ProtocolVersion::V5, PacketType::Publish)
    }

    #[test]
    fn reads_big_endian_integers_and_finishes() {
        let mut r = reader(&[1, 0x01, 0x02, 0, 0, 1, 0]);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(r.u16("b"), Ok(0x0102));
        assert_eq!(r.u32("c"), Ok(256));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn variable_byte_integers_follow_the_spec_examples() {
        for (bytes, value) in [
            (&[0x00][..], 0),
            (&[0x7F][..], 127),
            (&[0x80, 0x01][..], 128),
            (&[0xFF, 0x7F][..], 16_383),
            (&[0x80, 0x80, 0x01][..], 16_384),
            (&[0xFF, 0xFF, 0xFF, 0x7F][..], VARINT_MAX),
        ] {
            let mut r =
                Reader::new(Bytes::copy_from_slice(bytes), ProtocolVersion::V5, PacketType::Auth);
            assert_eq!(r.varint("n"), Ok(value));
            assert!(r.is_empty());
        }
        let err = reader(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]).varint("n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed packet: [v5.0 §1.5.5] PUBLISH: n is longer than 4 bytes"
        );
        let err = reader(&[0x80, 0x00]).varint("n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed packet: [v5.0 MQTT-1.5.5-1] PUBLISH: n is not encoded in the minimum number of bytes"
        );
    }

    #[test]
    fn short_fields_and_leftovers_are_malformed() {
        let mut r = reader(&[0, 5, b'a']);
        let err = r.string("topic name").unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed packet: [v5.0 §2.1.4] PUBLISH: remaining length ends inside the topic name (5 bytes needed, 1 left)"
        );
        let r = reader(&[1, 2]);
        assert_eq!(
            r.finish().unwrap_err().to_string(),
            "malformed packet: [v5.0 §2.1.4] PUBLISH: 2 bytes left after the last field"
        );
    }

    #[test]
    fn strings_are_checked_and_shared() {
        let mut r = reader(&[0, 2, b'h', b'i', 0, 1, 0]);
        assert_eq!(r.string("a").map(|s| s.to_string()), Ok("hi".to_owned()));
        assert_eq!(
            r.string("b").unwrap_err().to_string(),
            "malformed packet: [v5.0 MQTT-1.5.4-2] PUBLISH: b: string contains the null character U+0000"
        );
    }
}
