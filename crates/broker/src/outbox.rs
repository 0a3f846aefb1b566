//! The queue from the driver to one connection task: the driver encodes packets straight into
//! a byte buffer shared with the task, which takes everything queued at once and writes it
//! with one (vectored) call. A large PUBLISH is not copied: the queue holds references to its
//! encoded header and to its payload, both shared with every other subscriber's queue (see
//! `headers`), so fanning one message out copies it only into the kernel. Bounded by the bytes it holds: bursts to a
//! briefly slow reader are absorbed, while a client that stops reading fills its own budget
//! and nothing more. QoS 0 messages are dropped sooner, at `max_queued_bytes` when it is set
//! ([`OutboxSender::limit_qos0`]), so that a stalled subscriber costs what the operator allowed.
//!
//! Memory is taken only while there is something to write: an idle connection's outbox is an
//! empty buffer and a few words (no channel blocks, no boxed packets).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use mqtt_codec::{EncodeError, Packet, ProtocolVersion, QoS, Sender};

/// Bytes one connection may have waiting before QoS 0 messages to it are dropped, unless
/// `max_queued_bytes` sets fewer: about 780,000 messages of 64 bytes or 16,000 of 4 KiB for
/// one briefly slow reader.
pub(crate) const SOFT_LIMIT: usize = 64 * 1024 * 1024;
/// Bytes after which any packet closes the connection: it is not reading at all.
pub(crate) const HARD_LIMIT: usize = 2 * SOFT_LIMIT;
/// First allocation of an empty buffer, so that a burst does not regrow it from a few bytes.
const FIRST_CAPACITY: usize = 2 * 1024;
/// Payloads from this size on are queued by reference ([`OutboxSender::push_shared`]) instead
/// of copied.
pub(crate) const SHARED_PAYLOAD_MIN: usize = 1024;
/// Bytes waiting up to which payloads are queued by reference. A payload shares the read
/// buffer of its publisher (up to 64 KiB, for a 4 KiB message), which it keeps alive: a
/// connection with more waiting is not keeping up, and its payloads are copied, so that what it
/// holds is what its budget counts. One decode batch of 4 KiB messages still goes by reference.
const SHARE_BELOW: u32 = 256 * 1024;

/// Why a packet was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A QoS 0 PUBLISH over the QoS 0 limit: dropped, the connection stays.
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
    /// Bytes waiting beyond which a QoS 0 PUBLISH is dropped: at most [`SOFT_LIMIT`].
    qos0_limit: usize,
}

/// The connection task's end.
#[derive(Debug)]
pub(crate) struct OutboxReceiver {
    state: Arc<Mutex<State>>,
}

/// A new, empty outbox.
pub(crate) fn outbox() -> (OutboxSender, OutboxReceiver) {
    let state = Arc::new(Mutex::new(State::default()));
    (OutboxSender { state: Arc::clone(&state), qos0_limit: SOFT_LIMIT }, OutboxReceiver { state })
}

/// Locks `state`; a panic elsewhere cannot leave it inconsistent (every update is one step).
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl OutboxSender {
    /// Drops QoS 0 messages once `max_queued_bytes` (0: no limit of its own) bytes wait, as
    /// Mosquitto bounds what it holds for a client by `max_queued_bytes`; never beyond
    /// [`SOFT_LIMIT`]. The bytes are encoded packets, headers included.
    pub(crate) fn limit_qos0(&mut self, max_queued_bytes: usize) {
        self.qos0_limit = match max_queued_bytes {
            0 => SOFT_LIMIT,
            limit => limit.min(SOFT_LIMIT),
        };
    }

    /// Encodes `packet` for `version` into the outbox unless the connection's budget is spent;
    /// returns its encoded size. The task is not woken until [`Self::wake`], so that it takes a
    /// whole batch at once.
    pub(crate) fn push(&self, packet: &Packet, version: ProtocolVersion) -> Result<usize, Refused> {
        let qos0 = matches!(packet, Packet::Publish(publish) if publish.qos == QoS::AtMostOnce);
        self.queue(qos0, |state| {
            if state.buffer.capacity() - state.buffer.len() < 64 {
                state.buffer.reserve(FIRST_CAPACITY);
            }
            let start = state.buffer.len();
            mqtt_codec::encode_as(Sender::Server, packet, version, u32::MAX, &mut state.buffer)
                .map_err(Refused::Unencodable)?;
            Ok(state.buffer.len() - start)
        })
    }

    /// Queues a PUBLISH as its encoded `header` (see `mqtt_codec::encode_publish_header`)
    /// and a reference to its `payload`, unless the connection's budget is spent. Neither is
    /// copied (both may be shared with other outboxes) unless [`SHARE_BELOW`] bytes already
    /// wait. As [`Self::push`], does not wake.
    pub(crate) fn push_shared(
        &self,
        header: Bytes,
        payload: Bytes,
        qos0: bool,
    ) -> Result<usize, Refused> {
        self.queue(qos0, |state| {
            let size = header.len() + payload.len();
            if state.unwritten >= SHARE_BELOW {
                state.buffer.extend_from_slice(&header);
                state.buffer.extend_from_slice(&payload);
                return Ok(size);
            }
            if !state.buffer.is_empty() {
                let before = state.buffer.split().freeze();
                state.chunks.push(before);
            }
            state.chunks.push(header);
            state.chunks.push(payload);
            Ok(size)
        })
    }

    /// Wakes the task if it waits (for what was pushed since it last took the queue).
    pub(crate) fn wake(&self) {
        let waker = lock(&self.state).waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Runs `append` (which queues one packet and returns its size) and keeps what it queued
    /// if the budget allows, else takes it back. Returns the size. An empty outbox takes any
    /// QoS 0 message, however large, so that a limit below one message drops only the
    /// messages that find others still waiting.
    fn queue(
        &self,
        qos0: bool,
        append: impl FnOnce(&mut State) -> Result<usize, Refused>,
    ) -> Result<usize, Refused> {
        let mut state = lock(&self.state);
        if state.gone {
            return Err(Refused::Overflow);
        }
        let mark = (state.chunks.len(), state.buffer.len());
        let size = append(&mut state)?;
        let total = state.unwritten as usize + size;
        let refused = if total > HARD_LIMIT {
            Some(Refused::Overflow)
        } else if total > self.qos0_limit && qos0 && state.unwritten > 0 {
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
        Ok(size)
    }
}

impl State {
    /// Forgets what was queued since `mark` (a packet that was refused).
    fn undo(&mut self, (chunks, buffered): (usize, usize)) {
        if self.chunks.len() > chunks {
            // A shared packet closed the buffer into a chunk first: put that part back.
            let mut before = BytesMut::new();
            for chunk in self.chunks.drain(chunks..).take(1) {
                if buffered > 0 {
                    before.extend_from_slice(&chunk[..buffered.min(chunk.len())]);
                }
            }
            self.buffer = before;
        } else {
            self.buffer.truncate(buffered);
        }
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
        assert!(tx.push(&publish(QoS::AtMostOnce, SOFT_LIMIT - 1000), V4).is_ok());
        assert_eq!(tx.push(&publish(QoS::AtMostOnce, 2000), V4), Err(Refused::Dropped));
        assert!(tx.push(&publish(QoS::AtLeastOnce, 2000), V4).is_ok());
        assert_eq!(tx.push(&publish(QoS::AtLeastOnce, SOFT_LIMIT), V4), Err(Refused::Overflow));
        let mut out = Vec::new();
        assert!(take(&rx, &mut out).await);
        let size: usize = out.iter().map(Bytes::len).sum();
        assert!(size > SOFT_LIMIT, "both accepted packets, encoded");
        rx.written(size, &mut out);
        assert!(out.is_empty() && out.capacity() == 0, "an idle outbox holds no buffer");
        assert!(tx.push(&publish(QoS::AtMostOnce, 2000), V4).is_ok());
    }

    #[tokio::test]
    async fn max_queued_bytes_drops_qos0_sooner_but_an_empty_outbox_takes_one() {
        // (max_queued_bytes, sizes pushed in turn, which of them are dropped)
        let rows: [(usize, &[usize], &[bool]); 3] = [
            (10_000, &[6_000, 3_000, 2_000, 500], &[false, false, true, false]),
            // A message larger than the limit still reaches an idle client.
            (1_000, &[5_000, 10], &[false, true]),
            // 0 is no limit of its own: the soft limit.
            (0, &[SOFT_LIMIT - 1000, 2000], &[false, true]),
        ];
        for (limit, sizes, dropped) in rows {
            let (mut tx, _rx) = outbox();
            tx.limit_qos0(limit);
            for (size, dropped) in sizes.iter().zip(dropped) {
                let result = tx.push(&publish(QoS::AtMostOnce, *size), V4);
                assert_eq!(result == Err(Refused::Dropped), *dropped, "{limit}: {size}");
            }
            // QoS 1 is bounded by the in-flight window, not here.
            assert!(tx.push(&publish(QoS::AtLeastOnce, 2 * limit + 10), V4).is_ok());
        }
    }

    #[tokio::test]
    async fn a_refused_packet_leaves_the_queue_as_it_was() {
        let (tx, rx) = outbox();
        tx.push(&Packet::PingResp, V4).unwrap();
        tx.push(&publish(QoS::AtMostOnce, SOFT_LIMIT - 100), V4).unwrap();
        tx.push(&Packet::PingResp, V4).unwrap();
        // Small and large packets over the soft limit: both dropped, nothing else touched.
        assert_eq!(tx.push(&publish(QoS::AtMostOnce, 200), V4), Err(Refused::Dropped));
        assert_eq!(tx.push(&publish(QoS::AtMostOnce, 2000), V4), Err(Refused::Dropped));
        tx.push(&Packet::PingResp, V4).unwrap();
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
        tx.push(&Packet::PingResp, V4).unwrap();
        tx.push(&publish(QoS::AtMostOnce, 1), V4).unwrap();
        drop(tx);
        let mut out = Vec::new();
        assert!(take(&rx, &mut out).await);
        assert_eq!(joined(&out), [0xD0, 0x00, 0x30, 0x04, 0x00, 0x01, b't', 0x07]);
        rx.written(8, &mut out);
        assert!(!take(&rx, &mut out).await);
    }

    #[tokio::test]
    async fn shared_packets_are_queued_by_reference_in_order() {
        let header = Bytes::from_static(&[0x30, 0x85, 0x08, 0, 1, b't']);
        let payload = Bytes::from(vec![7; 1024]);
        let (tx, rx) = outbox();
        tx.push(&Packet::PingResp, V4).unwrap();
        tx.push_shared(header.clone(), payload.clone(), true).unwrap();
        tx.push(&Packet::PingResp, V4).unwrap();
        let mut out = Vec::new();
        assert!(take(&rx, &mut out).await);
        assert_eq!(out.len(), 4, "what came before, header, payload, what came after");
        assert_eq!(out[1].as_ptr(), header.as_ptr(), "not copied");
        assert_eq!(out[2].as_ptr(), payload.as_ptr(), "not copied");
        let mut expected = vec![0xD0, 0x00];
        expected.extend_from_slice(&header);
        expected.extend_from_slice(&payload);
        expected.extend_from_slice(&[0xD0, 0x00]);
        assert_eq!(joined(&out), expected);
    }

    #[tokio::test]
    async fn payloads_are_copied_for_a_connection_that_does_not_keep_up() {
        let header = Bytes::from_static(&[0x30, 0x85, 0x08, 0, 1, b't']);
        let payload = Bytes::from(vec![7; 1024]);
        let (tx, rx) = outbox();
        tx.push(&publish(QoS::AtLeastOnce, SHARE_BELOW as usize), V4).unwrap();
        tx.push_shared(header.clone(), payload.clone(), true).unwrap();
        let mut out = Vec::new();
        assert!(take(&rx, &mut out).await);
        assert!(out.iter().all(|chunk| chunk.as_ptr() != payload.as_ptr()), "copied");
        let joined = joined(&out);
        assert_eq!(joined[joined.len() - 1030..], [&header[..], &payload[..]].concat());
    }

    #[tokio::test]
    async fn a_refused_shared_packet_leaves_the_queue_as_it_was() {
        let (tx, rx) = outbox();
        tx.push(&publish(QoS::AtMostOnce, SOFT_LIMIT - 100), V4).unwrap();
        let big = Bytes::from(vec![1; 2000]);
        let header = Bytes::from_static(&[0x30, 0xD5, 0x0F, 0, 1, b't']);
        assert_eq!(tx.push_shared(header.clone(), big.clone(), true), Err(Refused::Dropped));
        tx.push(&Packet::PingResp, V4).unwrap();
        assert_eq!(tx.push_shared(header, big, true), Err(Refused::Dropped));
        let mut out = Vec::new();
        assert!(take(&rx, &mut out).await);
        let mut expected = BytesMut::new();
        for packet in [publish(QoS::AtMostOnce, SOFT_LIMIT - 100), Packet::PingResp] {
            mqtt_codec::encode(&packet, V4, u32::MAX, &mut expected).unwrap();
        }
        assert!(joined(&out) == expected[..], "the queue holds exactly the accepted packets");
    }

    #[tokio::test]
    async fn a_waiting_task_is_woken_after_a_push() {
        let (tx, rx) = outbox();
        let task = tokio::spawn(async move {
            let mut out = Vec::new();
            take(&rx, &mut out).await.then(|| joined(&out))
        });
        tokio::task::yield_now().await;
        tx.push(&Packet::PingResp, V4).unwrap();
        tx.wake();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        assert_eq!(got.unwrap().unwrap(), Some(vec![0xD0, 0x00]));
    }

    #[tokio::test]
    async fn a_closed_task_refuses_packets() {
        let (tx, rx) = outbox();
        drop(rx);
        assert_eq!(tx.push(&publish(QoS::AtMostOnce, 1), V4), Err(Refused::Overflow));
    }
}
