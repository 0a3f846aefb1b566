//! Shards talking to each other: what a broker forwards to the other shards
//! ([`Output::Forward`]) and what it does with what they forward ([`Broker::handle_forward`]).
//!
//! - A message routed here goes to each other shard with a matching plain subscription (as
//!   the other shards announced them), which routes it to its own plain subscribers; a
//!   `$share` group's member is picked here among every shard's members, and the item for the
//!   member's shard names the group.
//! - A retained update goes to every shard and carries a version ([`RetainVersion`]): every
//!   replica keeps the newest.
//! - A subscription made or ended here is announced ([`Item::Interest`]), so every shard
//!   knows who subscribes elsewhere (where to forward, v5's "No matching subscribers", group
//!   picks). A SUBSCRIBE's answer, and everything after it to that connection, waits until
//!   every other shard acknowledged ([`Item::InterestAck`], see `held`): a client told it is
//!   subscribed gets whatever is published anywhere from then on.

use std::sync::Arc;
use std::time::Instant;

use super::Broker;
use super::route::Picks;
use crate::client_id::IdGenerator;
use crate::conn::SessionKey;
use crate::event::{ConnId, Output};
use crate::message::SharedMessage;
use crate::shard::{ShardId, shard_of};
use crate::shard_id::shard_bit;
use crate::shard_item::{Item, ShardItem};
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
                        origin.1.map(|slot| slot as usize * self.shard.count + origin.0);
                    let picks = Picks::Origin { cache_slot };
                    self.route_here(message.clone(), None, version, picks, now);
                } else if version.is_some() {
                    // No subscriber here: only the replica of the retained messages changes.
                    self.keep_retained(&message, version, now);
                }
                for group in groups {
                    self.deliver_to_group(&message, group, hops, now);
                }
            }
            Item::FiguresWanted => self.send_figures(),
            Item::Stats { from, figures } => self.note_figures(from, *figures, now),
            Item::Interest { from, filter, added, ack } => {
                if let Ok(split) = topic::split_shared(&filter) {
                    let count = self.shard.count;
                    self.tree.change_remote(split.group, split.filter, from, count, added);
                }
                if let Some(conn) = ack {
                    self.forward(from, Item::InterestAck { conn });
                }
            }
            Item::InterestAck { conn } => self.interest_acknowledged(conn),
        }
    }

    /// [`Broker::route`] on a sharded broker: routes here, and forwards to each other shard
    /// that has a matching plain subscription or a `$share` group member picked there (named
    /// in the item), and to every other shard if retained (for its replica). Counts as
    /// matched whatever matched anywhere.
    pub(super) fn route_and_forward(
        &mut self,
        message: SharedMessage,
        publisher: Option<SessionKey>,
        now: Instant,
    ) -> usize {
        let version = message
            .retain
            .then(|| self.retained.next_version(&message.topic, now, self.shard.index));
        self.elsewhere.remote = 0;
        let matched = self.route_here(message.clone(), publisher, version, Picks::Here, now);
        let away = std::mem::take(&mut self.elsewhere.away);
        let remote = self.elsewhere.remote;
        for shard in self.other_shards() {
            let plain = remote & shard_bit(shard) != 0;
            let groups: Vec<Arc<str>> =
                away.iter().filter(|a| a.shard == shard).map(|a| a.group.clone()).collect();
            if !plain && groups.is_empty() && version.is_none() {
                continue;
            }
            let item = Item::Publish {
                message: message.clone(),
                origin: (self.shard.index, publisher.map(|key| key.0)),
                version,
                plain,
                groups,
                hops: 0,
            };
            self.forward(shard, item);
        }
        let total = matched + away.len() + usize::from(remote != 0);
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
    /// `filter` (its full text, `$share/…` included). With `ack`, each of them answers with an
    /// [`Item::InterestAck`] for that connection; returns how many answers to wait for.
    pub(super) fn announce_interest(
        &mut self,
        filter: &str,
        added: bool,
        ack: Option<ConnId>,
    ) -> usize {
        if self.shard.count == 1 {
            return 0;
        }
        let filter: Arc<str> = filter.into();
        let from = self.shard.index;
        for shard in self.other_shards() {
            let item = Item::Interest { from, filter: filter.clone(), added, ack };
            self.forward(shard, item);
        }
        if ack.is_some() { self.shard.count - 1 } else { 0 }
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
