//! Behaviour tests of the broker, driven through the fake-clock [`harness::Harness`]; one
//! file per area of the protocol.

pub(crate) mod harness;

mod admin;
mod connect;
mod internal;
mod journal;
mod keepalive;
mod listener_options;
mod listeners;
mod outgoing_alias;
mod persist;
mod qos;
mod retain;
mod robustness;
mod routing;
mod session;
mod shard_acks;
mod shard_equivalence;
mod shards;
mod sys;
mod v5;
mod will;
