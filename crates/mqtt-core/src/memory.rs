//! Memory accounting for `memory_limit`: an estimate, in bytes, of what the broker holds for
//! messages (each counted once, however many queues and the retained store share it: its
//! struct, topic, payload and properties) and a fixed amount per session. A message carries a [`Charge`]
//! that gives its bytes back when the last reference to it goes. Cheap on the hot path: one
//! atomic add when a message is made, one subtract when it goes; no I/O, no clock.

use std::mem::size_of;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mqtt_codec::Properties;

use crate::message::Message;
use crate::session::Session;

/// What one session is counted for: its struct (its strings, subscriptions and queue entries
/// are left out; the messages its queues hold are counted once, on their own).
pub(crate) const SESSION_BYTES: usize = size_of::<Session>();

/// The running total of charged bytes, shared with every [`Charge`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Gauge(Arc<AtomicUsize>);

impl Gauge {
    /// Adds `bytes`, given back when the returned charge is dropped.
    pub(crate) fn charge(&self, bytes: usize) -> Charge {
        // Relaxed: the broker is single-threaded; the atomic only keeps messages `Sync`.
        self.0.fetch_add(bytes, Ordering::Relaxed);
        Charge { gauge: self.clone(), bytes }
    }

    /// Bytes charged now.
    pub(crate) fn current(&self) -> usize {
        self.0.load(Ordering::Relaxed)
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
        self.gauge.0.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// The estimated bytes of a message with this topic, payload and properties.
pub(crate) fn message_bytes(
    topic_len: usize,
    payload_len: usize,
    properties: &Properties,
) -> usize {
    let strings = properties.content_type.as_ref().map_or(0, |s| s.as_str().len())
        + properties.response_topic.as_ref().map_or(0, |t| t.as_str().len())
        + properties.correlation_data.as_ref().map_or(0, bytes::Bytes::len)
        + properties
            .user_properties
            .iter()
            .map(|(key, value)| key.as_str().len() + value.as_str().len())
            .sum::<usize>();
    size_of::<Message>() + topic_len + payload_len + strings
}
