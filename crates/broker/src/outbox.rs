//! The queue from the driver to one connection task: the driver encodes packets straight into
//! a byte buffer shared with the task, which takes everything queued at once and writes it
//! with one (vectored) call. A large PUBLISH payload is not copied: the queue holds the
//! encoded header and a reference to the payload, so fanning one message out to many
//! subscribers copies it only into the kernel. Bounded by the bytes it holds: bursts to a
//! briefly slow reader are absorbed, while a client that stops reading fills its own budget
//! and nothing more.
//!
//! Memory is taken only while there is something to write: an idle connection's outbox is an
//! empty buffer and a few words (no channel blocks, no boxed packets).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::{BufMut as _, Bytes, BytesMut};
use mqtt_codec::{EncodeError, Packet, ProtocolVersion, QoS};

/// Bytes one connection may have waiting before QoS 0 messages to it are dropped: about
/// 780,000 messages of 64 bytes or 16,000 of 4 KiB for one briefly slow reader.
pub(crate) const SOFT_LIMIT: usize = 64 * 1024 * 1024;
/// Bytes after which any packet closes the connection: it is not reading at all.
pub(crate) const HARD_LIMIT: usize = 2 * SOFT_LIMIT;
/// First allocation of an empty buffer, so that a burst does not regrow it from a few bytes.
const FIRST_CAPACITY: usize = 2 * 1024;
/// Payloads from this size on are queued by reference instead of copied.
const SHARED_PAYLOAD_MIN: usize = 1024;

/// Why a packet was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A QoS 0 PUBLISH over the soft limit: dropped, the connection stays.
    Dropped,
    /// Over the hard limit, or the task is gone: close the connection.
    Overflow,
    /// The packet cannot be encoded (a bug upstream); nothing was queued.
    Unencodable(EncodeError),
}

/// What both ends share.
#[derive(Debug, Default)]
struct State {
    /// Encoded bytes not yet taken by the task, in order: `chunks`, then `buffer`.
    chunks: Vec<Bytes>,
    /// Where packets are encoded.
    buffer: BytesMut,
    /// Bytes queued or taken but not yet written: the budget in use (at most
    /// [`HARD_LIMIT`], so it fits in 32 bits and the state in a smaller allocation).
    unwritten: u32,
    /// The task waiting for bytes.
    waker: Option<Waker>,
    /// The driver dropped its end: write what is left, then stop.
    closed: bool,
    /// The task dropped its end: nothing will be written any more.
    gone: bool,
}

/// The driver's end. Dropping it closes the outbox.
#[derive(Debug)]
pub(crate) struct OutboxSender {
    state: Arc<Mutex<State>>,
}

/// The connection task's end.
#[derive(Debug)]
pub(crate) struct OutboxReceiver {
    state: Arc<Mutex<State>>,
}

/// A new, empty outbox.
pub(crate) fn outbox() -> (OutboxSender, OutboxReceiver) {
    let state = Arc::new(Mutex::new(State::default()));
    (OutboxSender { state: Arc::clone(&state) }, OutboxReceiver { state })
}

/// Locks `state`; a panic elsewhere cannot leave it inconsistent (every update is one step).
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl OutboxSender {
    /// Encodes `packet` for `version` into the outbox unless the connection's budget is spent,
    /// and wakes the task if it waits. Returns the packet's encoded size.
    pub(crate) fn push(&self, packet: Packet, version: ProtocolVersion) -> Result<usize, Refused> {
        let (waker, size) = {
            let mut state = lock(&self.state);
            if state.gone {
                return Err(Refused::Overflow);
            }
            let qos0 =
                matches!(&packet, Packet::Publish(publish) if publish.qos == QoS::AtMostOnce);
            let mark = (state.chunks.len(), state.buffer.len());
            let size = state.encode(packet, version).map_err(Refused::Unencodable)?;
            let total = state.unwritten as usize + size;
            let refused = if total > HARD_LIMIT {
                Some(Refused::Overflow)
            } else if total > SOFT_LIMIT && qos0 {
                Some(Refused::Dropped)
            } else {
                None
            };
            if let Some(refused) = refused {
                state.undo(mark);
                return Err(refused);
            }
            // At most HARD_LIMIT, checked above.
            state.unwritten = u32::try_from(total).unwrap_or(u32::MAX);
            (state.waker.take(), size)
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(size)
    }
}

impl State {
    /// Appends the encoding of `packet`; returns its size.
    fn encode(
        &mut self,
        mut packet: Packet,
        version: ProtocolVersion,
    ) -> Result<usize, EncodeError> {
        if self.buffer.capacity() - self.buffer.len() < 64 {
            self.buffer.reserve(FIRST_CAPACITY);
        }
        let start = self.buffer.len();
        let payload = match &mut packet {
            Packet::Publish(publish) if publish.payload.len() >= SHARED_PAYLOAD_MIN => {
                std::mem::take(&mut publish.payload)
            }
            _ => {
                mqtt_codec::encode(&packet, version, u32::MAX, &mut self.buffer)?;
                return Ok(self.buffer.len() - start);
            }
        };
        // The PUBLISH without its payload, then its remaining length corrected to include
        // the payload, which is queued by reference.
        mqtt_codec::encode(&packet, version, u32::MAX, &mut self.buffer)?;
        let bare = self.buffer.split_off(start);
        let Some((remaining, length_bytes)) = read_varint(&bare[1..]) else {
            return Err(EncodeError::PacketTooLarge { size: bare.len(), max: u32::MAX });
        };
        let total = remaining as usize + payload.len();
        if total > VARINT_MAX as usize {
            return Err(EncodeError::PacketTooLarge { size: total, max: VARINT_MAX });
        }
        self.buffer.put_u8(bare[0]);
        write_varint(&mut self.buffer, total);
        self.buffer.extend_from_slice(&bare[1 + length_bytes..]);
        let size = self.buffer.len() - start + payload.len();
        let head = self.buffer.split().freeze();
        self.chunks.push(head);
        self.chunks.push(payload);
        Ok(size)
    }

    /// Forgets what was encoded since `mark` (a packet that was refused).
    fn undo(&mut self, (chunks, buffered): (usize, usize)) {
        if self.chunks.len() > chunks {
            // The refused packet closed the buffer into a chunk: put the part before it back.
            let mut before = BytesMut::new();
            for chunk in self.chunks.drain(chunks..).take(1) {
                before.extend_from_slice(&chunk[..buffered.min(chunk.len())]);
            }
            self.buffer = before;
        } else {
            self.buffer.truncate(buffered);
        }
    }
}

/// The largest MQTT remaining length.
const VARINT_MAX: u32 = 268_435_455;

/// Reads an MQTT variable byte integer; returns it and how many bytes it took.
pub(crate) fn read_varint(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value = 0u32;
    for (index, &byte) in bytes.iter().take(4).enumerate() {
        value |= u32::from(byte & 0x7F) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    None
}

/// Writes `value` (at most [`VARINT_MAX`]) as an MQTT variable byte integer.
fn write_varint(out: &mut BytesMut, mut value: usize) {
    loop {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            out.put_u8(byte);
            return;
        }
        out.put_u8(byte | 0x80);
    }
}

impl Drop for OutboxSender {
    fn drop(&mut self) {
        let waker = {
            let mut state = lock(&self.state);
            state.closed = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl OutboxReceiver {
    /// Moves everything queued to the end of `out` (which must be empty). `Ready(true)` when
    /// there was something, `Ready(false)` when the driver closed the outbox and everything
    /// has been taken. Call [`Self::written`] once `out` is written.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>, out: &mut Vec<Bytes>) -> Poll<bool> {
        debug_assert!(out.is_empty());
        let mut state = lock(&self.state);
        if !state.buffer.is_empty() {
            let tail = state.buffer.split().freeze();
            state.chunks.push(tail);
        }
        if !state.chunks.is_empty() {
            // `out` is empty: hand its capacity to the driver for the next chunks.
            std::mem::swap(&mut state.chunks, out);
            return Poll::Ready(true);
        }
        if state.closed {
            return Poll::Ready(false);
        }
        match &mut state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Releases the budget of `written` bytes (everything [`Self::poll_take`] gave, now
    /// written) and empties `out`. When nothing new is queued the connection has gone quiet:
    /// the buffers are freed, so an idle connection holds none.
    pub(crate) fn written(&self, written: usize, out: &mut Vec<Bytes>) {
        let mut state = lock(&self.state);
        let written = u32::try_from(written).unwrap_or(u32::MAX);
        state.unwritten = state.unwritten.saturating_sub(written);
        if state.buffer.is_empty() && state.chunks.is_empty() {
            state.buffer = BytesMut::new();
            state.chunks = Vec::new();
            *out = Vec::new();
        } else {
            out.clear();
        }
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        state.gone = true;
        state.buffer = BytesMut::new();
        state.chunks = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use mqtt_codec::{Properties, Publish, TopicName};

    use super::*;

    const V4: ProtocolVersion = ProtocolVersion::V3_1_1;

    fn publish(qos: QoS, size: usize) -> Packet {
        Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: TopicName::new("t").unwrap(),
            packet_id: (qos != QoS::AtMostOnce).then_some(mqtt_codec::PacketId::MIN),
            properties: Properties::default(),
            payload: Bytes::from(vec![7; size]),
        })
    }

    async fn take(rx: &OutboxReceiver, out: &mut Vec<Bytes>) -> bool {
        poll_fn(|cx| rx.poll_take(cx, out)).await
    }

    fn joined(out: &[Bytes]) -> Vec<u8> {
        out.iter().flat_map(|chunk| chunk.iter().copied()).collect()
    }

    #[tokio::test]
    async fn qos0_is_dropped_over_the_soft_limit_and_anything_closes_over_the_hard_one() {
        let (tx, rx) = outbox();
        assert!(tx.push(publish(QoS::AtMostOnce, SOFT_LIMIT - 1000), V4).is_ok());
        assert_eq!(tx.push(publish(QoS::AtMostOnce, 2000), V4), Err(Refused::Dropped));
        assert!(tx.push(publish(QoS::AtLeastOnce, 2000), V4).is_ok());
        assert_eq!(tx.push(publish(QoS::AtLeastOnce, SOFT_LIMIT), V4), Err(Refused::Overflow));
        let mut out = Vec::new();
        assert!(take(&rx, &mut out).await);
        let size: usize = out.iter().map(Bytes::len).sum();
        assert!(size > SOFT_LIMIT, "both accepted packets, encoded");
        rx.written(size, &mut out);
        assert!(out.is_empty() && out.capacity() == 0, "an idle outbox holds no buffer");
        assert!(tx.push(publish(QoS::AtMostOnce, 2000), V4).is_ok());
    }

    #[tokio::test]
    async fn a_refused_packet_leaves_the_queue_as_it_was() {
        let (tx, rx) = outbox();
        tx.push(Packet::PingResp, V4).unwrap();
        tx.push(publish(QoS::AtMostOnce, SOFT_LIMIT - 100), V4).unwrap();
        tx.push(Packet::PingResp, V4).unwrap();
        // Small and large packets over the soft limit: both dropped, nothing else touched.
        assert_eq!(tx.push(publish(QoS::AtMostOnce, 200), V4), Err(Refused::Dropped));
        assert_eq!(tx.push(publish(QoS::AtMostOnce, 2000), V4), Err(Refused::Dropped));
        tx.push(Packet::PingResp, V4).unwrap();
        let mut out = Vec::new();
        assert!(take(&rx, &mut out).await);
        let bytes = joined(&out);
        let mut expected = BytesMut::new();
        for packet in [Packet::PingResp, publish(QoS::AtMostOnce, SOFT_LIMIT - 100)] {
            mqtt_codec::encode(&packet, V4, u32::MAX, &mut expected).unwrap();
        }
        expected.extend_from_slice(&[0xD0, 0x00, 0xD0, 0x00]);
        assert!(bytes == expected[..], "the queue holds exactly the accepted packets");
    }

    #[tokio::test]
    async fn packets_arrive_encoded_in_order_and_closing_ends_after_the_rest() {
        let (tx, rx) = outbox();
        tx.push(Packet::PingResp, V4).unwrap();
        tx.push(publish(QoS::AtMostOnce, 1), V4).unwrap();
        drop(tx);
        let mut out = Vec::new();
        assert!(take(&rx, &mut out).await);
        assert_eq!(joined(&out), [0xD0, 0x00, 0x30, 0x04, 0x00, 0x01, b't', 0x07]);
        rx.written(8, &mut out);
        assert!(!take(&rx, &mut out).await);
    }

    #[tokio::test]
    async fn large_payloads_are_queued_by_reference_with_the_same_bytes_as_the_codec() {
        let properties = Properties {
            content_type: mqtt_codec::MqttString::new("text/plain").ok(),
            subscription_identifiers: vec![3, 300],
            ..Properties::default()
        };
        // Sizes around the remaining length's byte boundaries.
        for size in [1024, 16_000, 16_380, 16_384, 2_097_140, 2_097_152] {
            for version in [V4, ProtocolVersion::V5] {
                let Packet::Publish(mut packet) = publish(QoS::AtLeastOnce, size) else {
                    unreachable!()
                };
                packet.properties = properties.clone();
                let packet = Packet::Publish(packet);
                let mut expected = BytesMut::new();
                mqtt_codec::encode(&packet, version, u32::MAX, &mut expected).unwrap();
                let (tx, rx) = outbox();
                tx.push(Packet::PingResp, version).unwrap();
                let payload = match &packet {
                    Packet::Publish(publish) => publish.payload.clone(),
                    _ => unreachable!(),
                };
                tx.push(packet, version).unwrap();
                let mut out = Vec::new();
                assert!(take(&rx, &mut out).await);
                assert_eq!(out.len(), 2, "header chunk, then the payload itself");
                assert_eq!(out[1].as_ptr(), payload.as_ptr(), "not copied");
                assert_eq!(&joined(&out)[..2], [0xD0, 0x00]);
                assert!(joined(&out)[2..] == expected[..], "{size} bytes, {version:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_waiting_task_is_woken_by_a_push() {
        let (tx, rx) = outbox();
        let task = tokio::spawn(async move {
            let mut out = Vec::new();
            take(&rx, &mut out).await.then(|| joined(&out))
        });
        tokio::task::yield_now().await;
        tx.push(Packet::PingResp, V4).unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        assert_eq!(got.unwrap().unwrap(), Some(vec![0xD0, 0x00]));
    }

    #[tokio::test]
    async fn a_closed_task_refuses_packets() {
        let (tx, rx) = outbox();
        drop(rx);
        assert_eq!(tx.push(publish(QoS::AtMostOnce, 1), V4), Err(Refused::Overflow));
    }
}
