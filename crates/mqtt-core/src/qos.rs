//! QoS 1/2 bookkeeping for one session: the outgoing in-flight window with packet-id
//! allocation, the queue behind it (bounded by count and bytes), and the incoming QoS 2 ids
//! waiting for PUBREL.

mod inflight;

use std::collections::VecDeque;

use mqtt_codec::{PacketId, QoS};

use crate::message::{Delivery, SharedMessage};
use inflight::InFlightMap;

/// Where an outgoing QoS 1/2 message is in its flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutState {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    Qos1Sent,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    Qos2Sent,
    /// PUBREL sent, waiting for PUBCOMP.
    Released,
}

/// One outgoing message in flight.
#[derive(Clone, Debug)]
pub(crate) struct InFlight {
    /// Send order, so a reconnect re-sends in the original order.
    pub(crate) seq: u64,
    /// What was sent.
    pub(crate) delivery: Delivery,
    /// Flow state.
    pub(crate) state: OutState,
}

/// Result of trying to queue a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Enqueued {
    /// Queued.
    Yes,
    /// Dropped because the queue is full; `first` on the first drop of an overflow episode.
    Dropped { first: bool },
}

/// The outgoing side of a session. Allocated on the first QoS 1/2 (or queued) message, so
/// that the many sessions that never have one stay small.
#[derive(Debug, Default)]
pub(crate) struct Outgoing(Option<Box<Flows>>);

/// The state behind [`Outgoing`].
#[derive(Debug, Default)]
struct Flows {
    inflight: InFlightMap<InFlight>,
    queue: VecDeque<Delivery>,
    queued_bytes: usize,
    next_id: u16,
    next_seq: u64,
    dropping: bool,
}

/// Queue bounds, from the config (0 = unlimited).
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueueLimits {
    pub(crate) messages: usize,
    pub(crate) bytes: usize,
}

impl Outgoing {
    /// The state, created on first use.
    fn flows(&mut self) -> &mut Flows {
        self.0.get_or_insert_with(Box::default)
    }

    /// Number of messages in flight.
    pub(crate) fn inflight_len(&self) -> usize {
        self.0.as_ref().map_or(0, |flows| flows.inflight.len())
    }

    /// Payload bytes of the messages in flight (Mosquitto's `max_inflight_bytes` counts
    /// these).
    pub(crate) fn inflight_bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |flows| {
            flows.inflight.values().map(|flight| flight.delivery.payload_len()).sum()
        })
    }

    /// Number of queued (not yet sent) messages.
    pub(crate) fn queued_len(&self) -> usize {
        self.0.as_ref().map_or(0, |flows| flows.queue.len())
    }

    /// Every message held, in flight or queued (for the `$SYS` store gauges).
    pub(crate) fn messages(&self) -> impl Iterator<Item = &SharedMessage> {
        self.0.iter().flat_map(|flows| {
            let inflight = flows.inflight.values().map(|flight| &flight.delivery.message);
            inflight.chain(flows.queue.iter().map(|delivery| &delivery.message))
        })
    }

    /// The queued (not yet sent) deliveries, in order.
    pub(crate) fn queued(&self) -> impl Iterator<Item = &Delivery> {
        self.0.iter().flat_map(|flows| flows.queue.iter())
    }

    /// Puts back a flow saved by a snapshot, after those already restored (so re-sending
    /// keeps their order). Returns false if `id` is already in flight.
    pub(crate) fn restore(&mut self, id: PacketId, delivery: Delivery, state: OutState) -> bool {
        let flows = self.flows();
        if flows.inflight.contains(id.get()) {
            return false;
        }
        let seq = flows.next_seq;
        flows.next_seq += 1;
        // New ids continue after the last restored one, as they would have.
        flows.next_id = id.get();
        flows.inflight.insert(id.get(), InFlight { seq, delivery, state });
        true
    }

    /// Queues a delivery, respecting `limits`.
    pub(crate) fn enqueue(&mut self, delivery: Delivery, limits: QueueLimits) -> Enqueued {
        let flows = self.flows();
        let full = (limits.messages != 0 && flows.queue.len() >= limits.messages)
            || (limits.bytes != 0 && flows.queued_bytes + delivery.payload_len() > limits.bytes);
        if full {
            let first = !flows.dropping;
            flows.dropping = true;
            return Enqueued::Dropped { first };
        }
        flows.dropping = false;
        flows.queued_bytes += delivery.payload_len();
        flows.queue.push_back(delivery);
        Enqueued::Yes
    }

    /// Takes the next queued delivery.
    pub(crate) fn dequeue(&mut self) -> Option<Delivery> {
        let flows = self.0.as_mut()?;
        let delivery = flows.queue.pop_front()?;
        flows.queued_bytes -= delivery.payload_len();
        Some(delivery)
    }

    /// Allocates a free packet id and records `delivery` as in flight.
    ///
    /// # Errors
    /// Gives the delivery back if every packet id is in use (the caller keeps it queued).
    pub(crate) fn start(&mut self, delivery: Delivery) -> Result<PacketId, Delivery> {
        let state = match delivery.qos {
            QoS::ExactlyOnce => OutState::Qos2Sent,
            _ => OutState::Qos1Sent,
        };
        let flows = self.flows();
        if flows.inflight.len() >= usize::from(u16::MAX) {
            return Err(delivery);
        }
        loop {
            flows.next_id = flows.next_id.wrapping_add(1);
            if flows.next_id == 0 {
                continue;
            }
            if !flows.inflight.contains(flows.next_id) {
                break;
            }
        }
        let Some(id) = PacketId::new(flows.next_id) else { return Err(delivery) };
        let seq = flows.next_seq;
        flows.next_seq += 1;
        flows.inflight.insert(flows.next_id, InFlight { seq, delivery, state });
        Ok(id)
    }

    /// Completes a QoS 1 flow (PUBACK) or a QoS 2 flow (PUBCOMP). Returns the delivery's
    /// durable id, or `None` if `id` was not in the expected state.
    pub(crate) fn complete(&mut self, id: PacketId, expected: OutState) -> Option<u64> {
        let flows = self.0.as_mut()?;
        match flows.inflight.get(id.get()) {
            Some(flight) if flight.state == expected => {
                flows.inflight.remove(id.get()).map(|flight| flight.delivery.id)
            }
            _ => None,
        }
    }

    /// Handles PUBREC: moves the flow to waiting for PUBCOMP. Returns false for an unknown id.
    /// A PUBREC for a message already released is answered with PUBREL again.
    /// Returns the delivery's durable id, or `None` for an unknown id.
    pub(crate) fn received(&mut self, id: PacketId) -> Option<u64> {
        let flows = self.0.as_mut()?;
        match flows.inflight.get_mut(id.get()) {
            Some(flight) if flight.state != OutState::Qos1Sent => {
                flight.state = OutState::Released;
                Some(flight.delivery.id)
            }
            _ => None,
        }
    }

    /// The state of the flow of `id`, if it is in flight.
    pub(crate) fn state_of(&self, id: PacketId) -> Option<OutState> {
        self.0.as_ref()?.inflight.get(id.get()).map(|flight| flight.state)
    }

    /// Drops a flow that the receiver ended with an error reason (v5 PUBREC >= 0x80), or
    /// that cannot be sent. Returns the delivery's durable id if `id` was in flight.
    pub(crate) fn abandon(&mut self, id: PacketId) -> Option<u64> {
        self.0.as_mut()?.inflight.remove(id.get()).map(|flight| flight.delivery.id)
    }

    /// In-flight messages in the order they were first sent (for re-sending on reconnect).
    pub(crate) fn inflight_in_order(&self) -> Vec<(PacketId, &InFlight)> {
        let Some(flows) = self.0.as_ref() else { return Vec::new() };
        let mut all: Vec<_> = flows
            .inflight
            .iter()
            .filter_map(|(id, flight)| Some((PacketId::new(id)?, flight)))
            .collect();
        all.sort_by_key(|(_, flight)| flight.seq);
        all
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use mqtt_codec::{Properties, TopicName};

    use super::*;
    use crate::message::Message;

    fn delivery(payload: &'static str) -> Delivery {
        let now = crate::tests::harness::epoch();
        let topic = TopicName::new("t").expect("a valid topic");
        let message = Message::from_publish(
            1,
            topic,
            Bytes::from_static(payload.as_bytes()),
            QoS::AtLeastOnce,
            false,
            Properties::default(),
            now,
        );
        Delivery {
            id: 1,
            message: Arc::new(message),
            qos: QoS::AtLeastOnce,
            retain: false,
            sub_ids: Vec::new(),
        }
    }

    #[test]
    fn packet_ids_skip_ids_still_in_flight() {
        let mut out = Outgoing::default();
        let a = out.start(delivery("a")).expect("free id");
        let b = out.start(delivery("b")).expect("free id");
        assert_eq!((a.get(), b.get()), (1, 2));
        out.flows().next_id = u16::MAX;
        let c = out.start(delivery("c")).expect("free id");
        assert_eq!(c.get(), 3, "wraps past 0 and skips 1 and 2");
        assert_eq!(out.complete(a, OutState::Qos1Sent), Some(1), "the delivery's durable id");
        assert_eq!(out.complete(a, OutState::Qos1Sent), None);
    }

    #[test]
    fn queue_is_bounded_by_count_and_bytes_and_reports_the_first_drop() {
        let mut out = Outgoing::default();
        let limits = QueueLimits { messages: 2, bytes: 0 };
        assert_eq!(out.enqueue(delivery("a"), limits), Enqueued::Yes);
        assert_eq!(out.enqueue(delivery("b"), limits), Enqueued::Yes);
        assert_eq!(out.enqueue(delivery("c"), limits), Enqueued::Dropped { first: true });
        assert_eq!(out.enqueue(delivery("d"), limits), Enqueued::Dropped { first: false });
        let bytes = QueueLimits { messages: 0, bytes: 3 };
        let mut out = Outgoing::default();
        assert_eq!(out.enqueue(delivery("ab"), bytes), Enqueued::Yes);
        assert_eq!(out.enqueue(delivery("cd"), bytes), Enqueued::Dropped { first: true });
        assert_eq!(out.dequeue().map(|d| d.payload_len()), Some(2));
        assert_eq!(out.enqueue(delivery("cd"), bytes), Enqueued::Yes);
    }
}
