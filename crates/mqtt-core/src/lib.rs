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
//!     let mut broker = Broker::new(Config::default(), 42);
//!     let conn = ConnId(1);
//!     broker.handle_open(conn, PeerInfo { address: "127.0.0.1".into(), port: 50000, listener: 0 }, now);
//!     let mut connect = Connect::new(ProtocolVersion::V3_1_1, MqttString::from_static("sensor"));
//!     connect.keep_alive = 60;
//!     broker.handle_packet(conn, Packet::Connect(connect), now);
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
//! - `event`: [`ConnId`], [`PeerInfo`], [`CloseCause`], [`Output`], [`LogEvent`].
//! - `config`: [`Config`], Mosquitto's defaults.
//! - `access`: the [`AccessControl`] hook that [`acl`] implements.
//! - `topic`, `topic_tree`: filter matching and the subscription trie (`$`-topics, `$share`).
//! - `session`, `qos`, `message`, `retained`, `timers`, `conn`, `client_id`: the state the
//!   broker keeps, each in its own module.
//! - [`auth`], [`acl`]: Mosquitto's password and ACL files (shared with `culex_passwd`).
//!
//! # Persistence
//! Durability is designed to be a consumer of outputs: every change of durable state
//! (retained store, sessions, subscriptions, queued QoS 1/2 messages) happens inside one
//! `handle_*` call, so a later issue adds `Output` variants describing those changes (the
//! runtime writes them, group-committed per driver batch) and a restore input at startup,
//! without reworking the handlers.

#![warn(missing_docs)]

mod access;
pub mod acl;
pub mod auth;
mod broker;
mod client_id;
mod config;
mod conn;
mod event;
mod message;
mod qos;
mod retained;
mod session;
mod timers;
mod topic;
mod topic_tree;

#[cfg(test)]
mod tests;

pub use access::{Access, AccessControl, ClientRef};
pub use broker::{Broker, Stats};
pub use config::{Config, ListenerSecurity};
pub use conn::{ConnIdHasher, ConnMap};
pub use event::{
    CloseCause, ConnId, DisconnectReason, DropReason, LogEvent, Output, PeerInfo, WillInfo,
};
