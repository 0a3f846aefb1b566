//! Shards talking to each other: what a broker forwards to the other shards
//! ([`Output::Forward`]) and what it does with what they forward ([`Broker::handle_forward`]).

use std::time::Instant;

use super::Broker;
use crate::client_id::IdGenerator;
use crate::event::Output;
use crate::message::SharedMessage;
use crate::shard::{Item, ShardId, ShardItem, shard_of};

impl Broker {
    /// Something another shard forwarded (`Output::Forward`), handed over in the order that
    /// shard forwarded it.
    pub fn handle_forward(&mut self, item: ShardItem, now: Instant) {
        match item.0 {
            Item::Publish { message } => {
                self.route_here(message, None, now);
            }
        }
    }

    /// Sends `message`, routed here, to every other shard for its subscribers: one shared
    /// message, one item per destination.
    pub(super) fn forward_publish(&mut self, message: &SharedMessage) {
        for shard in (0..self.shard.count).filter(|&shard| shard != self.shard.index) {
            let item = ShardItem(Item::Publish { message: message.clone() });
            self.outputs.push_back(Output::Forward { shard, item });
        }
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
