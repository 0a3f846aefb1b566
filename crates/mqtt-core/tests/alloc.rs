//! Allocations per message in the core, counted by a global allocator: one QoS 1 message
//! routed to one subscriber and acknowledged both ways, and one QoS 0 message, in the
//! workloads of the `qos` benchmark. Guards the per-message allocation budget.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use mqtt_codec::QoS;

#[path = "../benches/workload/mod.rs"]
mod workload;

use workload::{Shape, Workload};

/// Counts allocations made by threads that asked to be counted.
struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

#[expect(
    unsafe_code,
    reason = "a GlobalAlloc impl is unsafe by definition; it only forwards to System"
)]
// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees hold; the counter and the const-initialised thread-local never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

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
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        COUNTING.with(|c| c.set(true));
        for _ in 0..COUNTED {
            workload.step();
        }
        COUNTING.with(|c| c.set(false));
        let total = ALLOCATIONS.load(Ordering::Relaxed) - before;
        eprintln!("{name}: {total} allocations in {COUNTED} messages");
        assert!(total <= budget * COUNTED, "{name}: {total} > {budget} per message");
    }
}
