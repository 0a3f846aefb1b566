//! The culex broker as a library. The binary `culex` (`main.rs`) parses flags and the
//! configuration, opens the listeners, and calls [`run`]; tests call [`run`] on port 0.
//!
//! # Layout
//! Floors, each using only the floors below it (and its own); `lib.rs` wires them together.
//! ARCHITECTURE.md draws them; `xtask`'s tidy check fails on any import cycle.
//! - bottom, shared by everything above:
//!   - [`cli`]: Mosquitto's command-line flags.
//!   - [`config`]: `mosquitto.conf` syntax into a typed [`config::Config`].
//!   - [`mod@log`]: Mosquitto's log line format, `log_type` filtering, OS error text.
//!   - `trace`: the text of the `-v` packet and event lines.
//!   - [`security`]: `password_file` and `acl_file`.
//!   - [`notify`]: systemd's notifications (`READY=1`, `STATUS=`, the watchdog).
//!   - [`privileges`]: `user`, the switch away from root once the listeners are open.
//!   - `outbox`: the memory-bounded queue from the driver to one connection.
//!   - `headers`: PUBLISH headers encoded once per message and shared by its subscribers.
//!   - `event`: what a driver receives: `Event` (from connection and bridge tasks) and
//!     `DriverControl` (from here); `Shards`, every driver's channel.
//!   - `forward`: the channels between the drivers of the shards, with a byte credit per
//!     destination.
//! - streams: `transport`: the `Transport` trait a connection serves, and a listener's TLS
//!   and WebSocket handshakes; beneath it [`tls`] (rustls, usernames from client
//!   certificates) and `transport::ws` (the upgrade and the frames-to-bytes adapter; its
//!   request-head reader is public as [`http_head`]).
//! - tasks:
//!   - `connection`: one task per client: read, decode, encode, write, in batches; its
//!     `max_connections` slot.
//!   - `driver`: the task that owns one shard's `mqtt_core::Broker` (one per CPU, one with
//!     the journal on) and reads the clock; beneath it [`persist`] (the persistence file:
//!     loading at startup, the saver task, the gatherer of the shards' parts) and `bridge`
//!     (one task per `connection` section, between an internal connection of the core and a
//!     `culex-client` connection to the remote broker; its supervisor starts them and applies
//!     SIGHUP's changes).
//! - accept: [`listener`]: binding sockets, the accept loop, `max_connections`, handshakes
//!   handed to each connection's task; `http`: the `protocol http_api` listener (the HTTP
//!   API, its access control, `http_dir` files), which asks every driver shard through
//!   `event` and merges the answers (`http::asker`).
#![warn(missing_docs)]

pub mod alloc;
mod bridge;
mod ciphers;
pub mod cli;
pub mod config;
mod connection;
mod driver;
mod durability;
mod event;
mod forward;
mod headers;
mod http;
pub mod listener;
pub mod log;
pub mod metrics;
pub mod notify;
mod os;
mod outbox;
#[cfg(test)]
mod paused_clock_tests;
pub mod persist;
pub mod privileges;
pub mod security;
mod trace;
mod transport;

pub use crate::transport::tls;
/// The HTTP request head a WebSocket listener reads before the upgrade (for the fuzz target).
pub use crate::transport::ws::http as http_head;

use std::future::Future;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mqtt_codec::QoS;
use mqtt_core::snapshot::Snapshot;
use mqtt_core::{Broker, ConnId, ShardId, SharedLimits};
use tokio::sync::{mpsc, watch};

use crate::config::{Config, ListenerConfig, PersistenceSettings};
use crate::connection::{ConnectionCount, Shared};
use crate::driver::Driver;
use crate::event::{DriverControl, Shards};
use crate::forward::Forwards;
use crate::http::{ApiState, ListenerView};
use crate::listener::Listener;
use crate::log::Logger;
use crate::metrics::Metrics;
use crate::notify::Watchdog;
use crate::security::{PasswordChecker, Security};

/// Events waiting for one driver shard. Connection tasks wait when it is full, which slows down
/// whoever publishes faster than the broker routes (the bytes of their packets are bounded too,
/// by `event::PACKET_BUDGET`).
const EVENT_CAPACITY: usize = 1024;
/// How long shutdown waits for connection tasks to flush before aborting them.
const FLUSH_DEADLINE: Duration = Duration::from_secs(3);

/// Instructions to a running broker (from signal handlers, or tests).
#[derive(Debug)]
pub enum Control {
    /// Apply a re-read configuration (SIGHUP), bridges included. Listeners are not reopened.
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
    let core = core_config(&config, &security, &in_force);
    let metrics = Arc::new(Metrics::new(in_force.iter().map(metrics_label).collect()));
    let persistence = persist::settings(&config);
    let count = shard_count(config.routers);
    // With the journal, each shard keeps its own pair of files and its own writer
    // (`persist::journal`); this layout holds for the whole run, reloads included.
    let per_shard = persistence.as_ref().is_some_and(|settings| settings.journal);
    let shard_settings = |settings: Option<PersistenceSettings>, shard: usize| {
        settings.map(|mut settings| {
            if per_shard {
                settings.path = persist::journal::pair_path(&settings.path, shard);
            }
            settings
        })
    };
    let views = listener_views(&config, &in_force, &security, &listeners);
    // Each shard restores its part of the file, and counts its ids past all of it.
    let last_ids = restored.as_ref().map(Snapshot::last_ids);
    let mut parts = restored.map(|snapshot| snapshot.split(count)).unwrap_or_default().into_iter();
    let (driver_controls, controls_of): (Vec<_>, Vec<_>) =
        (0..count).map(|_| mpsc::unbounded_channel()).unzip();
    // Several shards save one file through the gatherer (`persist::shards`), or each its own
    // pair of files; either way it holds the last saves until every shard's wills are out.
    let (shard_saves, gatherer) = if count > 1 {
        let (saves, task) =
            persist::shards::spawn(driver_controls.clone(), !per_shard, Arc::clone(&logger));
        (saves, Some(task))
    } else {
        (Vec::new(), None)
    };
    let mut shard_saves = shard_saves.into_iter();
    let checker = PasswordChecker::new();
    // Broker-wide limits (`memory_limit`, `global_max_clients`) read every shard's counts.
    let limits = SharedLimits::new(count);
    let mut drivers = Vec::with_capacity(count);
    let mut senders = Vec::with_capacity(count);
    // systemd's watchdog hears from the broker once every shard checked in.
    let mut watchdogs = Watchdog::from_env(Instant::now(), count).unwrap_or_default().into_iter();
    let meshed = Forwards::mesh(count).into_iter().zip(controls_of).enumerate();
    for (index, (forwards, controls)) in meshed {
        let seed = random_seed().context("cannot read random bytes from the OS")?;
        let mut broker = Broker::new_shard(core.clone(), seed, ShardId { index, count });
        if let Some(last) = last_ids {
            broker.reserve_ids(last);
        }
        broker.share_limits(&limits);
        let (events, event_queue) = mpsc::channel(EVENT_CAPACITY);
        let settings = shard_settings(persistence.clone(), index);
        let journal = match settings.as_ref().filter(|settings| settings.journal) {
            Some(settings) => open_journal(settings, &logger),
            None => None,
        };
        let mut driver = Driver::new(
            broker,
            security.clone(),
            settings,
            parts.next(),
            journal,
            events.clone(),
            forwards,
            Arc::clone(&logger),
        )
        .with_checker(checker.share())
        .with_watchdog(watchdogs.next())
        .with_metrics(Arc::clone(&metrics));
        if let Some(saves) = shard_saves.next() {
            driver = driver.with_shard_saves(saves);
        }
        drivers.push(tokio::spawn(driver.run(event_queue, controls)));
        senders.push(events);
    }
    let shards = Shards::new(senders);
    let to_drivers = |control: &dyn Fn() -> DriverControl| {
        for driver in &driver_controls {
            let _ = driver.send(control());
        }
    };

    let (done, mut all_done) = mpsc::channel::<()>(1);
    let (abort, aborted) = watch::channel(false);
    let shared = Arc::new(Shared {
        shards: shards.clone(),
        core: Arc::new(core),
        logger: Arc::clone(&logger),
        max_packet_size: AtomicU32::new(config.max_packet_size),
        set_tcp_nodelay: AtomicBool::new(config.set_tcp_nodelay),
        connections: ConnectionCount::new(config.global_max_connections),
        next_conn: AtomicU64::new(1),
        _done: done,
        aborted,
    });
    let senders = (0..shards.count()).map(|shard| shards.get(shard).events.clone()).collect();
    let api = Arc::new(ApiState::new(senders, views, security.clone(), metrics));
    let (stop, stopped) = watch::channel(false);
    for listener in listeners {
        listener.spawn(Arc::clone(&shared), &api, stopped.clone())?;
    }
    drop(stopped);
    let mut bridges =
        bridge::Supervisor::new(config.max_inflight_messages, shards, Arc::clone(&logger));
    let next_conn = || ConnId(shared.next_conn.fetch_add(1, Ordering::Relaxed));
    bridges.apply(&config.bridges, next_conn);

    while let Some(control) = controls.recv().await {
        match control {
            Control::Reload(config) => {
                let Ok(security) = Security::load(&config, &in_force, &logger) else {
                    log!(logger, ERROR, "Error: keeping the previous settings.");
                    continue;
                };
                shared.max_packet_size.store(config.max_packet_size, Ordering::Relaxed);
                shared.set_tcp_nodelay.store(config.set_tcp_nodelay, Ordering::Relaxed);
                shared.connections.set_limit(config.global_max_connections);
                let core = core_config(&config, &security, &in_force);
                api.set_security(security.clone());
                // With several shards, the gatherer saves every shard's part in one file, or
                // each shard its own pair.
                let persistence = persist::settings(&config);
                for (shard, driver) in driver_controls.iter().enumerate() {
                    let core = Box::new(core.clone());
                    let settings = shard_settings(persistence.clone(), shard);
                    let _ = driver.send(DriverControl::Reload(core, security.clone(), settings));
                }
                // Mosquitto 2.1 reloads bridges last.
                bridges.apply(&config.bridges, next_conn);
            }
            Control::Save => to_drivers(&|| DriverControl::Save),
            Control::Shutdown => break,
        }
    }
    // Stop accepting first, then let the drivers close every connection and exit.
    let _ = stop.send(true);
    to_drivers(&|| DriverControl::Shutdown);
    for driver in drivers {
        let _ = driver.await;
    }
    // The last parts are in: the merged file is written.
    if let Some(gatherer) = gatherer {
        let _ = gatherer.await;
    }
    drop(shared);
    // Every connection task holds a `done` sender: when the last one ends, recv returns None.
    if tokio::time::timeout(FLUSH_DEADLINE, all_done.recv()).await.is_err() {
        // Clients that do not read get no more time.
        let _ = abort.send(true);
        let _ = tokio::time::timeout(FLUSH_DEADLINE, all_done.recv()).await;
    }
    Ok(())
}

/// Opens the journal of one shard's `settings` and starts its writer; `None` (logged) when it
/// cannot be opened. Mosquitto runs on when its persistence directory is unusable (each save
/// then fails with its own error line); so does culex, that shard without the journal.
fn open_journal(
    settings: &PersistenceSettings,
    logger: &Logger,
) -> Option<(culex_store::Writer, mpsc::UnboundedReceiver<culex_store::WriterReport>)> {
    match persist::journal::start_writer(settings) {
        Ok(journal) => Some(journal),
        Err(err) => {
            log!(
                logger,
                ERROR,
                "Error: Unable to open the journal {}.journal: {}; acknowledgements do not wait for the disk.",
                settings.path,
                culex_compat::strerror(&err)
            );
            None
        }
    }
}

/// A listener's `listener` label in the metrics: its socket path, or its port number.
fn metrics_label(listener: &ListenerConfig) -> String {
    listener.unix_socket.clone().unwrap_or_else(|| listener.port.to_string())
}

/// How many driver shards to run: one per CPU the process may use (which honours `taskset`
/// and cgroup quotas), at most [`ShardId::MAX`]. With the journal each shard keeps a pair of
/// files of its own (`persist::journal`); without it, persistence saves every shard's part in
/// one file.
pub(crate) fn shard_count(routers: Option<NonZeroU16>) -> usize {
    match routers {
        Some(count) => usize::from(count.get()).min(ShardId::MAX),
        None => std::thread::available_parallelism().map_or(1, usize::from).min(ShardId::MAX),
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
            protocol_versions: listener.accept_protocol_versions,
            max_topic_alias_broker: listener.max_topic_alias_broker,
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
        check_retain_source: config.check_retain_source,
        memory_limit: usize::try_from(config.memory_limit).unwrap_or(usize::MAX),
        upgrade_outgoing_qos: config.upgrade_outgoing_qos,
        // The logger applies `connection_messages`, so that SIGHUP changes it in one place.
        connection_messages: true,
        // `max_connections` and `global_max_connections` are enforced by the accept loops.
        max_connections: None,
        max_clients: config.global_max_clients.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        sys_interval: config.sys_interval,
        reason_strings: config.send_reason_strings,
        journal: config.persistence && config.persistence_journal,
        ..mqtt_core::Config::default()
    }
}

/// What the HTTP API shows of each listener in force: its bound port (or socket path), its
/// protocol and TLS settings and whether it lets anonymous clients in.
fn listener_views(
    config: &Config,
    in_force: &[ListenerConfig],
    security: &Security,
    bound: &[Listener],
) -> Vec<ListenerView> {
    use crate::config::Protocol;
    in_force
        .iter()
        .enumerate()
        .map(|(index, listener)| {
            let port = bound
                .iter()
                .filter(|socket| socket.index() == index)
                .find_map(|socket| socket.local_addr().ok())
                .map_or(listener.port, |addr| addr.port());
            let allow_anonymous = security.listeners.get(index).map_or_else(
                || config.security_for(listener).allow_anonymous,
                |own| own.options.allow_anonymous,
            );
            ListenerView {
                port: listener.unix_socket.is_none().then_some(port),
                path: listener.unix_socket.clone(),
                protocol: match listener.protocol {
                    Protocol::Mqtt => "mqtt",
                    Protocol::WebSockets => "websockets",
                    Protocol::HttpApi => "httpapi",
                },
                tls: listener.tls.enabled(),
                mtls: listener.tls.require_certificate,
                allow_anonymous,
            }
        })
        .collect()
}

/// A seed for the core's client-id generator (a ChaCha20 CSPRNG), from the OS's generator.
fn random_seed() -> Result<mqtt_core::IdSeed, getrandom::Error> {
    let mut seed = mqtt_core::IdSeed::default();
    getrandom::fill(&mut seed)?;
    Ok(seed)
}
