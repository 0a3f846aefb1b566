//! What the shards of one broker share: the figures that broker-wide limits read
//! (`memory_limit`, `global_max_clients`, `max_connections`). Atomics, which are not I/O: the
//! core stays sans-IO. Each shard adds and takes away its own; every shard reads the sum.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::memory::Gauge;

/// The broker-wide counts the shards of one process share: give every shard a clone
/// ([`Broker::share_limits`](crate::Broker::share_limits)) before its first connection. An
/// unsharded broker has one of its own.
#[derive(Clone, Debug, Default)]
pub struct SharedLimits {
    /// Bytes held for messages, every shard's.
    pub(crate) memory: Gauge,
    /// Sessions on every shard.
    pub(crate) sessions: Counter,
    /// Open connections on every shard.
    pub(crate) connections: Counter,
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
