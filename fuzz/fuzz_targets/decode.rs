//! Fuzz target for `mqtt_codec::decode`: any bytes, any version, any size limit.
//!
//! The first input byte picks the version (`% 3`), the maximum packet size (high bit set: no
//! limit, else 1 + 16 × bits 2..=6) and the chunk size used for the streaming check (bits
//! 0..=2 + 1); the rest is the byte stream. Checked: no panic; the buffer never grows past the
//! limit; every decoded packet re-encodes and decodes back to itself; feeding the stream in
//! chunks gives exactly the results of decoding it whole.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mqtt_codec::{
    DecodeError, MAX_PACKET_SIZE, Packet, ProtocolVersion, decode, encode, encoded_len,
};

/// Decodes packets from `buf` until it needs more bytes or fails; checks each packet.
fn drain(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max: u32,
    out: &mut Vec<Result<Packet, DecodeError>>,
) -> bool {
    let limit = buf.capacity().max(max as usize);
    loop {
        let result = decode(buf, version, max);
        assert!(buf.capacity() <= limit, "buffer grew to {} over {limit}", buf.capacity());
        match result {
            Ok(Some(packet)) => {
                check_round_trip(&packet, version);
                out.push(Ok(packet));
            }
            Ok(None) => return true,
            Err(err) => {
                out.push(Err(err));
                return false;
            }
        }
    }
}

/// A decoded packet re-encodes, and the encoding decodes back to the same packet.
fn check_round_trip(packet: &Packet, version: ProtocolVersion) {
    let version = if let Packet::Connect(connect) = packet { connect.protocol } else { version };
    let mut wire = BytesMut::new();
    if let Err(err) = encode(packet, version, MAX_PACKET_SIZE, &mut wire) {
        panic!("decoded {packet:?} does not re-encode: {err}");
    }
    assert_eq!(encoded_len(packet, version), Ok(wire.len()));
    assert_eq!(decode(&mut wire, version, MAX_PACKET_SIZE).as_ref(), Ok(&Some(packet.clone())));
    assert!(wire.is_empty());
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else { return };
    let version = [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1, ProtocolVersion::V5]
        [usize::from(selector % 3)];
    let max = if selector & 0x80 != 0 {
        MAX_PACKET_SIZE
    } else {
        1 + 16 * u32::from((selector >> 2) & 0x1F)
    };
    let chunk = usize::from(selector & 0x07) + 1;

    let mut whole = Vec::new();
    drain(&mut BytesMut::from(stream), version, max, &mut whole);

    let mut chunked = Vec::new();
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        if !drain(&mut buf, version, max, &mut chunked) {
            break;
        }
    }
    assert_eq!(whole, chunked, "decoding in chunks of {chunk} differs from decoding whole");
});
