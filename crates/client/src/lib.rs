//! Culex's MQTT client library, shared by `culex_pub`, `culex_sub` and
//! `culex_rr` (Mosquitto's
//! `client_shared` plus libmosquitto's client side).
//!
//! # Layout
//! - [`args`]: the shared options as typed (`ConnectArgs`), Mosquitto's option parser and
//!   cross-checks, `-D` properties, `-L` URLs, `--proxy` URLs.
//! - [`rcfile`]: the `~/.config/culex_pub`-style options file.
//! - [`cli`]: what each tool's `main` does first: options file and argv parsed into the tool's
//!   options (`CommandLine`), `--help`, `--version` and argument errors answered.
//! - [`help`]: the layout of the `--help` text and the parts both tools print word for word.
//! - [`options`]: checked arguments resolved into `ConnectOptions` (client id, TLS, will …).
//! - [`print`](mod@print): how a received message is printed (`-v`, `-F`, `-N`, `--pretty`), shared by
//!   culex_sub and culex_rr.
//! - [`session`]: `ClientSession`, the sans-IO client state machine (message ids, QoS flows,
//!   keep-alive).
//! - [`client`]: `Client`, the tokio loop that drives a session over a socket.
//! - [`transport`], [`tcp`], [`tls`], [`ws`]: TCP / Unix / SOCKS5 streams, TCP socket options
//!   (keepalive, user timeout), rustls configuration, and MQTT over WebSockets (the adapter the
//!   broker shares).
//! - [`debug`]: Mosquitto's `-d` lines; [`error`], [`text`]: how failures are reported.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod args;
pub mod cli;
pub mod client;
pub mod debug;
pub mod error;
pub mod help;
pub mod options;
pub mod print;
pub mod rcfile;
pub mod session;
pub mod tcp;
pub mod text;
pub mod tls;
pub mod transport;
pub mod ws;

pub use client::{Client, Connected};
pub use error::{ClientError, ConnectError};
pub use options::{ConnectOptions, SetupError};
pub use session::{Event, Message};
