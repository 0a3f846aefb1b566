//! Sans-IO MQTT broker logic: routing, sessions, QoS flows, retained messages, auth and ACLs.
#![warn(missing_docs)]

pub mod acl;
pub mod auth;
