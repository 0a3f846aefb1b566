//! Sans-IO MQTT broker logic: routing, sessions, QoS flows, retained messages, auth and ACLs.
//!
//! [`Broker`] is a state machine in quinn's dialect. It never touches a socket, a file, a
//! thread or the clock: the runtime (crates/broker) feeds it inputs, each stamped with `now`,
//! and carries out the [`Output`]s it asks for. Same inputs, same outputs, same order.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mqtt_codec::{Connect, MqttString, Packet, ProtocolVersion};
//! use mqtt_core::{Broker, Config, ConnId, Output, PeerInfo};
//!
//! /// One client connects; `now` comes from the runtime's clock (or a test's fake one).
//! fn first_connection(now: Instant) {
//!     let mut broker = Broker::new(Config::default(), [42; 32]);
//!     let conn = ConnId(1);
//!     broker.handle_open(conn, PeerInfo { address: "127.0.0.1".into(), port: 50000, listener: 0, certificate_username: None }, now);
//!     let mut connect = Connect::new(ProtocolVersion::V3_1_1, MqttString::from_static("sensor"));
//!     connect.keep_alive = 60;
//!     broker.handle_packet(conn, Packet::Connect(Box::new(connect)), now);
//!     while let Some(output) = broker.poll_output() {
//!         match output {
//!             Output::Send { conn, packet } => { /* encode `packet`, write it to `conn` */ }
//!             Output::Close { conn, .. } => { /* flush and close `conn` */ }
//!             _ => { /* log events, authentication requests */ }
//!         }
//!     }
//!     // Re-arm the runtime's timer: the keep-alive deadline, 1.5 × 60 s.
//!     assert_eq!(broker.poll_timeout(), Some(now + Duration::from_secs(90)));
//! }
//! ```
//!
//! # Layout
//! - `broker`: [`Broker`] and its packet handlers (`connect`, `publish`, `route`, `subscribe`,
//!   `lifecycle`), and the `$SYS` publisher (`sys`).
//! - `event`: [`ConnId`], [`PeerInfo`], [`CertificateUsername`], [`CloseCause`], [`Output`], [`LogEvent`].
//! - `config`: [`Config`], Mosquitto's defaults.
//! - `access`: the [`AccessControl`] hook that [`acl`] implements.
//! - `topic`, `topic_tree`: filter matching and the subscription trie (`$`-topics, `$share`);
//!   `mount`: a listener's `mount_point` prefix.
//! - `session`, `qos`, `message`, `retained`, `timers`, `conn`, `alias`, `client_id`: the state
//!   the broker keeps, each in its own module.
//! - [`auth`], [`acl`]: Mosquitto's password and ACL files (shared with `culex_passwd`).
//! - `shard`: [`ShardId`], [`shard_of`], [`shard_for_connect`]; `shard_item`: the
//!   [`ShardItem`]s that shards send each other (`broker::forward` handles them); `shared`: [`SharedLimits`], the
//!   counts every shard reads for broker-wide limits.
//! - `stats`: [`Stats`], the counters behind `$SYS` and the metrics, and [`DropCause`].
//! - [`snapshot`]: the durable state as plain data and its file format; `broker::persist`
//!   takes and restores it. [`WallClock`]: the runtime's reading of Unix time, by which the
//!   durable state stores message expiry as an absolute time.
//!
//! # Persistence
//! [`Broker::snapshot`] copies the durable state (retained messages, persistent sessions with
//! their subscriptions and queued, in-flight and incoming QoS 2 messages) into a plain
//! [`snapshot::Snapshot`]; [`Broker::restore`] puts one back at startup; [`snapshot::encode`]
//! and [`snapshot::decode`] are culex's file format, pure functions. The runtime takes the
//! snapshot on its driver task and encodes and writes it elsewhere, as Mosquitto does, at
//! shutdown, on SIGUSR1 and every `autosave_interval` ([`Broker::changes`] counts changes for
//! `autosave_on_changes`). Every message and delivery carries a durable id that the snapshot
//! keeps, so that [`snapshot::journal`] records (one per change of durable state, replayed
//! onto the snapshot at startup) can name what a checkpoint holds.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod access;
pub mod acl;
mod alias;
pub mod auth;
mod broker;
mod client_id;
mod config;
mod conn;
mod conn_id;
mod event;
mod memory;
mod message;
mod mount;
mod qos;
mod retained;
mod session;
mod shard;
mod shard_id;
mod shard_item;
mod shared;
mod short_str;
pub mod snapshot;
mod stats;
mod timers;
mod topic;
mod topic_tree;
mod wall_clock;

#[cfg(test)]
mod tests;

pub use access::{Access, AccessControl, ClientRef};
pub use broker::{
    Broker, ClientInfo, PREVIEW_BYTES, Page, PageRequest, RetainedInfo, SYS_LOAD_COUNTERS,
    SessionInfo, SubscriptionInfo,
};
pub use client_id::IdSeed;
pub use config::{Config, ListenerOptions, ListenerSecurity, ProtocolVersions};
pub use conn::{ConnIdHasher, ConnMap};
pub use event::{
    BRIDGE_USER_LISTENER, CertificateUsername, CloseCause, ConnId, DisconnectReason, DropReason,
    INTERNAL_LISTENER, LogEvent, Output, PeerInfo, WillInfo, acknowledges_durable_state,
};
pub use shard::{ShardId, shard_for_connect, shard_of};
pub use shard_item::ShardItem;
pub use shared::SharedLimits;
pub use short_str::ShortStr;
pub use stats::{DropCause, Stats};
pub use wall_clock::WallClock;
