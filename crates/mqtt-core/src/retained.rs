//! The retained-message store: one message per topic, replaced by newer ones, deleted by an
//! empty payload, looked up by subscription filter. Expired messages are dropped when met,
//! and kept aside until the broker journals their removal ([`RetainedStore::take_expired`]).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::{Duration, Instant};

use mqtt_codec::{MqttString, TopicName, filter_matches};

use crate::message::SharedMessage;

/// Retained messages by topic, in topic order (so delivery order is deterministic). The key
/// shares the message's topic bytes rather than copying them (`MqttString` orders as `str`).
#[derive(Debug, Default)]
pub(crate) struct RetainedStore {
    by_topic: BTreeMap<MqttString, SharedMessage>,
    /// Messages dropped as expired since the last [`RetainedStore::take_expired`].
    expired: Vec<SharedMessage>,
    /// Sharded brokers only: the version of the last update applied per topic, deletions
    /// included, so that every shard's replica ends with the same message.
    versions: BTreeMap<MqttString, RetainVersion>,
    /// Prune the versions of deleted topics when there are this many versions.
    prune_at: usize,
}

/// The version of a retained update on a sharded broker, compared field by field. Every shard
/// applies an update only if it is newer than the topic's last one, so concurrent updates
/// from two shards converge (last writer wins), and an update made after another was applied
/// on its shard is newer than it ([`RetainedStore::next_version`]), whatever the clocks read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RetainVersion {
    /// When the origin shard routed it, or the time of the topic's last version there if
    /// that was later.
    at: Instant,
    /// Counts updates at the same `at` on the origin shard.
    tick: u64,
    /// The origin shard: the tie-break between shards.
    shard: usize,
}

/// How long the version of a deleted topic is kept: an update older than that, still on its
/// way from another shard, would bring the topic back. Forwards take microseconds.
const DELETED_VERSION_KEPT: Duration = Duration::from_secs(60);

/// The fewest versions at which deleted topics' versions are pruned.
const PRUNE_AT_LEAST: usize = 1024;

impl RetainedStore {
    /// The version of an update of `topic` made now on shard `shard`: newer than the last
    /// one applied here.
    pub(crate) fn next_version(
        &self,
        topic: &TopicName,
        now: Instant,
        shard: usize,
    ) -> RetainVersion {
        match self.versions.get(topic.as_str()) {
            Some(last) if last.at >= now => {
                RetainVersion { at: last.at, tick: last.tick + 1, shard }
            }
            _ => RetainVersion { at: now, tick: 0, shard },
        }
    }

    /// Whether an update of `topic` at `version` is to be applied: always without a version
    /// (unsharded); otherwise only if newer than the last applied, which it then becomes.
    pub(crate) fn admits(
        &mut self,
        topic: &TopicName,
        version: Option<RetainVersion>,
        now: Instant,
    ) -> bool {
        let Some(version) = version else { return true };
        if self.versions.get(topic.as_str()).is_some_and(|last| *last >= version) {
            return false;
        }
        self.versions.insert(topic.as_mqtt_str().clone(), version);
        if self.versions.len() >= self.prune_at.max(PRUNE_AT_LEAST) {
            let by_topic = &self.by_topic;
            self.versions.retain(|topic, version| {
                by_topic.contains_key(topic)
                    || now.saturating_duration_since(version.at) < DELETED_VERSION_KEPT
            });
            self.prune_at = 2 * self.versions.len();
        }
        true
    }

    /// Stores `message` for its topic, or deletes the topic's message if the payload is empty
    /// ([v5 MQTT-3.3.1-6], [v5 MQTT-3.3.1-7]).
    pub(crate) fn store(&mut self, message: SharedMessage) {
        if message.payload.is_empty() {
            self.by_topic.remove(message.topic.as_str());
        } else {
            self.by_topic.insert(message.topic.as_mqtt_str().clone(), message);
        }
    }

    /// Retained messages whose topic matches `filter`, skipping (and deleting) expired ones.
    ///
    /// Only topics sharing the filter's literal prefix (the text before its first wildcard)
    /// are looked at, so `sensors/#` costs a range scan, not a walk over every retained topic.
    pub(crate) fn matching(&mut self, filter: &str, now: Instant) -> Vec<SharedMessage> {
        let prefix = match filter.find(['+', '#']) {
            // `a/#` also matches `a` itself, so its prefix stops before the separator.
            Some(at) if filter[at..].starts_with('#') => {
                let before = &filter[..at];
                before.strip_suffix('/').unwrap_or(before)
            }
            Some(at) => &filter[..at],
            None => filter,
        };
        let mut found = Vec::new();
        let mut expired = Vec::new();
        for (name, message) in
            self.by_topic.range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
        {
            if !name.starts_with(prefix) {
                break;
            }
            if !filter_matches(filter, name) {
                continue;
            }
            if message.is_expired(now) {
                expired.push(name.clone());
            } else {
                found.push(message.clone());
            }
        }
        for name in expired {
            self.expired.extend(self.by_topic.remove(&name));
        }
        found
    }

    /// The messages [`RetainedStore::matching`] dropped as expired since the last call.
    pub(crate) fn take_expired(&mut self) -> Vec<SharedMessage> {
        std::mem::take(&mut self.expired)
    }

    /// Number of retained messages.
    pub(crate) fn len(&self) -> usize {
        self.by_topic.len()
    }

    /// Every retained message (for the `$SYS` store gauges).
    pub(crate) fn messages(&self) -> impl Iterator<Item = &SharedMessage> {
        self.by_topic.values()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use mqtt_codec::{Properties, PropertyValues, QoS, TopicName};

    use super::*;
    use crate::message::Message;

    fn message(topic: &str, expiry: Option<u32>, now: Instant) -> SharedMessage {
        let properties = Properties::from(PropertyValues {
            message_expiry_interval: expiry,
            ..PropertyValues::default()
        });
        let topic = TopicName::new(topic).expect("valid topic");
        Arc::new(Message::from_publish(
            1,
            topic,
            Bytes::from_static(b"x"),
            QoS::AtMostOnce,
            true,
            properties,
            now,
        ))
    }

    fn topics(found: &[SharedMessage]) -> Vec<&str> {
        found.iter().map(|m| m.topic.as_str()).collect()
    }

    #[test]
    fn filters_find_exactly_the_matching_topics() {
        let now = crate::tests::harness::epoch();
        let mut store = RetainedStore::default();
        for topic in ["a", "a/b", "a/b/c", "ab", "b/a", "$SYS/x"] {
            store.store(message(topic, None, now));
        }
        assert_eq!(topics(&store.matching("a/#", now)), ["a", "a/b", "a/b/c"]);
        assert_eq!(topics(&store.matching("a/+", now)), ["a/b"]);
        assert_eq!(topics(&store.matching("+/a", now)), ["b/a"]);
        assert_eq!(topics(&store.matching("#", now)), ["a", "a/b", "a/b/c", "ab", "b/a"]);
        assert_eq!(topics(&store.matching("ab", now)), ["ab"]);
        assert_eq!(topics(&store.matching("$SYS/#", now)), ["$SYS/x"]);
    }

    #[test]
    fn expired_messages_are_dropped_when_met() {
        let now = crate::tests::harness::epoch();
        let mut store = RetainedStore::default();
        store.store(message("t/short", Some(1), now));
        store.store(message("t/long", Some(100), now));
        let later = now + Duration::from_secs(2);
        assert_eq!(topics(&store.matching("t/#", later)), ["t/long"]);
        assert_eq!(store.len(), 1);
        assert_eq!(topics(&store.take_expired()), ["t/short"]);
        assert!(store.take_expired().is_empty());
    }
}
