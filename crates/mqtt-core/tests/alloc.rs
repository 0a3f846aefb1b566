//! Allocations per message in the core, counted by a global allocator: one QoS 1 message
//! routed to one subscriber and acknowledged both ways, and one QoS 0 message, in the
//! workloads of the `qos` benchmark. Guards the per-message allocation budget.

use std::time::Instant;

use mqtt_codec::QoS;

#[path = "../../mqtt-codec/tests/support/counting_alloc.rs"]
mod counting_alloc;

#[path = "../benches/workload/mod.rs"]
mod workload;

use counting_alloc::allocations_during;
use workload::{Shape, Workload};

/// Messages each workload runs before counting (queues and scratch buffers reach their size).
const WARM_UP: usize = 64;
/// Messages counted.
const COUNTED: usize = 160;

#[test]
fn messages_allocate_within_budget() {
    #[expect(clippy::disallowed_methods, reason = "the test's one fixed instant")]
    let now = Instant::now();
    // (scenario, shape, QoS, allocations per message at most)
    let budgets = [
        ("fan-in 16→1 QoS 1", Shape::FanIn, QoS::AtLeastOnce, 1),
        ("16 pairs QoS 1", Shape::Pairs, QoS::AtLeastOnce, 1),
        ("16 pairs QoS 0", Shape::Pairs, QoS::AtMostOnce, 1),
    ];
    for (name, shape, qos, budget) in budgets {
        let mut workload = Workload::new(shape, qos, now);
        for _ in 0..WARM_UP {
            workload.step();
        }
        let total = allocations_during(|| {
            for _ in 0..COUNTED {
                workload.step();
            }
        });
        eprintln!("{name}: {total} allocations in {COUNTED} messages");
        assert!(total <= budget * COUNTED, "{name}: {total} > {budget} per message");
    }
}
