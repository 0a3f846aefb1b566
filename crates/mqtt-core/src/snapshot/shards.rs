//! A snapshot split into one part per shard, and the shards' parts merged back into one
//! file. Each shard owns the sessions whose client id [`shard_of`] gives it and keeps a full
//! replica of the retained messages, so a part holds its shard's sessions, every retained
//! message, and the messages these refer to. Message ids never collide between parts: each
//! shard numbers its messages in its own residue class (see `message::DurableIds`), and a
//! message forwarded to another shard keeps its origin's id.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Snapshot, StoredMessage, StoredSession};
use crate::shard_id::shard_of;

/// The highest message and delivery ids of a snapshot, which every shard restoring a part
/// of it must count past ([`Broker::reserve_ids`](crate::Broker::reserve_ids)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LastIds {
    /// The highest [`StoredMessage::id`](super::StoredMessage::id), 0 for none.
    pub message: u64,
    /// The highest [`StoredDelivery::id`](super::StoredDelivery::id), 0 for none.
    pub delivery: u64,
}

impl Snapshot {
    /// The highest ids this snapshot holds.
    #[must_use]
    pub fn last_ids(&self) -> LastIds {
        let message = self.messages.iter().map(|message| message.id).max().unwrap_or(0);
        let delivery = self
            .sessions
            .iter()
            .flat_map(|session| {
                let flights = session.inflight.iter().map(|flight| flight.delivery.id);
                flights.chain(session.queued.iter().map(|delivery| delivery.id))
            })
            .max()
            .unwrap_or(0);
        LastIds { message, delivery }
    }

    /// One part per shard, out of `count`: part `i` holds the sessions [`shard_of`] gives
    /// shard `i`, every retained message, and the messages those refer to, in this
    /// snapshot's order. One shard (or none) gets the snapshot unchanged.
    #[must_use]
    pub fn split(self, count: usize) -> Vec<Self> {
        if count <= 1 {
            return vec![self];
        }
        let mut parts: Vec<Self> = (0..count)
            .map(|_| Self {
                messages: Vec::new(),
                retained: self.retained.clone(),
                sessions: Vec::new(),
            })
            .collect();
        for session in self.sessions {
            let shard = shard_of(&session.client_id, count);
            if let Some(part) = parts.get_mut(shard) {
                part.sessions.push(session);
            }
        }
        for part in &mut parts {
            let referred = part.referred();
            part.messages = self
                .messages
                .iter()
                .filter(|message| referred.contains(&message.id))
                .cloned()
                .collect();
        }
        parts
    }

    /// The shards' parts as one snapshot, as [`Broker::snapshot`](crate::Broker::snapshot)
    /// orders one: messages once each (a message several shards hold has one id), in id
    /// order; one retained message per topic, in topic order, the first part's where several
    /// parts have the topic (the replicas agree but for updates still on their way; the
    /// other parts add what the first misses, such as a will published by a shard that
    /// stopped after it); sessions in client id order, one per client id, the first part's
    /// where several parts hold it (a crash while the persistence files were being dealt out
    /// to the shards at startup leaves identical copies). One part is returned unchanged.
    #[must_use]
    pub fn merge(parts: Vec<Self>) -> Self {
        if parts.len() == 1 {
            return parts.into_iter().next().unwrap_or_default();
        }
        let mut messages: BTreeMap<u64, StoredMessage> = BTreeMap::new();
        let mut retained: BTreeMap<String, u64> = BTreeMap::new();
        let mut sessions: Vec<StoredSession> = Vec::new();
        for part in parts {
            let topics: HashMap<u64, &str> =
                part.messages.iter().map(|message| (message.id, message.topic.as_str())).collect();
            for id in &part.retained {
                if let Some(topic) = topics.get(id) {
                    retained.entry((*topic).to_owned()).or_insert(*id);
                }
            }
            for message in part.messages {
                messages.entry(message.id).or_insert(message);
            }
            sessions.extend(part.sessions);
        }
        // Stable: of several sessions with one client id, the first part's comes first.
        sessions.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        sessions.dedup_by(|later, first| later.client_id == first.client_id);
        let mut merged =
            Self { messages: Vec::new(), retained: retained.into_values().collect(), sessions };
        // Only what the merged state refers to: a retained message another part replaced.
        let referred = merged.referred();
        merged.messages =
            messages.into_values().filter(|message| referred.contains(&message.id)).collect();
        merged
    }

    /// The ids of the messages the retained entries and the sessions refer to.
    fn referred(&self) -> HashSet<u64> {
        let mut ids: HashSet<u64> = self.retained.iter().copied().collect();
        for session in &self.sessions {
            ids.extend(session.inflight.iter().map(|flight| flight.delivery.message));
            ids.extend(session.queued.iter().map(|delivery| delivery.message));
            ids.extend(session.incoming.iter().filter_map(|incoming| incoming.message));
        }
        ids
    }
}

#[cfg(test)]
mod tests;
