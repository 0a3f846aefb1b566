//! What the driver counts for the metrics between two flushes ([`Tally`]: plain integers, so
//! counting a packet is an addition, never an atomic or a lock), and the histogram of its
//! batches' durations ([`BatchDurations`]), which takes a flush's buckets at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mqtt_codec::{QoS, ReasonCode};
use mqtt_core::{DisconnectReason, DropCause};
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds of the batch-duration buckets: 5 µs, doubling 18 times (the last 0.65 s);
/// a last bucket takes what is longer.
const FIRST_BOUND_NANOS: u64 = 5_000;
const BOUNDS: usize = 18;

/// What the driver counted since its last flush into [`Metrics`](super::Metrics), and what it
/// last copied there of its core's figures.
#[derive(Debug, Default)]
pub struct Tally {
    /// PUBLISH packets received from clients, by QoS.
    pub(super) received: [u64; 3],
    /// PUBLISH packets queued to clients, by QoS.
    pub(super) sent: [u64; 3],
    /// CONNACKs sent, by reason (the few seen, in the order first seen).
    pub(super) connacks: Vec<(ReasonCode, u64)>,
    /// Connections closed, by the `reason` label.
    pub(super) closed: Vec<(&'static str, u64)>,
    /// Durations of the batches of events handled.
    pub(super) batches: Buckets,
    /// The core's figures as this driver last copied them into the shared metrics.
    pub(super) copied: Copied,
}

/// One driver's last copy of its core's figures, so that the next copy adds only what they
/// moved by: the shared counters and gauges then hold the sum over every driver shard.
#[derive(Debug, Default)]
pub(super) struct Copied {
    /// The core's counters, in the order [`Metrics::mirror`](super::Metrics::mirror) lists them.
    pub(super) counters: [u64; 6 + DropCause::ALL.len()],
    /// The retained, plain and shared subscription, and session counts.
    pub(super) levels: [i64; 4],
    /// The stored and queued messages and their payload bytes.
    pub(super) store: [i64; 4],
}

impl Tally {
    /// A PUBLISH of `qos` was received from a client.
    pub fn publish_in(&mut self, qos: QoS) {
        self.received[qos as usize] += 1;
    }

    /// A PUBLISH of `qos` was queued to a client.
    pub fn publish_out(&mut self, qos: QoS) {
        self.sent[qos as usize] += 1;
    }

    /// A CONNACK with `reason` was sent.
    pub fn connack(&mut self, reason: ReasonCode) {
        bump(&mut self.connacks, reason);
    }

    /// A connection closed for `reason`.
    pub fn closed(&mut self, reason: &DisconnectReason) {
        bump(&mut self.closed, super::disconnect_label(reason));
    }

    /// One batch of the driver's events took `took`.
    pub fn driver_step(&mut self, took: Duration) {
        self.batches.observe(took);
    }
}

/// Adds one to `key`'s count in `counts`.
fn bump<K: PartialEq>(counts: &mut Vec<(K, u64)>, key: K) {
    match counts.iter_mut().find(|(seen, _)| *seen == key) {
        Some((_, count)) => *count += 1,
        None => counts.push((key, 1)),
    }
}

/// Observations of durations: the total and the count per bucket (not cumulative).
#[derive(Debug, Default)]
pub(super) struct Buckets {
    sum_nanos: u64,
    counts: [u64; BOUNDS + 1],
}

impl Buckets {
    fn observe(&mut self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos = self.sum_nanos.saturating_add(nanos);
        self.counts[bucket(nanos)] += 1;
    }
}

/// The bucket of a duration of `nanos`: the first whose bound (5 µs × 2^i) it does not
/// exceed, or the last.
fn bucket(nanos: u64) -> usize {
    let multiples = nanos.div_ceil(FIRST_BOUND_NANOS);
    if multiples <= 1 {
        return 0;
    }
    // The smallest i with 2^i ≥ multiples.
    let i = u64::BITS - (multiples - 1).leading_zeros();
    (i as usize).min(BOUNDS)
}

/// The `culex_driver_event_batch_duration_seconds` histogram: atomics that a flush adds a
/// [`Tally`]'s buckets to, read by a scrape (its count is the sum of its buckets, so the two
/// always agree).
#[derive(Clone, Debug, Default)]
pub(super) struct BatchDurations(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    sum_nanos: AtomicU64,
    counts: [AtomicU64; BOUNDS + 1],
}

impl BatchDurations {
    /// Adds `batches` and empties it.
    pub(super) fn add(&self, batches: &mut Buckets) {
        let Buckets { sum_nanos, counts } = std::mem::take(batches);
        self.0.sum_nanos.fetch_add(sum_nanos, Ordering::Relaxed);
        for (shared, count) in self.0.counts.iter().zip(counts) {
            if count > 0 {
                shared.fetch_add(count, Ordering::Relaxed);
            }
        }
    }
}

impl TypedMetric for BatchDurations {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for BatchDurations {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut bound = FIRST_BOUND_NANOS as f64 / 1e9;
        let buckets: Vec<(f64, u64)> = self
            .0
            .counts
            .iter()
            .enumerate()
            .map(|(i, count)| {
                // prometheus-client writes the bound f64::MAX as `+Inf`.
                let upper = if i == BOUNDS { f64::MAX } else { bound };
                bound *= 2.0;
                (upper, count.load(Ordering::Relaxed))
            })
            .collect();
        let count = buckets.iter().map(|(_, count)| count).sum();
        let sum = self.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_falls_in_the_first_bucket_whose_bound_it_does_not_exceed() {
        for (nanos, expected) in [
            (0, 0),
            (5_000, 0),
            (5_001, 1),
            (10_000, 1),
            (10_001, 2),
            (20_000, 2),
            (20_001, 3),
            (5_000 << 17, 17),
            ((5_000 << 17) + 1, 18),
            (u64::MAX, 18),
        ] {
            assert_eq!(bucket(nanos), expected, "{nanos} ns");
        }
    }

    #[test]
    fn counts_by_key_keep_the_order_first_seen() {
        let mut tally = Tally::default();
        tally.closed(&DisconnectReason::KeepAliveTimeout);
        tally.closed(&DisconnectReason::PeerClosed);
        tally.closed(&DisconnectReason::KeepAliveTimeout);
        assert_eq!(tally.closed, [("keepalive_timeout", 2), ("peer_closed", 1)]);
    }
}
