//! Shards talking to each other: what a broker forwards to the other shards
//! ([`Output::Forward`]) and what it does with what they forward ([`Broker::handle_forward`]).
//!
//! - A message routed here goes to every other shard, which routes it to its own plain
//!   subscribers; a `$share` group's member is picked here among every shard's members, and
//!   the item for the member's shard names the group.
//! - A retained update carries a version ([`RetainVersion`]): every replica keeps the newest.
//! - A subscription made or ended here is announced ([`Item::Interest`]), so every shard
//!   knows who subscribes elsewhere (for v5's "No matching subscribers" and group picks).

use std::sync::Arc;
use std::time::Instant;

use super::Broker;
use super::route::Picks;
use crate::client_id::IdGenerator;
use crate::conn::SessionKey;
use crate::event::Output;
use crate::message::SharedMessage;
use crate::shard::{Item, ShardId, ShardItem, shard_of};
use crate::topic;

impl Broker {
    /// Something another shard forwarded (`Output::Forward`), handed over in the order that
    /// shard forwarded it.
    pub fn handle_forward(&mut self, item: ShardItem, now: Instant) {
        match item.0 {
            Item::Publish { message, origin, version, plain, groups, hops } => {
                if plain {
                    // Any number unique per (origin shard, publisher) will do: a slot shared
                    // with another publisher costs a walk, never a wrong match.
                    let cache_slot =
                        origin.1.map(|key| key.0 as usize * self.shard.count + origin.0);
                    let picks = Picks::Origin { cache_slot };
                    self.route_here(message.clone(), None, version, picks, now);
                }
                for group in groups {
                    self.deliver_to_group(&message, group, hops, now);
                }
            }
            Item::Stats { from, figures } => self.note_figures(from, *figures),
            Item::Interest { from, filter, added } => {
                if let Ok(split) = topic::split_shared(&filter) {
                    let count = self.shard.count;
                    self.tree.change_remote(split.group, split.filter, from, count, added);
                }
            }
        }
    }

    /// [`Broker::route`] on a sharded broker: routes here, forwards to every other shard
    /// (naming the `$share` groups whose pick fell there), and counts as matched whatever
    /// matched anywhere.
    pub(super) fn route_and_forward(
        &mut self,
        message: SharedMessage,
        publisher: Option<SessionKey>,
        now: Instant,
    ) -> usize {
        let version = message
            .retain
            .then(|| self.retained.next_version(&message.topic, now, self.shard.index));
        self.elsewhere.remote = false;
        let matched = self.route_here(message.clone(), publisher, version, Picks::Here, now);
        let away = std::mem::take(&mut self.elsewhere.away);
        for shard in self.other_shards() {
            let groups = away.iter().filter(|a| a.shard == shard).map(|a| a.group.clone());
            let item = Item::Publish {
                message: message.clone(),
                origin: (self.shard.index, publisher),
                version,
                plain: true,
                groups: groups.collect(),
                hops: 0,
            };
            self.forward(shard, item);
        }
        let total = matched + away.len() + usize::from(self.elsewhere.remote);
        self.elsewhere.away = away;
        self.elsewhere.away.clear();
        total
    }

    /// Delivers `message` to one member here of `group` (`$share/{group}/{filter}`), which
    /// the origin shard picked; if none is left here, passes it to the next shard with
    /// members, at most one hop per shard; after that it is dropped, as a message for a group
    /// without members is.
    fn deliver_to_group(
        &mut self,
        message: &SharedMessage,
        group: Arc<str>,
        hops: usize,
        now: Instant,
    ) {
        let Ok(topic::SplitFilter { group: Some(name), filter }) = topic::split_shared(&group)
        else {
            return;
        };
        let sessions = &self.sessions;
        let online = |key: SessionKey| sessions.get(key).is_some_and(|s| s.conn.is_some());
        if let Some(member) = self.tree.pick_member(name, filter, &online) {
            if let Some(delivery) = self.merge(message, &[member], None) {
                self.deliver(member.session, delivery, now);
            }
            return;
        }
        if hops + 1 >= self.shard.count {
            return;
        }
        let (index, count) = (self.shard.index, self.shard.count);
        if let Some(next) = self.tree.next_shard_with_members(name, filter, index, count) {
            let item = Item::Publish {
                message: message.clone(),
                origin: (self.shard.index, None),
                version: None,
                plain: false,
                groups: vec![group],
                hops: hops + 1,
            };
            self.forward(next, item);
        }
    }

    /// Tells every other shard that this one gained (`added`) or lost a subscription to
    /// `filter` (its full text, `$share/…` included).
    pub(super) fn announce_interest(&mut self, filter: &str, added: bool) {
        if self.shard.count == 1 {
            return;
        }
        let filter: Arc<str> = filter.into();
        for shard in self.other_shards() {
            let item = Item::Interest { from: self.shard.index, filter: filter.clone(), added };
            self.forward(shard, item);
        }
    }

    /// Every shard but this one.
    fn other_shards(&self) -> impl Iterator<Item = usize> + use<> {
        let ShardId { index, count } = self.shard;
        (0..count).filter(move |&shard| shard != index)
    }

    /// Asks the runtime to carry `item` to shard `shard`.
    pub(super) fn forward(&mut self, shard: usize, item: Item) {
        self.outputs.push_back(Output::Forward { shard, item: ShardItem(item) });
    }
}

/// A new client id with `prefix` that `shard` owns ([`shard_of`]): drawn again until it maps
/// there, `count` draws on average (one when unsharded, so an unsharded broker draws exactly
/// as before).
pub(super) fn assign_client_id(ids: &mut IdGenerator, shard: ShardId, prefix: &str) -> String {
    loop {
        let id = ids.generate(prefix);
        if shard_of(&id, shard.count) == shard.index {
            return id;
        }
    }
}
