//! What the shards of one broker share: the figures that broker-wide limits read
//! (`memory_limit`, `global_max_clients`, `max_connections`). Atomics, which are not I/O: the
//! core stays sans-IO. Each shard adds and takes away its own; every shard reads the sum.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::memory::Gauge;

/// The broker-wide counts the shards of one process share: make it for the number of shards
/// ([`SharedLimits::new`]) and give every shard a clone
/// ([`Broker::share_limits`](crate::Broker::share_limits)) before its first connection. An
/// unsharded broker has one of its own.
#[derive(Clone, Debug)]
pub struct SharedLimits {
    /// Bytes held for messages: one gauge per shard, which only that shard charges (a
    /// forwarded message gives its bytes back wherever its last reference goes); the limit
    /// reads their sum.
    pub(crate) memory: Arc<[Gauge]>,
    /// Sessions on every shard.
    pub(crate) sessions: Counter,
    /// Open connections on every shard.
    pub(crate) connections: Counter,
}

impl SharedLimits {
    /// The counts of a broker of `shards` shards (at least one).
    #[must_use]
    pub fn new(shards: usize) -> Self {
        Self {
            memory: (0..shards.max(1)).map(|_| Gauge::default()).collect(),
            sessions: Counter::default(),
            connections: Counter::default(),
        }
    }

    /// The gauge shard `index` charges.
    pub(crate) fn gauge(&self, index: usize) -> Gauge {
        // Never empty (`new`); an index past the end (limits made for fewer shards) shares.
        self.memory[index % self.memory.len()].clone()
    }

    /// Bytes held for messages on every shard.
    pub(crate) fn memory_in_use(&self) -> usize {
        self.memory.iter().map(Gauge::current).sum()
    }
}

impl Default for SharedLimits {
    /// The counts of an unsharded broker.
    fn default() -> Self {
        Self::new(1)
    }
}

/// A count shared between shards.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counter(Arc<AtomicUsize>);

impl Counter {
    /// Adds `n`.
    pub(crate) fn add(&self, n: usize) {
        // Relaxed: a limit read a moment late is a limit still (no other memory is ordered
        // by it).
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Takes `n` away.
    pub(crate) fn sub(&self, n: usize) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }

    /// The count now.
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}
