//! The culex broker as a library. The binary `culex` (`main.rs`) parses flags and the
//! configuration, opens the listeners, and calls [`run`]; tests call [`run`] on port 0.
//!
//! # Layout
//! - [`cli`]: Mosquitto's command-line flags.
//! - [`config`]: `mosquitto.conf` syntax into a typed [`config::Config`].
//! - [`mod@log`]: Mosquitto's log line format and `log_type` filtering.
//! - [`listener`]: binding sockets, the accept loop, `max_connections`.
//! - `connection`: one task per client: read, decode, encode, write, in batches.
//! - `bridge`: one task per `connection` section, between an internal connection of the core
//!   and a `culex-client` connection to the remote broker.
//! - `driver`: the one task that owns `mqtt_core::Broker` and reads the clock.
//! - `outbox`: the memory-bounded queue from the driver to one connection.
//! - `headers`: PUBLISH headers encoded once per message and shared by its subscribers.
//! - [`persist`]: the persistence file: loading at startup, the saver task.
//! - [`security`]: `password_file` and `acl_file`.
//! - [`tls`]: TLS listeners with rustls; usernames from client certificates.
//! - `trace`: the text of the `-v` packet and event lines.
//! - `transport`: TLS and WebSocket handshakes in front of a connection task.
//! - `ws`: MQTT over WebSockets: the upgrade and the frames-to-bytes adapter.
#![warn(missing_docs)]

mod bridge;
pub mod cli;
pub mod config;
mod connection;
mod driver;
mod headers;
pub mod listener;
pub mod log;
mod outbox;
#[cfg(test)]
mod paused_clock_tests;
pub mod persist;
pub mod security;
pub mod tls;
mod trace;
mod transport;
mod ws;

use std::future::Future;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use mqtt_codec::QoS;
use mqtt_core::snapshot::Snapshot;
use mqtt_core::{Broker, ConnId, PeerInfo};
use tokio::sync::{mpsc, watch};

use crate::config::{Config, ListenerConfig};
use crate::connection::{Connection, Shared};
use crate::driver::{Driver, DriverControl};
use crate::listener::{ConnectionSlot, Listener};
use crate::log::Logger;
use crate::security::Security;

/// Events waiting for the driver. Connection tasks wait when it is full, which slows down
/// whoever publishes faster than the broker routes.
const EVENT_CAPACITY: usize = 1024;
/// How long shutdown waits for connection tasks to flush before aborting them.
const FLUSH_DEADLINE: Duration = Duration::from_secs(3);

/// Instructions to a running broker (from signal handlers, or tests).
#[derive(Debug)]
pub enum Control {
    /// Apply a re-read configuration (SIGHUP). Listeners are not reopened.
    Reload(Box<Config>),
    /// Save the persistence file now (SIGUSR1); nothing when persistence is off.
    Save,
    /// Stop accepting, close every connection (publishing wills), flush, return.
    Shutdown,
}

/// Runs the broker on already-bound `listeners` until `shutdown` completes, reading the
/// security files and the persistence file the configuration names.
///
/// # Errors
/// When a security file or the persistence file cannot be used, or a listening socket cannot
/// be handed to the runtime.
pub async fn run(
    listeners: Vec<Listener>,
    config: Config,
    logger: Arc<Logger>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let security = Security::load(&config, config.listeners_in_force(), &logger)?;
    let restored = persist::load(&config, &logger)?;
    let (control, controls) = mpsc::unbounded_channel();
    let serve = run_controlled(listeners, config, security, restored, logger, controls);
    tokio::pin!(serve);
    tokio::select! {
        result = &mut serve => return result,
        () = shutdown => {}
    }
    let _ = control.send(Control::Shutdown);
    serve.await
}

/// Runs the broker until a [`Control::Shutdown`] arrives or every sender is dropped.
/// `security` holds the files `config` names for its listeners in force, already loaded (see
/// [`Security::load`]); a reload re-reads them for the same listeners, keeping the old ones if
/// the new ones cannot be used. `restored` is the persistence file's content (see
/// [`persist::load`]), put back before the first connection.
///
/// # Errors
/// When a listening socket cannot be handed to the runtime.
pub async fn run_controlled(
    listeners: Vec<Listener>,
    config: Config,
    security: Security,
    restored: Option<Snapshot>,
    logger: Arc<Logger>,
    mut controls: mpsc::UnboundedReceiver<Control>,
) -> anyhow::Result<()> {
    // Listeners are not reloaded: a reload re-reads the security of the same ones.
    let in_force: Vec<ListenerConfig> = config.listeners_in_force().into_iter().cloned().collect();
    let broker = Broker::new(core_config(&config, &security, &in_force), random_seed());
    let (events, event_queue) = mpsc::channel(EVENT_CAPACITY);
    let (driver_control, driver_controls) = mpsc::unbounded_channel();
    let persistence = persist::Settings::of(&config);
    let driver =
        Driver::new(broker, security, persistence, restored, events.clone(), Arc::clone(&logger));
    let driver = tokio::spawn(driver.run(event_queue, driver_controls));

    let (done, mut all_done) = mpsc::channel::<()>(1);
    let (abort, aborted) = watch::channel(false);
    let shared = Arc::new(Shared {
        events,
        logger: Arc::clone(&logger),
        max_packet_size: AtomicU32::new(config.max_packet_size),
        set_tcp_nodelay: AtomicBool::new(config.set_tcp_nodelay),
        next_conn: AtomicU64::new(1),
        _done: done,
        aborted,
    });
    let (stop, stopped) = watch::channel(false);
    for listener in listeners {
        let tcp = tokio::net::TcpListener::from_std(listener.socket)?;
        tokio::spawn(accept_loop(
            tcp,
            listener.upgrades,
            listener.settings,
            listener.index,
            listener.open,
            Arc::clone(&shared),
            stopped.clone(),
        ));
    }
    drop(stopped);
    for bridge in config.bridges.iter().cloned() {
        let conn = ConnId(shared.next_conn.fetch_add(1, Ordering::Relaxed));
        bridge::spawn(bridge, conn, shared.events.clone(), Arc::clone(&logger));
    }

    while let Some(control) = controls.recv().await {
        match control {
            Control::Reload(config) => {
                let Ok(security) = Security::load(&config, &in_force, &logger) else {
                    log!(logger, ERROR, "Error: keeping the previous settings.");
                    continue;
                };
                shared.max_packet_size.store(config.max_packet_size, Ordering::Relaxed);
                shared.set_tcp_nodelay.store(config.set_tcp_nodelay, Ordering::Relaxed);
                let core = Box::new(core_config(&config, &security, &in_force));
                let persistence = persist::Settings::of(&config);
                let _ = driver_control.send(DriverControl::Reload(core, security, persistence));
            }
            Control::Save => {
                let _ = driver_control.send(DriverControl::Save);
            }
            Control::Shutdown => break,
        }
    }
    // Stop accepting first, then let the driver close every connection and exit.
    let _ = stop.send(true);
    let _ = driver_control.send(DriverControl::Shutdown);
    let _ = driver.await;
    drop(shared);
    // Every connection task holds a `done` sender: when the last one ends, recv returns None.
    if tokio::time::timeout(FLUSH_DEADLINE, all_done.recv()).await.is_err() {
        // Clients that do not read get no more time.
        let _ = abort.send(true);
        let _ = tokio::time::timeout(FLUSH_DEADLINE, all_done.recv()).await;
    }
    Ok(())
}

/// Accepts connections until `stop` flips, spawning one task per connection.
async fn accept_loop(
    tcp: tokio::net::TcpListener,
    upgrades: Option<Arc<transport::Upgrades>>,
    settings: ListenerConfig,
    index: usize,
    open: Arc<AtomicUsize>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let port = tcp.local_addr().map_or(settings.port, |addr| addr.port());
    loop {
        let accepted = tokio::select! {
            accepted = tcp.accept() => accepted,
            _ = stop.changed() => return,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                log!(
                    shared.logger,
                    ERROR,
                    "Error: accepting a connection: {}",
                    listener::io_error_text(&err)
                );
                // Out of file descriptors and similar: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ip = match addr.ip() {
            std::net::IpAddr::V6(v6) => {
                v6.to_ipv4_mapped().map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4)
            }
            v4 => v4,
        };
        let Some(slot) = ConnectionSlot::acquire(&open, settings.max_connections) else {
            trace::max_connections(&shared.logger, &ip.to_string());
            continue;
        };
        let peer = PeerInfo {
            address: ip.to_string(),
            port: addr.port(),
            listener: index,
            certificate_username: None,
        };
        trace::new_connection(&shared.logger, &peer, port);
        if shared.set_tcp_nodelay.load(Ordering::Relaxed) {
            let _ = stream.set_nodelay(true);
        }
        let conn = ConnId(shared.next_conn.fetch_add(1, Ordering::Relaxed));
        if let Some(upgrades) = &upgrades {
            // TLS and WebSocket handshakes run in the connection's task, not here.
            let shared = Arc::clone(&shared);
            tokio::spawn(transport::serve(stream, Arc::clone(upgrades), conn, peer, shared, slot));
            continue;
        }
        let (mut connection, open) = Connection::new(stream, conn, peer, Arc::clone(&shared), slot);
        // The driver learns of the connection before any of its packets. Waiting here when
        // its queue is full also slows accepting down to what the driver can take.
        if shared.events.send(open).await.is_err() {
            return; // the driver has stopped
        }
        tokio::spawn(async move { connection.run().await });
    }
}

/// The core's settings for a configuration, with one security entry per listener and the
/// options of the listeners opened at startup (`in_force`; listeners are not reloaded).
fn core_config(
    config: &Config,
    security: &Security,
    in_force: &[ListenerConfig],
) -> mqtt_core::Config {
    let listener_options = in_force
        .iter()
        .map(|listener| mqtt_core::ListenerOptions {
            max_qos: QoS::from_u8(listener.max_qos).unwrap_or(QoS::ExactlyOnce),
            use_username_as_clientid: listener.use_username_as_clientid,
            mount_point: listener.mount_point.clone(),
        })
        .collect();
    let listener_security = security
        .listeners
        .iter()
        .map(|listener| mqtt_core::ListenerSecurity {
            allow_anonymous: listener.options.allow_anonymous,
            password_file: listener.passwords.is_some(),
            allow_zero_length_clientid: listener.options.allow_zero_length_clientid,
            auto_id_prefix: listener.options.auto_id_prefix.clone(),
        })
        .collect();
    mqtt_core::Config {
        max_inflight_messages: config.max_inflight_messages,
        max_queued_messages: usize::try_from(config.max_queued_messages).unwrap_or(usize::MAX),
        max_queued_bytes: usize::try_from(config.max_queued_bytes).unwrap_or(usize::MAX),
        max_inflight_bytes: usize::try_from(config.max_inflight_bytes).unwrap_or(usize::MAX),
        message_size_limit: config.message_size_limit,
        max_packet_size: config.max_packet_size,
        max_keepalive: config.max_keepalive,
        max_topic_alias: config.max_topic_alias,
        persistent_client_expiration: config.persistent_client_expiration,
        // A connection always comes through a listener with an entry; nothing else may in.
        security: mqtt_core::ListenerSecurity {
            allow_anonymous: false,
            ..mqtt_core::ListenerSecurity::default()
        },
        listener_security,
        listener_options,
        queue_qos0_messages: config.queue_qos0_messages,
        allow_duplicate_messages: config.allow_duplicate_messages,
        clientid_prefixes: config.clientid_prefixes.clone(),
        retain_available: config.retain_available,
        upgrade_outgoing_qos: config.upgrade_outgoing_qos,
        // The logger applies `connection_messages`, so that SIGHUP changes it in one place.
        connection_messages: true,
        // `max_connections` is per listener and enforced by the accept loop.
        max_connections: None,
        sys_interval: config.sys_interval,
        ..mqtt_core::Config::default()
    }
}

/// A seed for the core's client-id generator, from the OS-seeded hasher keys.
fn random_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish()
}
