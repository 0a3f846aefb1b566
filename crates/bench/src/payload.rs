//! What the load generator puts in a message and how it writes PUBLISH packets fast: a stamp
//! (flow, sequence number, send time) at the front of every payload, and a PUBLISH template
//! encoded once by mqtt-codec and patched in place for each message.

use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{Context as _, Result, ensure};
use bytes::{Bytes, BytesMut};
use mqtt_codec::{Packet, PacketId, ProtocolVersion, Publish, QoS, TopicName};

/// Bytes of the stamp at the front of every payload.
///
/// ```text
/// 0..4   flow      u32 big-endian: which publisher (a sequence of its own)
/// 4..12  sequence  u64 big-endian: 0, 1, 2 … per flow
/// 12..20 sent_ns   u64 big-endian: nanoseconds since this process's clock origin
/// ```
pub(crate) const STAMP_LEN: usize = 20;

/// The identity and send time of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) flow: u32,
    pub(crate) sequence: u64,
    pub(crate) sent_ns: u64,
}

impl Stamp {
    /// Writes the stamp into the first [`STAMP_LEN`] bytes of `payload`.
    pub(crate) fn write(self, payload: &mut [u8]) {
        payload[0..4].copy_from_slice(&self.flow.to_be_bytes());
        payload[4..12].copy_from_slice(&self.sequence.to_be_bytes());
        payload[12..20].copy_from_slice(&self.sent_ns.to_be_bytes());
    }

    /// Reads the stamp from a received payload; `None` if it is too short to carry one.
    pub(crate) fn read(payload: &[u8]) -> Option<Self> {
        let flow = u32::from_be_bytes(payload.get(0..4)?.try_into().ok()?);
        let sequence = u64::from_be_bytes(payload.get(4..12)?.try_into().ok()?);
        let sent_ns = u64::from_be_bytes(payload.get(12..20)?.try_into().ok()?);
        Some(Self { flow, sequence, sent_ns })
    }
}

/// Nanoseconds since the first call in this process (a monotonic clock every task shares, so
/// a subscriber can subtract a publisher's `sent_ns`).
pub(crate) fn now_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A PUBLISH encoded once (MQTT 3.1.1) whose packet id and stamp are patched per message, so
/// that writing a message is one `memcpy` and a few stores instead of an encode with an
/// allocated payload.
#[derive(Clone, Debug)]
pub(crate) struct PublishTemplate {
    bytes: Vec<u8>,
    payload_at: usize,
    packet_id_at: Option<usize>,
}

impl PublishTemplate {
    /// Encodes a PUBLISH of `payload_len` bytes (at least [`STAMP_LEN`]) to `topic` at `qos`.
    pub(crate) fn new(topic: &str, qos: QoS, payload_len: usize) -> Result<Self> {
        ensure!(payload_len >= STAMP_LEN, "payload of {payload_len} bytes cannot hold the stamp");
        let topic = TopicName::new(topic).with_context(|| format!("topic {topic:?}"))?;
        let mut publish = Publish::new(topic, Bytes::from(vec![0u8; payload_len]));
        publish.qos = qos;
        publish.packet_id = (qos != QoS::AtMostOnce).then_some(PacketId::MIN);
        let mut out = BytesMut::new();
        mqtt_codec::encode(&Packet::Publish(publish), ProtocolVersion::V3_1_1, u32::MAX, &mut out)
            .context("encoding the PUBLISH template")?;
        let payload_at = out.len() - payload_len;
        // In MQTT 3.1.1 the packet id is the two bytes right before the payload.
        let packet_id_at = (qos != QoS::AtMostOnce).then(|| payload_at - 2);
        Ok(Self { bytes: out.to_vec(), payload_at, packet_id_at })
    }

    /// Size of one encoded message.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Appends one message with this `packet_id` (ignored at QoS 0) and `stamp` to `out`.
    pub(crate) fn append(&self, out: &mut BytesMut, packet_id: u16, stamp: Stamp) {
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        let packet = &mut out[start..];
        if let Some(at) = self.packet_id_at {
            packet[at..at + 2].copy_from_slice(&packet_id.to_be_bytes());
        }
        stamp.write(&mut packet[self.payload_at..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_and_short_payloads_have_none() {
        let stamp = Stamp { flow: 7, sequence: u64::MAX - 3, sent_ns: 123_456_789 };
        let mut payload = [0u8; 64];
        stamp.write(&mut payload);
        assert_eq!(Stamp::read(&payload), Some(stamp));
        assert_eq!(Stamp::read(&payload[..19]), None);
    }

    #[test]
    fn patched_template_decodes_as_the_message_it_claims_to_be() {
        for (qos, size) in [(QoS::AtMostOnce, 64), (QoS::AtLeastOnce, 64), (QoS::ExactlyOnce, 4096)]
        {
            let template = PublishTemplate::new("bench/t/3", qos, size).unwrap();
            let mut out = BytesMut::new();
            let stamp = Stamp { flow: 3, sequence: 41, sent_ns: 99 };
            template.append(&mut out, 513, stamp);
            template.append(&mut out, 514, Stamp { sequence: 42, ..stamp });
            assert_eq!(out.len(), 2 * template.len());
            for expected in [41, 42] {
                let packet =
                    mqtt_codec::decode(&mut out, ProtocolVersion::V3_1_1, u32::MAX).unwrap();
                let Some(Packet::Publish(publish)) = packet else { panic!("{packet:?}") };
                assert_eq!(publish.qos, qos);
                assert_eq!(&*publish.topic, "bench/t/3");
                assert_eq!(publish.payload.len(), size);
                let id = publish.packet_id.map(PacketId::get);
                let want_id = (qos != QoS::AtMostOnce).then_some(472 + expected as u16);
                assert_eq!(id, want_id);
                assert_eq!(Stamp::read(&publish.payload).unwrap().sequence, expected);
            }
            assert!(out.is_empty());
        }
    }

    #[test]
    fn a_payload_too_small_for_the_stamp_is_refused() {
        assert!(PublishTemplate::new("t", QoS::AtMostOnce, 8).is_err());
    }
}
