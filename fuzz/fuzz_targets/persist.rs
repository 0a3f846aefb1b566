//! Fuzz target for the persistence readers: culex's snapshot file (`snapshot::decode`), its
//! journal (`journal::read_records` and `Replay`), and Mosquitto's `mosquitto.db`
//! (`snapshot::mosquitto::decode`).
//!
//! The first input byte picks the reader (`% 3`) and, with its high bit set, frames the rest
//! as that format's writer would (magic, version from bits 2..=3, lengths and checksums), so
//! that mutations reach the fields behind the checksums. Checked: no panic; a snapshot that
//! decodes (or is imported) encodes and decodes back to itself; every journal record read
//! encodes to the bytes it was read from; replaying what was read never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt_core::snapshot::journal::{RECORD_HEADER_LEN, Replay, encode_record, read_records};
use mqtt_core::snapshot::{MAGIC, MOSQUITTO_MAGIC, Snapshot, decode, encode, mosquitto};

/// A snapshot encodes, and decodes back to itself.
fn check_round_trip(snapshot: &Snapshot) {
    let bytes = encode(snapshot).expect("a decoded snapshot encodes");
    assert_eq!(decode(&bytes).as_ref(), Ok(snapshot));
}

/// `body` as a snapshot file of `version`: header, length and CRC-32 filled in.
fn snapshot_file(version: u32, body: &[u8]) -> Vec<u8> {
    let mut file = MAGIC.to_vec();
    file.extend_from_slice(&version.to_be_bytes());
    file.extend_from_slice(&(body.len() as u64).to_be_bytes());
    file.extend_from_slice(body);
    let crc = crc32fast::hash(&file);
    file.extend_from_slice(&crc.to_be_bytes());
    file
}

/// `input` as journal records: each a length byte and that many bytes of body (the last one
/// takes what is left), with the record header filled in.
fn journal_file(mut input: &[u8]) -> Vec<u8> {
    let mut file = Vec::new();
    while let Some((&len, rest)) = input.split_first() {
        let (body, after) = rest.split_at(usize::from(len).min(rest.len()));
        file.extend_from_slice(&(body.len() as u32).to_be_bytes());
        file.extend_from_slice(&crc32fast::hash(body).to_be_bytes());
        file.extend_from_slice(body);
        input = after;
    }
    file
}

/// `body` as a Mosquitto file of `version`: magic, an (ignored) CRC and the version.
fn mosquitto_file(version: u32, body: &[u8]) -> Vec<u8> {
    let mut file = MOSQUITTO_MAGIC.to_vec();
    file.extend_from_slice(&[0; 4]);
    file.extend_from_slice(&version.to_be_bytes());
    file.extend_from_slice(body);
    file
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let framed = selector & 0x80 != 0;
    let version = u32::from((selector >> 2) & 3);
    match selector % 3 {
        0 => {
            let bytes = if framed { snapshot_file(version + 1, rest) } else { rest.to_vec() };
            if let Ok(snapshot) = decode(&bytes) {
                check_round_trip(&snapshot);
            }
        }
        1 => {
            let bytes = if framed { journal_file(rest) } else { rest.to_vec() };
            let records = read_records(&bytes);
            assert!(records.good_len <= bytes.len());
            let mut written = Vec::new();
            for change in &records.changes {
                encode_record(change, &mut written).expect("a record read encodes");
            }
            assert_eq!(written, bytes[..records.good_len], "records re-encode to their bytes");
            assert!(records.changes.len() * RECORD_HEADER_LEN <= records.good_len);
            let mut replay = Replay::new(Snapshot::default());
            for change in records.changes {
                replay.apply(change);
            }
            check_round_trip(&replay.finish());
        }
        _ => {
            let bytes = if framed { mosquitto_file(5 + version % 2, rest) } else { rest.to_vec() };
            let now = i64::from(selector) << 24;
            if let Ok(import) = mosquitto::decode(&bytes, now, &[1883, 8883]) {
                check_round_trip(&import.snapshot);
            }
        }
    }
});
