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
//! - With the journal on, a message whose acknowledgement (PUBACK, or PUBCOMP at QoS 2) the
//!   publisher is due goes with a durability [`Request`]: each shard it reaches answers
//!   ([`Item::Durable`], which the runtime sends once that shard's journal records before it
//!   are synced), and the acknowledgement, with everything after it to that connection, waits
//!   in `held` until every answer came. A `$share` pick passed on carries the request too; the
//!   answer of the shard that passed it says how many more follow (`more`).

use std::sync::Arc;
use std::time::Instant;

use super::Broker;
use super::held::Wait;
use super::route::Picks;
use crate::client_id::IdGenerator;
use crate::conn::SessionKey;
use crate::event::{ConnId, Output};
use crate::message::SharedMessage;
use crate::shard::{ShardId, shard_of};
use crate::shard_id::shard_bit;
use crate::shard_item::{Item, Request, ShardItem};
use crate::topic;

impl Broker {
    /// Something another shard forwarded (`Output::Forward`), handed over in the order that
    /// shard forwarded it.
    pub fn handle_forward(&mut self, item: ShardItem, now: Instant) {
        match item.0 {
            Item::Publish { message, origin, version, plain, groups, hops, durable } => {
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
                let mut more = 0;
                for group in groups {
                    more += self.deliver_to_group(&message, group, hops, durable, now);
                }
                if let Some(request) = durable {
                    self.answer(request, hops, more);
                }
            }
            Item::FiguresWanted => self.send_figures(),
            Item::Stats { from, figures } => self.note_figures(from, *figures, now),
            Item::Interest { from, filter, added, ack } => {
                if let Ok(split) = topic::split_shared(&filter) {
                    let count = self.shard.count;
                    self.tree.change_remote(split.group, split.filter, from, count, added);
                }
                if let Some((conn, token)) = ack {
                    self.forward(from, Item::InterestAck { conn, token });
                }
            }
            Item::InterestAck { conn, token } => self.answered(conn, token, 0, 0),
            Item::Durable { conn, token, hops, more } => self.answered(conn, token, hops, more),
        }
    }

    /// Answers a durability request for an item `hops` hops from its origin, which this shard
    /// passed on `more` times. The origin itself (a `$share` pick that came back) counts the
    /// answer at once: what waits for it still waits for this shard's own journal.
    fn answer(&mut self, request: Request, hops: usize, more: usize) {
        let Request { shard, conn, token } = request;
        if shard == self.shard.index {
            self.answered(conn, token, hops, more);
        } else {
            self.forward(shard, Item::Durable { conn, token, hops, more });
        }
    }

    /// [`Broker::route`] for a message whose acknowledgement `conn` is due once it is routed
    /// (a QoS 1 PUBLISH, a QoS 2 PUBREL): with the journal on and several shards, that
    /// acknowledgement and everything after it to `conn` wait until every shard the message
    /// went to answered that its records of it are durable.
    pub(super) fn route_acknowledged(
        &mut self,
        message: SharedMessage,
        publisher: SessionKey,
        conn: ConnId,
        now: Instant,
    ) -> usize {
        if self.shard.count == 1 || !self.config.journal {
            return self.route(message, Some(publisher), now);
        }
        let token = self.held.issue();
        let request = Request { shard: self.shard.index, conn, token };
        let (matched, forwarded) =
            self.route_and_forward(message, Some(publisher), Some(request), now);
        self.hold(conn, token, forwarded, Wait::Durable);
        matched
    }

    /// [`Broker::route`] on a sharded broker: routes here, and forwards to each other shard
    /// that has a matching plain subscription or a `$share` group member picked there (named
    /// in the item), and to every other shard if retained (for its replica), each with the
    /// durability request `durable`. Counts as matched whatever matched anywhere; returns
    /// that and how many shards it was forwarded to.
    pub(super) fn route_and_forward(
        &mut self,
        message: SharedMessage,
        publisher: Option<SessionKey>,
        durable: Option<Request>,
        now: Instant,
    ) -> (usize, usize) {
        let version = message
            .retain
            .then(|| self.retained.next_version(&message.topic, now, self.shard.index));
        self.elsewhere.remote = 0;
        let matched = self.route_here(message.clone(), publisher, version, Picks::Here, now);
        let away = std::mem::take(&mut self.elsewhere.away);
        let remote = self.elsewhere.remote;
        let mut forwarded = 0;
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
                durable,
            };
            self.forward(shard, item);
            forwarded += 1;
        }
        let total = matched + away.len() + usize::from(remote != 0);
        self.elsewhere.away = away;
        self.elsewhere.away.clear();
        (total, forwarded)
    }

    /// Delivers `message` to one member here of `group` (`$share/{group}/{filter}`), which
    /// the origin shard picked; if none is left here, passes it to the next shard with
    /// members, at most one hop per shard, with the same durability request; after that it is
    /// dropped, as a message for a group without members is. Returns how many items it passed
    /// on (0 or 1).
    fn deliver_to_group(
        &mut self,
        message: &SharedMessage,
        group: Arc<str>,
        hops: usize,
        durable: Option<Request>,
        now: Instant,
    ) -> usize {
        let Ok(topic::SplitFilter { group: Some(name), filter }) = topic::split_shared(&group)
        else {
            return 0;
        };
        let sessions = &self.sessions;
        let online = |key: SessionKey| sessions.get(key).is_some_and(|s| s.conn.is_some());
        if let Some(member) = self.tree.pick_member(name, filter, &online) {
            if let Some(delivery) = self.merge(message, &[member], None) {
                self.deliver(member.session, delivery, now);
            }
            return 0;
        }
        if hops + 1 >= self.shard.count {
            return 0;
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
                durable,
            };
            self.forward(next, item);
            return 1;
        }
        0
    }

    /// Tells every other shard that this one gained (`added`) or lost a subscription to
    /// `filter` (its full text, `$share/…` included). With `ack` (a connection and a token),
    /// each of them answers with an [`Item::InterestAck`]; returns how many answers to wait
    /// for.
    pub(super) fn announce_interest(
        &mut self,
        filter: &str,
        added: bool,
        ack: Option<(ConnId, u64)>,
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
