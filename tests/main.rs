//! Cross-binary end-to-end tests, compiled as one test binary (`cargo test -p e2e`).
//!
//! Every test runs real processes on 127.0.0.1 with ports picked by the OS and a deadline on
//! every wait. The binaries under test are the workspace's own, built by `cargo test
//! --workspace`; Debian's Mosquitto tools and paho-mqtt are the reference they are checked
//! against (`scripts/install-test-deps.sh` installs them).
#![forbid(unsafe_code)]

mod auth;
mod broker_21;
mod broker_auth;
mod broker_bridge;
mod broker_bridge21;
mod broker_bridge_reload;
mod broker_busy_driver;
mod broker_ciphers;
mod broker_cli;
mod broker_crl;
mod broker_dlt;
mod broker_durable;
mod broker_flood;
mod broker_hardening;
mod broker_hash_values;
mod broker_hostile;
mod broker_http;
mod broker_http_api;
mod broker_journal_shards;
mod broker_listener;
mod broker_log;
mod broker_log_topic;
mod broker_login_flood;
mod broker_metrics;
mod broker_migrate;
mod broker_node;
mod broker_options;
mod broker_paho;
mod broker_persist;
mod broker_persist_shards;
mod broker_proxy;
mod broker_shards;
mod broker_slow_consumer;
mod broker_sys;
mod broker_syslog;
mod broker_tools;
mod broker_topic_alias;
mod broker_unix;
mod broker_ws_tls;
mod browser;
mod cli_21;
mod cli_bytes;
mod cli_pub;
mod cli_rr;
mod cli_sub;
mod dashboard;
mod differential;
mod package;
mod passwd;
mod service;
mod support;
