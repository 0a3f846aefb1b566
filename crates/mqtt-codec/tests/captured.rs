//! Decodes every packet captured between Debian's mosquitto 2.0.11 clients and broker
//! (`tests/fixtures/*.hex`, made by `scripts/capture-mosquitto.py`) and re-encodes it as its
//! sender (client or broker): the bytes must come back identical. Mosquitto writes v5
//! properties in the order it added them; the codec keeps an order it read when it is not
//! identifier order, and the broker's own PUBLISH frame (Subscription Identifiers first,
//! Message Expiry Interval last).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use bytes::BytesMut;
use mqtt_codec::{
    MAX_PACKET_SIZE, Packet, PacketType, ProtocolVersion, Sender, decode, encode, encode_as,
};

/// One captured packet.
struct Captured {
    fixture: String,
    connection: String,
    direction: String,
    hex: String,
}

fn unhex(hex: &str) -> Vec<u8> {
    assert!(hex.len() % 2 == 0, "odd hex {hex}");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every captured packet, grouped by (fixture, connection), in file order.
fn captures() -> BTreeMap<(String, String), Vec<Captured>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut groups: BTreeMap<(String, String), Vec<Captured>> = BTreeMap::new();
    let mut files: Vec<_> =
        fs::read_dir(&dir).expect("fixtures directory").map(|e| e.expect("entry").path()).collect();
    files.sort();
    for path in files.into_iter().filter(|p| p.extension().is_some_and(|e| e == "hex")) {
        let fixture = path.file_stem().expect("name").to_string_lossy().into_owned();
        for line in fs::read_to_string(&path).expect("readable fixture").lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(connection), Some(direction), Some(hex), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                panic!("{fixture}: bad line {line:?}");
            };
            groups.entry((fixture.clone(), connection.to_owned())).or_default().push(Captured {
                fixture: fixture.clone(),
                connection: connection.to_owned(),
                direction: direction.to_owned(),
                hex: hex.to_owned(),
            });
        }
    }
    groups
}

/// The version a connection speaks, from its CONNECT (which decodes by the version it carries).
fn connection_version(packets: &[Captured]) -> ProtocolVersion {
    let first = packets.iter().find(|p| p.direction == "c2s").expect("a client packet");
    let mut buf = BytesMut::from(&unhex(&first.hex)[..]);
    match decode(&mut buf, ProtocolVersion::V3_1_1, MAX_PACKET_SIZE) {
        Ok(Some(Packet::Connect(connect))) => connect.protocol,
        other => panic!(
            "{}/{}: first client packet is not a CONNECT: {other:?}",
            first.fixture, first.connection
        ),
    }
}

#[test]
fn every_captured_packet_decodes_and_re_encodes() {
    let groups = captures();
    assert!(groups.len() >= 10, "expected the fixtures of scripts/capture-mosquitto.py");
    let mut seen_types = BTreeMap::new();
    for packets in groups.values() {
        let version = connection_version(packets);
        for captured in packets {
            let wire = unhex(&captured.hex);
            let mut buf = BytesMut::from(&wire[..]);
            let packet = match decode(&mut buf, version, MAX_PACKET_SIZE) {
                Ok(Some(packet)) => packet,
                other => panic!(
                    "{}/{} {} {}: {other:?}",
                    captured.fixture, captured.connection, captured.direction, captured.hex
                ),
            };
            assert!(buf.is_empty());
            *seen_types.entry((version, packet.packet_type())).or_insert(0) += 1;
            let mut out = BytesMut::new();
            encode(&packet, version, MAX_PACKET_SIZE, &mut out).expect("re-encodes");
            assert_eq!(
                hex(&out),
                captured.hex,
                "{}/{} {}: re-encoding differs for {packet:?}",
                captured.fixture,
                captured.connection,
                captured.direction
            );
            if captured.direction == "s2c" {
                let mut as_broker = BytesMut::new();
                encode_as(Sender::Server, &packet, version, MAX_PACKET_SIZE, &mut as_broker)
                    .expect("re-encodes");
                assert_eq!(hex(&as_broker), captured.hex, "as the broker writes {packet:?}");
            }
        }
    }
    // Every packet type Mosquitto's tools exchange is covered in every version (AUTH needs an
    // authentication plugin, so it has byte tests only).
    for version in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for packet_type in (1..=14).filter_map(PacketType::from_u8) {
            assert!(
                seen_types.contains_key(&(version, packet_type)),
                "no captured {packet_type} in {version}"
            );
        }
    }
}
