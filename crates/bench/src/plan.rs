//! Which scenarios a run measures and for how long: the full plan (about 20 minutes) and the
//! `--quick` one (a few minutes), with the issues' targets for each figure.

use std::time::Duration;

use mqtt_codec::QoS;

use crate::load::{LoadSpec, Shape};
use crate::results::Target;

/// Messages a subscriber may have outstanding (sent to it, not yet received) over all its
/// flows, by payload size: deep enough to keep a broker busy, far below its queue limits.
fn subscriber_budget(payload: usize) -> u64 {
    if payload <= 256 { 2000 } else { 500 }
}

/// One throughput scenario.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Case {
    pub(crate) shape: Shape,
    pub(crate) publishers: usize,
    pub(crate) subscribers: usize,
    pub(crate) qos: QoS,
    pub(crate) payload: usize,
}

impl Case {
    /// The row label, e.g. `fan-in 16→1, QoS 1, 64 B`.
    pub(crate) fn name(&self) -> String {
        let topology = match self.shape {
            Shape::Pairs => format!("{} pairs", self.publishers),
            Shape::OneTopic if self.publishers >= self.subscribers => {
                format!("fan-in {}→{}", self.publishers, self.subscribers)
            }
            Shape::OneTopic => format!("fan-out {}→{}", self.publishers, self.subscribers),
        };
        format!("{topology}, QoS {}, {}", self.qos.as_u8(), payload_name(self.payload))
    }

    /// The target: at least twice Mosquitto's rate at QoS 0 and 1.
    pub(crate) fn target(&self) -> Option<Target> {
        (self.qos != QoS::ExactlyOnce).then_some(Target::MinRatio(2.0))
    }

    /// The load for this case.
    pub(crate) fn spec(&self, plan: &Plan, prefix: String) -> LoadSpec {
        let flows_per_subscriber = match self.shape {
            Shape::OneTopic => self.publishers as u64,
            Shape::Pairs => 1,
        };
        let window = (subscriber_budget(self.payload) / flows_per_subscriber.max(1)).max(16);
        LoadSpec {
            shape: self.shape,
            publishers: self.publishers,
            subscribers: self.subscribers,
            qos: self.qos,
            payload: self.payload,
            duration: plan.duration,
            warmup: plan.warmup,
            rate: None,
            window: Some(window),
            record_latency: false,
            persistent_subscribers: false,
            topic_prefix: prefix,
            drain: plan.drain,
        }
    }
}

/// `64 B`, `4 KiB`.
pub(crate) fn payload_name(payload: usize) -> String {
    if payload >= 1024 && payload % 1024 == 0 {
        format!("{} KiB", payload / 1024)
    } else {
        format!("{payload} B")
    }
}

/// Everything one run measures.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) rounds: usize,
    /// Publishing time per throughput or latency measurement, warm-up included.
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    pub(crate) drain: Duration,
    pub(crate) throughput: Vec<Case>,
    /// QoS levels of the fixed-rate latency scenario.
    pub(crate) latency: Vec<QoS>,
    pub(crate) latency_rate: u64,
    pub(crate) idle_connections: usize,
    pub(crate) pub_runs: usize,
    /// Payload sizes for the generator-against-sink measurement.
    pub(crate) sink_payloads: Vec<usize>,
    /// Issue 15's persistence rows (`durable.rs`).
    pub(crate) durable: bool,
    /// Messages queued for the startup row (0 skips it).
    pub(crate) startup_messages: u64,
}

impl Plan {
    /// The full plan: every topology at QoS 0, 1, 2 with 64 B and 4 KiB, 5 s each, 3 rounds.
    pub(crate) fn full() -> Self {
        let qos = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
        Self {
            rounds: 3,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            drain: Duration::from_secs(5),
            throughput: cases(&qos, &[64, 4096]),
            latency: vec![QoS::AtMostOnce, QoS::AtLeastOnce],
            latency_rate: 10_000,
            idle_connections: 10_000,
            pub_runs: 20,
            sink_payloads: vec![64, 4096],
            durable: true,
            startup_messages: 1_000_000,
        }
    }

    /// About two and a half minutes: QoS 0 and 1 with 64 B, 1 s each, 3 rounds, fewer idle
    /// connections, and the persistence rows with 100,000 queued messages at startup.
    pub(crate) fn quick() -> Self {
        Self {
            rounds: 3,
            duration: Duration::from_secs(1),
            warmup: Duration::from_millis(300),
            drain: Duration::from_secs(3),
            throughput: cases(&[QoS::AtMostOnce, QoS::AtLeastOnce], &[64]),
            latency: vec![QoS::AtMostOnce],
            latency_rate: 10_000,
            idle_connections: 2_000,
            pub_runs: 5,
            sink_payloads: vec![64],
            durable: true,
            startup_messages: 100_000,
        }
    }

    /// Keeps only the scenarios whose name contains `filter` (`idle`, `pub` and `sink` name the
    /// memory, process-start and generator measurements; `persistence` the durable rows).
    pub(crate) fn only(&mut self, filter: &str) {
        self.throughput.retain(|case| case.name().contains(filter));
        self.latency.retain(|qos| latency_name(*qos).contains(filter));
        if !"idle connections".contains(filter) {
            self.idle_connections = 0;
        }
        if !"pub wall time".contains(filter) {
            self.pub_runs = 0;
        }
        if !"sink".contains(filter) {
            self.sink_payloads.clear();
        }
        self.durable &= "persistence".contains(filter);
    }
}

/// The row label of the latency scenario at `qos`.
pub(crate) fn latency_name(qos: QoS) -> String {
    format!("1 pair at 10k msg/s, QoS {}, 64 B", qos.as_u8())
}

/// Fan-in 16→1, fan-out 1→64 and 16 pairs for every `qos` and `payload`.
fn cases(qos: &[QoS], payloads: &[usize]) -> Vec<Case> {
    let mut cases = Vec::new();
    for &payload in payloads {
        for &qos in qos {
            for (shape, publishers, subscribers) in
                [(Shape::OneTopic, 16, 1), (Shape::OneTopic, 1, 64), (Shape::Pairs, 16, 16)]
            {
                cases.push(Case { shape, publishers, subscribers, qos, payload });
            }
        }
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_plan_covers_every_topology_qos_and_payload() {
        let plan = Plan::full();
        assert_eq!(plan.throughput.len(), 18);
        let names: Vec<String> = plan.throughput.iter().map(Case::name).collect();
        assert!(names.contains(&"fan-in 16→1, QoS 0, 64 B".to_owned()), "{names:?}");
        assert!(names.contains(&"fan-out 1→64, QoS 2, 4 KiB".to_owned()), "{names:?}");
        assert!(names.contains(&"16 pairs, QoS 1, 64 B".to_owned()), "{names:?}");
        assert!(plan.rounds >= 3);
    }

    #[test]
    fn windows_split_a_subscriber_budget_over_its_flows() {
        let plan = Plan::quick();
        let fan_in = Case {
            shape: Shape::OneTopic,
            publishers: 16,
            subscribers: 1,
            qos: QoS::AtMostOnce,
            payload: 64,
        };
        assert_eq!(fan_in.spec(&plan, "p".into()).window, Some(125));
        let pairs = Case { shape: Shape::Pairs, subscribers: 16, payload: 4096, ..fan_in.clone() };
        assert_eq!(pairs.spec(&plan, "p".into()).window, Some(500));
        assert_eq!(fan_in.target(), Some(Target::MinRatio(2.0)));
        assert_eq!(Case { qos: QoS::ExactlyOnce, ..fan_in }.target(), None);
    }

    #[test]
    fn only_filters_by_name() {
        let mut plan = Plan::full();
        plan.only("QoS 1, 64 B");
        assert_eq!(plan.throughput.len(), 3);
        assert_eq!(plan.latency, vec![QoS::AtLeastOnce]);
        assert_eq!((plan.idle_connections, plan.pub_runs), (0, 0));
        assert!(plan.sink_payloads.is_empty());
        assert!(!plan.durable);
        let mut plan = Plan::quick();
        plan.only("persist");
        assert!(plan.durable && plan.throughput.is_empty());
    }
}
