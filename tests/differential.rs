//! Differential tests: scripted raw-packet sessions run against Debian's `mosquitto` and
//! against `culex` with the same configuration; every byte each broker sends back, and whether
//! and when it closes each connection, must be equal (see `differential/harness.rs`).
//!
//! One module per area; each `#[test]` builds one [`Scenario`](harness::Scenario) and runs
//! it. A scenario that must differ says why with `.differs(reason)`, and the difference is
//! listed in docs/mosquitto-differences.md.

mod harness;
pub(crate) mod wire;

mod alias;
mod auth;
mod connect;
mod expiry;
mod flows;
mod keepalive;
mod malformed;
mod plugin;
mod properties;
mod publish;
mod random_flows;
mod retain;
mod size;
mod subs;
mod subscribe;
mod will;
