//! The queue from the driver to one connection task: the driver encodes packets into a
//! [`Batch`] of its own and hands each connection's batch to the outbox once per event, under
//! one lock ([`OutboxSender::flush`]); the task takes everything queued at once and writes it
//! with one (vectored) call. A large PUBLISH is not copied: the queue holds references to its
//! encoded header and to its payload, both shared with every other subscriber's queue (see
//! `headers`), so fanning one message out copies it only into the kernel. Bounded by the bytes
//! it holds: bursts to a briefly slow reader are absorbed, while a client that stops reading
//! fills its own budget and nothing more. QoS 0 messages are dropped sooner, at
//! `max_queued_bytes` when it is set ([`OutboxSender::limit_qos0`]), so that a stalled
//! subscriber costs what the operator allowed. A staged packet counts against the budget as
//! if it were queued already, so batching changes no limit.
//!
//! Memory is taken only while there is something to write: an idle connection's outbox is an
//! empty list and a few words (no channel blocks, no boxed packets), and a batch lives only
//! until the end of the event that filled it (the driver keeps a few small batches' buffers
//! to encode the next ones into).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use mqtt_codec::{EncodeError, Packet, ProtocolVersion, QoS, Sender};
use thin_vec::ThinVec;

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
/// Most bytes a batch may have staged for its buffer to be kept as a spare
/// ([`Batch::into_spare`]): a buffer that a larger batch grew is freed instead.
const SPARE_MAX: usize = 16 * 1024;
/// Bytes waiting up to which payloads are queued by reference. A payload shares the read
/// buffer of its publisher (up to 64 KiB, for a 4 KiB message), which it keeps alive: a
/// connection with more waiting is not keeping up, and its payloads are copied, so that what it
/// holds is what its budget counts. One decode batch of 4 KiB messages still goes by reference.
const SHARE_BELOW: usize = 256 * 1024;

/// Encoded bytes in order, as the outbox, a batch and the task's write hold them: one pointer
/// wide (a `Vec` is three), so that the state every connection shares fits a 64-byte heap
/// chunk, and empty without a heap block.
pub(crate) type Chunks = ThinVec<Bytes>;

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
    /// Encoded bytes not yet taken by the task, in order.
    chunks: Chunks,
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

/// Packets the driver encoded for one connection during one event, not yet in its outbox.
/// They count against the connection's budget already; [`OutboxSender::flush`] hands them
/// over and leaves the batch empty, with its buffer's room for a later batch
/// ([`Batch::into_spare`]).
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Encoded bytes in order: `chunks` (closed off, or shared headers and payloads), then
    /// `buffer`.
    chunks: Chunks,
    /// Where packets are encoded.
    buffer: BytesMut,
    /// Bytes staged since the last flush.
    size: u32,
    /// Bytes staged since the batch was made: what its buffer may have grown to hold.
    staged: usize,
    /// The sender's view of the outbox was refreshed during this batch.
    fresh: bool,
}

impl Batch {
    /// An empty batch that encodes into `buffer`: an empty buffer, perhaps with room left by
    /// an earlier batch.
    pub(crate) fn new(buffer: BytesMut) -> Self {
        Self { chunks: Chunks::new(), buffer, size: 0, staged: 0, fresh: false }
    }

    /// The buffer of a flushed batch, to encode a later batch into (its room, and the memory
    /// the task frees behind it, is used again instead of allocated afresh); `None` when
    /// the batch was large, so that what is kept stays small.
    pub(crate) fn into_spare(self) -> Option<BytesMut> {
        let small = self.staged <= SPARE_MAX;
        (small && self.buffer.is_empty() && self.buffer.capacity() > 0).then_some(self.buffer)
    }

    fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.buffer.is_empty()
    }

    /// Appends a shared chunk after everything staged (closing the buffer into a chunk first).
    fn push_chunk(&mut self, chunk: Bytes) {
        if !self.buffer.is_empty() {
            let before = self.buffer.split().freeze();
            self.chunks.push(before);
        }
        self.chunks.push(chunk);
    }

    /// Forgets what was staged since `mark` (a packet that was refused).
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

/// The driver's end. Dropping it closes the outbox (flush its batch first).
#[derive(Debug)]
pub(crate) struct OutboxSender {
    state: Arc<Mutex<State>>,
    /// Bytes waiting beyond which a QoS 0 PUBLISH is dropped: at most [`SOFT_LIMIT`].
    qos0_limit: u32,
    /// The outbox's unwritten bytes when the driver last looked (at its last flush or
    /// refresh). Only the task lowers that count, so it is never more than this: a packet
    /// that fits by this view fits, and only one that does not needs a fresh look.
    seen: u32,
}

/// The connection task's end.
#[derive(Debug)]
pub(crate) struct OutboxReceiver {
    state: Arc<Mutex<State>>,
}

/// A new, empty outbox.
pub(crate) fn outbox() -> (OutboxSender, OutboxReceiver) {
    let state = Arc::new(Mutex::new(State::default()));
    let sender = OutboxSender { state: Arc::clone(&state), qos0_limit: SOFT_LIMIT as u32, seen: 0 };
    (sender, OutboxReceiver { state })
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
        let limit = match max_queued_bytes {
            0 => SOFT_LIMIT,
            limit => limit.min(SOFT_LIMIT),
        };
        // At most SOFT_LIMIT, which fits.
        self.qos0_limit = u32::try_from(limit).unwrap_or(u32::MAX);
    }

    /// Encodes `packet` for `version` into `batch` unless the connection's budget is spent;
    /// returns its encoded size. Nothing reaches the task before [`Self::flush`].
    pub(crate) fn push(
        &mut self,
        batch: &mut Batch,
        packet: &Packet,
        version: ProtocolVersion,
    ) -> Result<usize, Refused> {
        let qos0 = matches!(packet, Packet::Publish(publish) if publish.qos == QoS::AtMostOnce);
        self.stage(batch, qos0, |batch| {
            let buffer = &mut batch.buffer;
            if buffer.capacity() - buffer.len() < 64 {
                buffer.reserve(FIRST_CAPACITY);
            }
            let start = buffer.len();
            mqtt_codec::encode_as(Sender::Server, packet, version, u32::MAX, buffer)
                .map_err(Refused::Unencodable)?;
            Ok(buffer.len() - start)
        })
    }

    /// Stages a PUBLISH as its encoded `header` (see `mqtt_codec::encode_publish_header`)
    /// and a reference to its `payload`, unless the connection's budget is spent. Neither is
    /// copied (both may be shared with other outboxes) unless [`SHARE_BELOW`] bytes already
    /// wait. As [`Self::push`], reaches the task at [`Self::flush`].
    pub(crate) fn push_shared(
        &mut self,
        batch: &mut Batch,
        header: Bytes,
        payload: Bytes,
        qos0: bool,
    ) -> Result<usize, Refused> {
        if self.waiting(batch) >= SHARE_BELOW && !batch.fresh {
            self.refresh(batch)?;
        }
        let copy = self.waiting(batch) >= SHARE_BELOW;
        self.stage(batch, qos0, |batch| {
            let size = header.len() + payload.len();
            if copy {
                batch.buffer.extend_from_slice(&header);
                batch.buffer.extend_from_slice(&payload);
            } else {
                batch.push_chunk(header);
                batch.push_chunk(payload);
            }
            Ok(size)
        })
    }

    /// Hands everything `batch` holds to the outbox and wakes the task if it waits; the batch
    /// is left empty. Returns the bytes handed over, or [`Refused::Overflow`] when the task
    /// is gone (the bytes are dropped).
    pub(crate) fn flush(&mut self, batch: &mut Batch) -> Result<usize, Refused> {
        let size = std::mem::take(&mut batch.size);
        batch.fresh = false;
        if batch.is_empty() {
            return Ok(0);
        }
        // The buffer's bytes go as one chunk; its room stays with the batch.
        let tail = (!batch.buffer.is_empty()).then(|| batch.buffer.split().freeze());
        let waker = {
            let mut state = lock(&self.state);
            if state.gone {
                batch.chunks.clear();
                return Err(Refused::Overflow);
            }
            if state.chunks.is_empty() {
                std::mem::swap(&mut state.chunks, &mut batch.chunks);
            } else {
                state.chunks.append(&mut batch.chunks);
            }
            state.chunks.extend(tail);
            // Staging kept the total within HARD_LIMIT.
            state.unwritten = state.unwritten.saturating_add(size);
            self.seen = state.unwritten;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(size as usize)
    }

    /// Bytes that count against the budget by the driver's view: the outbox's and the batch's.
    fn waiting(&self, batch: &Batch) -> usize {
        self.seen as usize + batch.size as usize
    }

    /// Looks at the outbox's count again (once per batch at most); the task being gone is an
    /// overflow, as it would be at the flush.
    fn refresh(&mut self, batch: &mut Batch) -> Result<(), Refused> {
        let state = lock(&self.state);
        if state.gone {
            return Err(Refused::Overflow);
        }
        self.seen = state.unwritten;
        batch.fresh = true;
        Ok(())
    }

    /// What the budget says about a packet of `size` bytes with `waiting` bytes before it.
    /// An empty outbox takes any QoS 0 message, however large, so that a limit below one
    /// message drops only the messages that find others still waiting.
    fn verdict(&self, waiting: usize, size: usize, qos0: bool) -> Option<Refused> {
        let total = waiting + size;
        if total > HARD_LIMIT {
            Some(Refused::Overflow)
        } else if total > self.qos0_limit as usize && qos0 && waiting > 0 {
            Some(Refused::Dropped)
        } else {
            None
        }
    }

    /// Runs `append` (which stages one packet and returns its size) and keeps what it staged
    /// if the budget allows, else takes it back. Returns the size. A refusal by the driver's
    /// view is checked again against a fresh look before it stands.
    fn stage(
        &mut self,
        batch: &mut Batch,
        qos0: bool,
        append: impl FnOnce(&mut Batch) -> Result<usize, Refused>,
    ) -> Result<usize, Refused> {
        let mark = (batch.chunks.len(), batch.buffer.len());
        let size = append(batch)?;
        let mut refused = self.verdict(self.waiting(batch), size, qos0);
        if refused.is_some() && !batch.fresh {
            if let Err(gone) = self.refresh(batch) {
                batch.undo(mark);
                return Err(gone);
            }
            refused = self.verdict(self.waiting(batch), size, qos0);
        }
        if let Some(refused) = refused {
            batch.undo(mark);
            return Err(refused);
        }
        // At most HARD_LIMIT with what waits, checked above.
        batch.size = u32::try_from(batch.size as usize + size).unwrap_or(u32::MAX);
        batch.staged += size;
        Ok(size)
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
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>, out: &mut Chunks) -> Poll<bool> {
        debug_assert!(out.is_empty());
        let mut state = lock(&self.state);
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
    pub(crate) fn written(&self, written: usize, out: &mut Chunks) {
        let mut state = lock(&self.state);
        let written = u32::try_from(written).unwrap_or(u32::MAX);
        state.unwritten = state.unwritten.saturating_sub(written);
        if state.chunks.is_empty() {
            state.chunks = Chunks::new();
            *out = Chunks::new();
        } else {
            out.clear();
        }
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        state.gone = true;
        state.chunks = Chunks::new();
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

    /// Stages `packet` alone and flushes it, as the driver does for an event with one packet.
    fn push(tx: &mut OutboxSender, packet: &Packet) -> Result<usize, Refused> {
        let mut batch = Batch::default();
        let size = tx.push(&mut batch, packet, V4)?;
        tx.flush(&mut batch)?;
        Ok(size)
    }

    /// As [`push`], for a shared header and payload.
    fn push_shared(
        tx: &mut OutboxSender,
        header: Bytes,
        payload: Bytes,
        qos0: bool,
    ) -> Result<usize, Refused> {
        let mut batch = Batch::default();
        let size = tx.push_shared(&mut batch, header, payload, qos0)?;
        tx.flush(&mut batch)?;
        Ok(size)
    }

    async fn take(rx: &OutboxReceiver, out: &mut Chunks) -> bool {
        poll_fn(|cx| rx.poll_take(cx, out)).await
    }

    fn joined(out: &[Bytes]) -> Vec<u8> {
        out.iter().flat_map(|chunk| chunk.iter().copied()).collect()
    }

    #[test]
    fn every_connection_shares_a_small_state() {
        // The state with the `Arc`'s two counts is one heap block per open connection: at
        // most 56 bytes are a 64-byte chunk. The driver's end sits in its entry per connection.
        let shared = 2 * size_of::<usize>() + size_of::<Mutex<State>>();
        assert!(shared <= 56, "the outbox's shared state is {shared} bytes");
        assert!(size_of::<OutboxSender>() <= 16);
    }

    #[tokio::test]
    async fn qos0_is_dropped_over_the_soft_limit_and_anything_closes_over_the_hard_one() {
        let (mut tx, rx) = outbox();
        assert!(push(&mut tx, &publish(QoS::AtMostOnce, SOFT_LIMIT - 1000)).is_ok());
        assert_eq!(push(&mut tx, &publish(QoS::AtMostOnce, 2000)), Err(Refused::Dropped));
        assert!(push(&mut tx, &publish(QoS::AtLeastOnce, 2000)).is_ok());
        assert_eq!(push(&mut tx, &publish(QoS::AtLeastOnce, SOFT_LIMIT)), Err(Refused::Overflow));
        let mut out = Chunks::new();
        assert!(take(&rx, &mut out).await);
        let size: usize = out.iter().map(Bytes::len).sum();
        assert!(size > SOFT_LIMIT, "both accepted packets, encoded");
        rx.written(size, &mut out);
        assert!(out.is_empty() && out.capacity() == 0, "an idle outbox holds no buffer");
        assert!(push(&mut tx, &publish(QoS::AtMostOnce, 2000)).is_ok());
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
                let result = push(&mut tx, &publish(QoS::AtMostOnce, *size));
                assert_eq!(result == Err(Refused::Dropped), *dropped, "{limit}: {size}");
            }
            // QoS 1 is bounded by the in-flight window, not here.
            assert!(push(&mut tx, &publish(QoS::AtLeastOnce, 2 * limit + 10)).is_ok());
        }
    }

    #[tokio::test]
    async fn a_refused_packet_leaves_the_queue_as_it_was() {
        // Flushed packet by packet, and staged in one batch (as one event to a connection).
        for one_batch in [false, true] {
            let (mut tx, rx) = outbox();
            let mut batch = Batch::default();
            let mut push = |tx: &mut OutboxSender, packet: &Packet| {
                let size = tx.push(&mut batch, packet, V4);
                if !one_batch {
                    tx.flush(&mut batch).unwrap();
                }
                size
            };
            push(&mut tx, &Packet::PingResp).unwrap();
            push(&mut tx, &publish(QoS::AtMostOnce, SOFT_LIMIT - 100)).unwrap();
            push(&mut tx, &Packet::PingResp).unwrap();
            // Small and large packets over the soft limit: both dropped, nothing else touched.
            assert_eq!(push(&mut tx, &publish(QoS::AtMostOnce, 200)), Err(Refused::Dropped));
            assert_eq!(push(&mut tx, &publish(QoS::AtMostOnce, 2000)), Err(Refused::Dropped));
            push(&mut tx, &Packet::PingResp).unwrap();
            tx.flush(&mut batch).unwrap();
            let mut out = Chunks::new();
            assert!(take(&rx, &mut out).await);
            let bytes = joined(&out);
            let mut expected = BytesMut::new();
            for packet in [Packet::PingResp, publish(QoS::AtMostOnce, SOFT_LIMIT - 100)] {
                mqtt_codec::encode(&packet, V4, u32::MAX, &mut expected).unwrap();
            }
            expected.extend_from_slice(&[0xD0, 0x00, 0xD0, 0x00]);
            assert!(bytes == expected[..], "the queue holds exactly the accepted packets");
        }
    }

    #[tokio::test]
    async fn a_stale_view_of_the_outbox_is_refreshed_before_a_packet_is_refused() {
        let (mut tx, rx) = outbox();
        tx.limit_qos0(10_000);
        push(&mut tx, &publish(QoS::AtMostOnce, 9_000)).unwrap();
        // The task writes everything; the driver has not looked since its flush.
        let mut out = Chunks::new();
        assert!(take(&rx, &mut out).await);
        rx.written(out.iter().map(Bytes::len).sum(), &mut out);
        let mut batch = Batch::default();
        let accepted = tx.push(&mut batch, &publish(QoS::AtMostOnce, 2_000), V4).unwrap();
        // The next one is over the limit by the fresh view too.
        let over = tx.push(&mut batch, &publish(QoS::AtMostOnce, 9_000), V4);
        assert_eq!(over, Err(Refused::Dropped));
        assert_eq!(tx.flush(&mut batch), Ok(accepted));
    }

    #[tokio::test]
    async fn a_batch_for_a_task_that_is_gone_overflows_at_the_flush() {
        let (mut tx, rx) = outbox();
        let mut batch = Batch::default();
        tx.push(&mut batch, &Packet::PingResp, V4).unwrap();
        drop(rx);
        assert_eq!(tx.flush(&mut batch), Err(Refused::Overflow));
        assert!(batch.is_empty() && batch.size == 0, "dropped, not kept");
    }

    #[tokio::test]
    async fn packets_arrive_encoded_in_order_and_closing_ends_after_the_rest() {
        let (mut tx, rx) = outbox();
        push(&mut tx, &Packet::PingResp).unwrap();
        push(&mut tx, &publish(QoS::AtMostOnce, 1)).unwrap();
        drop(tx);
        let mut out = Chunks::new();
        assert!(take(&rx, &mut out).await);
        assert_eq!(joined(&out), [0xD0, 0x00, 0x30, 0x04, 0x00, 0x01, b't', 0x07]);
        rx.written(8, &mut out);
        assert!(!take(&rx, &mut out).await);
    }

    #[tokio::test]
    async fn shared_packets_are_queued_by_reference_in_order() {
        let header = Bytes::from_static(&[0x30, 0x85, 0x08, 0, 1, b't']);
        let payload = Bytes::from(vec![7; 1024]);
        let (mut tx, rx) = outbox();
        push(&mut tx, &Packet::PingResp).unwrap();
        push_shared(&mut tx, header.clone(), payload.clone(), true).unwrap();
        push(&mut tx, &Packet::PingResp).unwrap();
        let mut out = Chunks::new();
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
        let (mut tx, rx) = outbox();
        push(&mut tx, &publish(QoS::AtLeastOnce, SHARE_BELOW)).unwrap();
        push_shared(&mut tx, header.clone(), payload.clone(), true).unwrap();
        let mut out = Chunks::new();
        assert!(take(&rx, &mut out).await);
        assert!(out.iter().all(|chunk| chunk.as_ptr() != payload.as_ptr()), "copied");
        let joined = joined(&out);
        assert_eq!(joined[joined.len() - 1030..], [&header[..], &payload[..]].concat());
    }

    #[tokio::test]
    async fn a_refused_shared_packet_leaves_the_queue_as_it_was() {
        let (mut tx, rx) = outbox();
        let mut batch = Batch::default();
        tx.push(&mut batch, &publish(QoS::AtMostOnce, SOFT_LIMIT - 100), V4).unwrap();
        let big = Bytes::from(vec![1; 2000]);
        let header = Bytes::from_static(&[0x30, 0xD5, 0x0F, 0, 1, b't']);
        let refused = tx.push_shared(&mut batch, header.clone(), big.clone(), true);
        assert_eq!(refused, Err(Refused::Dropped));
        tx.push(&mut batch, &Packet::PingResp, V4).unwrap();
        tx.flush(&mut batch).unwrap();
        // Refused again once the first ones are in the outbox.
        assert_eq!(push_shared(&mut tx, header, big, true), Err(Refused::Dropped));
        let mut out = Chunks::new();
        assert!(take(&rx, &mut out).await);
        let mut expected = BytesMut::new();
        for packet in [publish(QoS::AtMostOnce, SOFT_LIMIT - 100), Packet::PingResp] {
            mqtt_codec::encode(&packet, V4, u32::MAX, &mut expected).unwrap();
        }
        assert!(joined(&out) == expected[..], "the queue holds exactly the accepted packets");
    }

    #[tokio::test]
    async fn a_waiting_task_is_woken_by_a_flush() {
        let (mut tx, rx) = outbox();
        let task = tokio::spawn(async move {
            let mut out = Chunks::new();
            take(&rx, &mut out).await.then(|| joined(&out))
        });
        tokio::task::yield_now().await;
        push(&mut tx, &Packet::PingResp).unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        assert_eq!(got.unwrap().unwrap(), Some(vec![0xD0, 0x00]));
    }

    #[tokio::test]
    async fn a_closed_task_refuses_packets() {
        let (mut tx, rx) = outbox();
        drop(rx);
        assert_eq!(push(&mut tx, &publish(QoS::AtMostOnce, 1)), Err(Refused::Overflow));
    }
}
