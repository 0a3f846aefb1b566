//! The last matches of each publisher, so that a client publishing to the same topic again
//! costs a string comparison instead of a walk of the trie. A direct-mapped table indexed by
//! the publisher (no hashing of topics that clients choose); an entry is used only for the
//! same topic under the same subscriptions, so whoever shares a slot, the result is what the
//! walk would give. Only plain subscribers are kept (a `$share` pick moves round robin on
//! every message), with the other shards that have a plain match. Bounded in entries, topic
//! length and matches per entry.

use super::{Elsewhere, Matched};
use crate::shard_id::ShardSet;

/// Entries in the table, allocated on first use.
const SLOTS: usize = 1024;
/// Longest topic kept, in bytes.
const MAX_TOPIC_LEN: usize = 256;
/// Most matches kept per entry: for a topic with many subscribers, delivering costs far more
/// than the walk.
const MAX_MATCHES: usize = 8;

/// One publisher's last walk.
#[derive(Debug, Default)]
struct Entry {
    /// The subscriptions' generation it was walked under.
    generation: u64,
    topic: String,
    matches: Vec<Matched>,
    /// The other shards with a plain match ([`Elsewhere::remote`]).
    remote: ShardSet,
}

/// The table of last walks.
#[derive(Debug)]
pub(super) struct MatchCache {
    /// Bumped on every change of subscriptions; entries of older generations are stale.
    /// Starts at 1, so that empty entries never count.
    generation: u64,
    entries: Vec<Entry>,
}

impl Default for MatchCache {
    fn default() -> Self {
        Self { generation: 1, entries: Vec::new() }
    }
}

impl MatchCache {
    /// Appends the matches kept for `topic` in `publisher`'s slot to `out` (and notes a
    /// other shards with a plain match in `elsewhere`); false if there are none.
    pub(super) fn extend(
        &self,
        publisher: usize,
        topic: &str,
        out: &mut Vec<Matched>,
        elsewhere: &mut Elsewhere,
    ) -> bool {
        match self.entries.get(publisher % SLOTS) {
            Some(entry) if entry.generation == self.generation && entry.topic == topic => {
                out.extend_from_slice(&entry.matches);
                elsewhere.remote |= entry.remote;
                true
            }
            _ => false,
        }
    }

    /// Keeps `matches` and `elsewhere`, the walk's result for `topic`, in `publisher`'s slot
    /// if they may be reused (no `$share` pick, here or elsewhere).
    pub(super) fn keep(
        &mut self,
        publisher: usize,
        topic: &str,
        matches: &[Matched],
        elsewhere: &Elsewhere,
    ) {
        let reusable = matches.len() <= MAX_MATCHES
            && matches.iter().all(|m| !m.shared)
            && elsewhere.away.is_empty();
        if !reusable || topic.len() > MAX_TOPIC_LEN {
            return;
        }
        if self.entries.is_empty() {
            self.entries.resize_with(SLOTS, Entry::default);
        }
        let entry = &mut self.entries[publisher % SLOTS];
        entry.generation = self.generation;
        entry.topic.clear();
        entry.topic.push_str(topic);
        entry.matches.clear();
        entry.matches.extend_from_slice(matches);
        entry.remote = elsewhere.remote;
    }

    /// Makes every entry stale (a subscription changed).
    pub(super) fn clear(&mut self) {
        self.generation += 1;
    }
}
