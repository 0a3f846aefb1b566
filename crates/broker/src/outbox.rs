//! The queue from the driver to one connection task, bounded by an estimate of the memory it
//! holds rather than by a packet count: bursts of small messages to a briefly slow reader are
//! absorbed, while a client that stops reading fills its own budget and nothing more.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mqtt_codec::{Packet, QoS};
use tokio::sync::mpsc;

/// Bytes one connection may have queued before QoS 0 messages to it are dropped. A queued
/// `Packet` costs about 1 KiB of its own today (its properties are inline), so this absorbs a
/// burst of roughly 250,000 small messages to one briefly slow reader.
pub(crate) const SOFT_LIMIT: usize = 256 * 1024 * 1024;
/// Bytes after which any packet closes the connection: it is not reading at all.
pub(crate) const HARD_LIMIT: usize = 2 * SOFT_LIMIT;

/// Why a packet was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A QoS 0 PUBLISH over the soft limit: dropped, the connection stays.
    Dropped,
    /// Over the hard limit, or the task is gone: close the connection.
    Overflow,
}

/// The driver's end.
///
/// Packets travel boxed: a `Packet` is about 1 KiB inline, and the channel allocates its slots
/// in blocks of 32, so unboxed packets would cost every connection ~32 KiB after its first
/// CONNACK. A box per queued packet is cheaper than that for the many idle connections.
#[derive(Debug)]
pub(crate) struct OutboxSender {
    packets: mpsc::UnboundedSender<Box<Packet>>,
    queued: Arc<AtomicUsize>,
}

/// The connection task's end.
#[derive(Debug)]
pub(crate) struct OutboxReceiver {
    packets: mpsc::UnboundedReceiver<Box<Packet>>,
    queued: Arc<AtomicUsize>,
}

/// A new, empty outbox.
pub(crate) fn outbox() -> (OutboxSender, OutboxReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        OutboxSender { packets: tx, queued: Arc::clone(&queued) },
        OutboxReceiver { packets: rx, queued },
    )
}

/// What a batch of queued packets costs (see [`OutboxReceiver::written`]).
pub(crate) fn batch_cost(batch: &[Box<Packet>]) -> usize {
    batch.iter().map(|packet| cost(packet)).sum()
}

/// What a queued packet costs: its in-memory size plus the bytes it points to.
fn cost(packet: &Packet) -> usize {
    let referenced = match packet {
        Packet::Publish(publish) => publish.payload.len() + publish.topic.len(),
        _ => 0,
    };
    size_of::<Packet>() + referenced
}

impl OutboxSender {
    /// Queues `packet` unless the connection's budget is spent.
    pub(crate) fn push(&self, packet: Packet) -> Result<(), Refused> {
        let cost = cost(&packet);
        let queued = self.queued.load(Ordering::Acquire);
        if queued + cost > HARD_LIMIT {
            return Err(Refused::Overflow);
        }
        if queued + cost > SOFT_LIMIT
            && matches!(&packet, Packet::Publish(p) if p.qos == QoS::AtMostOnce)
        {
            return Err(Refused::Dropped);
        }
        self.queued.fetch_add(cost, Ordering::AcqRel);
        self.packets.send(Box::new(packet)).map_err(|_| Refused::Overflow)
    }
}

impl OutboxReceiver {
    /// Takes up to `limit` packets into `batch`, waiting for at least one; 0 when the driver
    /// closed the outbox and everything queued has been taken. Call [`Self::written`] with
    /// [`batch_cost`] of the batch once it is written.
    #[expect(
        clippy::vec_box,
        reason = "the boxes come from the channel; unboxing would copy 1 KiB each"
    )]
    pub(crate) async fn recv_many(&mut self, batch: &mut Vec<Box<Packet>>, limit: usize) -> usize {
        self.packets.recv_many(batch, limit).await
    }

    /// Releases the budget of packets that have been written.
    pub(crate) fn written(&self, cost: usize) {
        self.queued.fetch_sub(cost, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use mqtt_codec::{Properties, Publish, TopicName};

    use super::*;

    fn publish(qos: QoS, size: usize) -> Packet {
        Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: TopicName::new("t").unwrap(),
            packet_id: (qos != QoS::AtMostOnce).then_some(mqtt_codec::PacketId::MIN),
            properties: Properties::default(),
            payload: Bytes::from(vec![0; size]),
        })
    }

    #[tokio::test]
    async fn qos0_is_dropped_over_the_soft_limit_and_anything_closes_over_the_hard_one() {
        let (tx, mut rx) = outbox();
        assert_eq!(tx.push(publish(QoS::AtMostOnce, SOFT_LIMIT - 1000)), Ok(()));
        assert_eq!(tx.push(publish(QoS::AtMostOnce, 2000)), Err(Refused::Dropped));
        assert_eq!(tx.push(publish(QoS::AtLeastOnce, 2000)), Ok(()));
        assert_eq!(tx.push(publish(QoS::AtLeastOnce, SOFT_LIMIT)), Err(Refused::Overflow));
        let mut batch = Vec::new();
        assert_eq!(rx.recv_many(&mut batch, 10).await, 2);
        rx.written(batch_cost(&batch));
        assert_eq!(tx.push(publish(QoS::AtMostOnce, 2000)), Ok(()));
    }

    #[tokio::test]
    async fn a_closed_task_refuses_packets() {
        let (tx, rx) = outbox();
        drop(rx);
        assert_eq!(tx.push(publish(QoS::AtMostOnce, 1)), Err(Refused::Overflow));
    }
}
