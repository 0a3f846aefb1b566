//! Memory accounting for `memory_limit`: a running total, in bytes, of what the broker holds
//! for messages (each counted once, however many queues and the retained store share it; see
//! `message::estimated_bytes`). A message carries a [`Charge`] that gives its bytes back when
//! the last reference to it goes. Cheap on the hot path: one atomic add when a message is made,
//! one subtract when it goes; no I/O, no clock. Sessions are counted by the broker, a fixed
//! amount each (`session::SESSION_BYTES`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The running total of charged bytes, shared with every [`Charge`]. Each shard charges a
/// gauge of its own, alone on its cache line: two shards adding to one counter per message
/// would pass the line back and forth between their cores.
#[derive(Clone, Debug, Default)]
pub(crate) struct Gauge(Arc<Padded>);

/// A counter alone on its cache line (128 bytes: two lines on CPUs that fetch pairs).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicUsize);

impl Gauge {
    /// Adds `bytes`, given back when the returned charge is dropped.
    pub(crate) fn charge(&self, bytes: usize) -> Charge {
        // Relaxed: a shard is single-threaded; the atomic keeps messages `Sync`, and a
        // message forwarded to another shard may give its bytes back there.
        self.0.0.fetch_add(bytes, Ordering::Relaxed);
        Charge { gauge: self.clone(), bytes }
    }

    /// Bytes charged now.
    pub(crate) fn current(&self) -> usize {
        self.0.0.load(Ordering::Relaxed)
    }
}

/// Bytes held on a [`Gauge`] until this is dropped.
#[derive(Debug)]
pub(crate) struct Charge {
    gauge: Gauge,
    bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.gauge.0.0.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}
