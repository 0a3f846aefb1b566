//! Per-subscriber bookkeeping of what arrived: messages per flow, gaps (lost), repeats
//! (duplicates) and, when asked, one latency sample per message.

use crate::payload::Stamp;

/// What one subscriber has seen. MQTT keeps the order of one publisher's messages to one
/// subscriber, so a sequence number above the next expected one means the ones between were
/// lost, and one below means a duplicate.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    /// Next expected sequence number per flow (one past the highest seen).
    pub(crate) next: Vec<u64>,
    /// Messages received per flow (duplicates excluded).
    pub(crate) per_flow: Vec<u64>,
    pub(crate) lost: u64,
    pub(crate) duplicates: u64,
    /// Payloads without a valid stamp or with a flow this subscriber does not expect.
    pub(crate) foreign: u64,
    /// `(sent_ns, latency_ns)` per message, when recording.
    pub(crate) latencies: Option<Vec<(u64, u64)>>,
}

impl Tracker {
    /// A tracker for flows `0..flows`, recording latencies if `record_latency`.
    pub(crate) fn new(flows: usize, record_latency: bool) -> Self {
        Self {
            next: vec![0; flows],
            per_flow: vec![0; flows],
            latencies: record_latency.then(Vec::new),
            ..Self::default()
        }
    }

    /// Accounts for one received payload at time `now_ns`.
    pub(crate) fn record(&mut self, payload: &[u8], now_ns: u64) {
        let Some(stamp) = Stamp::read(payload) else {
            self.foreign += 1;
            return;
        };
        let Ok(flow) = usize::try_from(stamp.flow) else {
            self.foreign += 1;
            return;
        };
        let Some(next) = self.next.get_mut(flow) else {
            self.foreign += 1;
            return;
        };
        if stamp.sequence < *next {
            self.duplicates += 1;
            return;
        }
        self.lost += stamp.sequence - *next;
        *next = stamp.sequence + 1;
        self.per_flow[flow] += 1;
        if let Some(latencies) = &mut self.latencies {
            latencies.push((stamp.sent_ns, now_ns.saturating_sub(stamp.sent_ns)));
        }
    }

    /// Messages received from every flow (duplicates excluded).
    pub(crate) fn received(&self) -> u64 {
        self.per_flow.iter().sum()
    }

    /// Messages never seen, given how many each flow sent: gaps plus a missing tail.
    pub(crate) fn missing(&self, sent_per_flow: &[u64]) -> u64 {
        self.per_flow.iter().zip(sent_per_flow).map(|(got, sent)| sent.saturating_sub(*got)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(flow: u32, sequence: u64, sent_ns: u64) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        Stamp { flow, sequence, sent_ns }.write(&mut bytes);
        bytes
    }

    #[test]
    fn gaps_count_as_lost_and_repeats_as_duplicates() {
        let mut tracker = Tracker::new(2, true);
        for (flow, seq) in [(0, 0), (0, 1), (1, 0), (0, 4), (0, 2), (1, 1), (5, 0)] {
            tracker.record(&payload(flow, seq, 100), 150);
        }
        tracker.record(b"short", 1);
        assert_eq!(tracker.per_flow, vec![3, 2]);
        assert_eq!(tracker.lost, 2);
        assert_eq!(tracker.duplicates, 1);
        assert_eq!(tracker.foreign, 2);
        assert_eq!(tracker.received(), 5);
        assert_eq!(tracker.missing(&[6, 2]), 3, "2 in the gap, 1 never sent after 4");
        assert_eq!(tracker.latencies.as_ref().map(Vec::len), Some(5));
        assert_eq!(tracker.latencies.unwrap()[0], (100, 50));
    }
}
