//! The driver: the task that owns one shard's `mqtt_core::Broker` (one driver per shard) and
//! reads the clock. It drains its event channel in batches, feeds the core, hands what the
//! core forwards to other shards to `forward` (sent at the end of each step) and what they
//! forward to the core, and routes the core's outputs to per-connection outboxes (bounded by a memory budget: a slow client fills its own
//! queue, never the driver's memory). What one event sends to a connection is encoded into a
//! batch of the driver's own and handed to the outbox under one lock, which wakes the
//! connection's task once: at the end of the event with one shard, at the end of the step with
//! several, after the step's forwards went out (`hand_over`). With
//! persistence on, it also takes the snapshots (at shutdown, on SIGUSR1, at each autosave)
//! and hands them to the saver task, or with the journal to its own shard's journal writer.
//! It counts for the metrics in a [`Tally`] of its own and times the batches of events it
//! handles; [`FLUSH_INTERVAL`] after a step that may have
//! changed them, it flushes the tally and copies the core's counters into the shared
//! [`Metrics`] (so a busy driver does it ten times a second, not once per message, and an
//! idle one not at all).

mod entry;

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use mqtt_codec::{DecodeError, Packet, QoS, ReasonCode};
use mqtt_core::auth::PasswordFile;
use mqtt_core::snapshot::Snapshot;
use mqtt_core::{AccessControl, Broker, CloseCause, ConnId, ConnMap, LogEvent, Output, WallClock};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use culex_store::{Writer, WriterReport};

use crate::config::{LogTypes, PersistenceSettings};
use crate::durability::{Durability, Held};
use crate::event::{DriverControl, Event, Query};
use crate::forward::{Backlog, Batch as Forwarded, Forwards};
use crate::headers::Headers;
use crate::log;
use crate::log::Logger;
use crate::metrics::{FLUSH_INTERVAL, Metrics, Tally};
use crate::notify::Watchdog;
use crate::outbox::{Batch, Refused, SHARED_PAYLOAD_MIN};
use crate::persist::Saver;
use crate::persist::shards::ShardSaves;
use crate::security::{PasswordChecker, Security};
use crate::trace;
use entry::Connection;

/// The driver task's state.
pub(crate) struct Driver {
    broker: Broker,
    /// Each listener's password file (indexed like `PeerInfo::listener`), checked away from
    /// this task.
    passwords: Vec<Option<Arc<PasswordFile>>>,
    checker: PasswordChecker,
    /// Where finished password checks are reported (the driver's own event channel).
    events: mpsc::Sender<Event>,
    connections: ConnMap<Connection>,
    /// Password checks of CONNECTs, while they run or wait for the pool: abandoned when the
    /// connection goes first, so a client that gave up costs no hashing.
    checks: ConnMap<AbortHandle>,
    /// Peer addresses of connections whose CONNECT is not accepted yet, for log lines before
    /// the client has an id (the core forgets a refused connection before its CONNACK is
    /// routed). Accepted clients' addresses are the core's.
    unaccepted: ConnMap<Box<str>>,
    logger: Arc<Logger>,
    /// Connections to report closed once the current output drain is done.
    overflowed: Vec<ConnId>,
    /// The `Received PUBLISH` line of the PUBLISH being handled, logged before the first
    /// output it causes unless the core dropped the message (see [`trace::received_publish`]).
    received_publish: Option<String>,
    /// Persistence state; `None` while persistence is off.
    persistence: Option<Persistence>,
    /// The journal (`persistence_journal true`): records, held acknowledgements, checkpoints.
    durability: Option<Durability<Writer>>,
    /// The journal writer's reports, until `run` takes them.
    journal_reports: Option<mpsc::UnboundedReceiver<WriterReport>>,
    /// The file's contents, restored when the driver starts.
    restored: Option<Snapshot>,
    /// With several shards: saves go through the gatherer, which merges every shard's part.
    shard_saves: Option<ShardSaves>,
    /// PUBLISH headers for payloads queued by reference, shared between subscribers.
    headers: Headers,
    /// Connections with staged packets and their batches, handed to their outboxes (which
    /// wakes their tasks) once the current event is handled, so that each task takes
    /// everything the event produced in one write.
    staged: Vec<(ConnId, Batch)>,
    /// Buffers of flushed batches, for the next batches to encode into.
    spare: Vec<BytesMut>,
    /// Bridges' local connections: their packets go to the bridge task (`None` once the core
    /// closed it). Their connect and disconnect lines are not logged, as in Mosquitto.
    bridges: ConnMap<Option<mpsc::UnboundedSender<Packet>>>,
    /// systemd's watchdog, when the service has one (`WatchdogSec`).
    watchdog: Option<Watchdog>,
    /// The Prometheus metrics, shared with whoever scrapes them.
    metrics: Arc<Metrics>,
    /// What was counted for `metrics` since the last flush.
    tally: Tally,
    /// When `tally` and the core's counters are next flushed into `metrics`; `None` while
    /// nothing changed since the last flush.
    flush_due: Option<Instant>,
    /// When the counts that walk the message store are next copied into `metrics`.
    next_store_metrics: Instant,
    /// The channels to and from the other shards' drivers.
    forwards: Forwards,
}

/// What the driver keeps while persistence is on.
struct Persistence {
    settings: PersistenceSettings,
    /// Started with the first save.
    saver: Option<Saver>,
    /// [`Broker::changes`] at the last save (`autosave_on_changes`).
    saved_changes: u64,
    /// When the next timed autosave is due.
    next_autosave: Option<Instant>,
}

impl Persistence {
    fn new(settings: PersistenceSettings, changes: u64, now: Instant) -> Self {
        let mut persistence =
            Self { settings, saver: None, saved_changes: changes, next_autosave: None };
        persistence.rearm(changes, now);
        persistence
    }

    /// Counts the next autosave from a save (or the start) at `now`.
    fn rearm(&mut self, changes: u64, now: Instant) {
        self.saved_changes = changes;
        let interval = self.settings.autosave_interval;
        self.next_autosave = (interval > 0 && !self.settings.on_changes)
            .then(|| now + std::time::Duration::from_secs(u64::from(interval)));
    }

    /// Whether an autosave is due at `now` with the broker's change count at `changes`.
    fn due(&self, changes: u64, now: Instant) -> bool {
        let interval = self.settings.autosave_interval;
        if self.settings.on_changes {
            interval > 0 && changes.saturating_sub(self.saved_changes) >= u64::from(interval)
        } else {
            self.next_autosave.is_some_and(|at| at <= now)
        }
    }
}

impl Driver {
    /// A driver for `broker` (one shard of the broker, which `forwards` connects to the
    /// others); with `persistence`, it restores `restored` when it starts and saves as the
    /// settings say.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is one part of the driver, wired by lib.rs"
    )]
    pub(crate) fn new(
        broker: Broker,
        security: Security,
        persistence: Option<PersistenceSettings>,
        restored: Option<Snapshot>,
        journal: Option<(Writer, mpsc::UnboundedReceiver<WriterReport>)>,
        events: mpsc::Sender<Event>,
        forwards: Forwards,
        logger: Arc<Logger>,
    ) -> Self {
        let start = now();
        let changes = broker.changes();
        let (durability, journal_reports) = match journal {
            Some((writer, reports)) => (Some(Durability::new(writer)), Some(reports)),
            None => (None, None),
        };
        let mut driver = Self {
            broker,
            passwords: Vec::new(),
            checker: PasswordChecker::new(),
            events,
            connections: ConnMap::default(),
            checks: ConnMap::default(),
            unaccepted: ConnMap::default(),
            logger,
            overflowed: Vec::new(),
            received_publish: None,
            persistence: persistence.map(|settings| Persistence::new(settings, changes, start)),
            durability,
            journal_reports,
            restored,
            shard_saves: None,
            headers: Headers::default(),
            staged: Vec::new(),
            spare: Vec::new(),
            bridges: ConnMap::default(),
            watchdog: None,
            metrics: Arc::new(Metrics::new(Vec::new())),
            tally: Tally::default(),
            flush_due: None,
            next_store_metrics: start,
            forwards,
        };
        driver.set_security(security);
        driver
    }

    /// Checks in with systemd's watchdog as one of the shards (see [`Watchdog`]).
    pub(crate) fn with_watchdog(mut self, watchdog: Option<Watchdog>) -> Self {
        self.watchdog = watchdog;
        self
    }

    /// Runs its password checks in `checker`'s pool, shared with the other shards' drivers
    /// (one pool per CPU for the whole broker, and a password proven right on one shard
    /// skips the pool on every shard).
    pub(crate) fn with_checker(mut self, checker: PasswordChecker) -> Self {
        self.checker = checker;
        self
    }

    /// Counts into `metrics` (instead of metrics of its own, which nothing reads).
    pub(crate) fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Saves through `saves` (a sharded broker: see `persist::shards`).
    pub(crate) fn with_shard_saves(mut self, saves: ShardSaves) -> Self {
        self.shard_saves = Some(saves);
        self
    }

    fn set_security(&mut self, security: Security) {
        self.checker.reloaded();
        self.passwords =
            security.listeners.iter().map(|listener| listener.passwords.clone()).collect();
        let acls = security
            .listeners
            .into_iter()
            .map(|listener| listener.acl.map(|acl| acl as Arc<dyn AccessControl>))
            .collect();
        self.broker.set_listener_access_control(acls);
    }

    /// Runs until `DriverControl::Shutdown` (or every control sender is gone), then closes every
    /// connection and returns once the outputs are routed.
    pub(crate) async fn run(
        mut self,
        mut events: mpsc::Receiver<Event>,
        mut control: mpsc::UnboundedReceiver<DriverControl>,
    ) {
        let mut batch = Vec::with_capacity(256);
        // Message expiry is stored as Unix time: one reading, then the monotonic clock.
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        self.broker.set_wall_clock(WallClock { at: now(), since_epoch });
        if let Some(snapshot) = self.restored.take() {
            self.broker.restore(snapshot, now());
            let changes = self.durable_changes();
            if let Some(persistence) = &mut self.persistence {
                persistence.saved_changes = changes;
            }
        }
        self.broker.start_sys(&crate::cli::version(), now());
        let mut journal_reports = self.journal_reports.take();
        let mut forwarded = self.forwards.take_input();
        // Messages go only to the shards that subscribe: each learns the others' restored
        // subscriptions before it takes a client event.
        self.drain_outputs();
        for batch in self.forwards.exchange_at_start(forwarded.as_mut()).await {
            self.handle_forwarded(batch);
        }
        // `log_dest topic` lines are published by shard 0 (the core forwards them).
        let mut log_lines = (self.broker.shard().index == 0).then(|| self.logger.topic_lines());
        loop {
            // A destination shard too far behind: no client events until it catches up.
            let backlogged = self.forwards.backlogged();
            // Set when this step handles a batch of events, whose time it measures.
            let mut batch_started = None;
            let autosave = self.persistence.as_ref().and_then(|p| p.next_autosave);
            let journal = self.durability.as_ref().and_then(Durability::deadline);
            let watchdog = self.watchdog.as_ref().map(Watchdog::deadline);
            // The earliest of the core's timers, the next $SYS update, the next autosave, the
            // journal's records that nothing waits for, systemd's watchdog and the metrics'
            // next flush.
            let deadline = [
                self.broker.poll_timeout(),
                self.broker.sys_deadline(),
                autosave,
                journal,
                watchdog,
                self.flush_due,
            ]
            .into_iter()
            .flatten()
            .min();
            tokio::select! {
                biased;
                instruction = control.recv() => match instruction {
                    Some(DriverControl::Reload(config, security, persistence)) => {
                        self.broker.set_config(*config);
                        self.set_security(security);
                        self.reload_persistence(persistence);
                    }
                    Some(DriverControl::Save) => self.save(now()),
                    Some(DriverControl::Snapshot(reply) | DriverControl::LastPart(reply)) => {
                        let _ = reply.send(self.broker.snapshot(now()));
                    }
                    Some(DriverControl::Shutdown) | None => break,
                },
                Some(batch) = or_pending(forwarded.as_mut().map(mpsc::UnboundedReceiver::recv)) => self.handle_forwarded(batch),
                () = drained(backlogged.as_deref()), if backlogged.is_some() => {}
                received = events.recv_many(&mut batch, 256), if backlogged.is_none() => {
                    if received == 0 {
                        break;
                    }
                    let now = now();
                    batch_started = Some(now);
                    for event in batch.drain(..) {
                        self.apply(event, now);
                        // One router wakes the connections each event wrote to at once.
                        // Several wait for the end of the step (`hand_over`, forwards
                        // first): one send to each other driver per step, not per event.
                        if !self.forwards.has_peers() {
                            self.wake_tasks();
                        }
                    }
                    self.due_timers(now);
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    let now = now();
                    self.broker.handle_timeout(now);
                    self.broker.update_sys(now);
                }
                Some(report) = or_pending(journal_reports.as_mut().map(mpsc::UnboundedReceiver::recv)) => self.journal_report(report),
                Some((topic, line)) = or_pending(log_lines.as_mut().map(mpsc::Receiver::recv)) => self.publish_log(topic, line),
            }
            self.drain_outputs();
            if self.persistence.is_some() {
                let now = now();
                let changes = self.durable_changes();
                if self.decides_saves()
                    && self.persistence.as_ref().is_some_and(|p| p.due(changes, now))
                {
                    self.save(now);
                }
            }
            if let Some(durability) = &mut self.durability {
                // Group commit: what this step recorded goes to the writer at once.
                durability.end_of_step(now());
                if durability.since_checkpoint() > CHECKPOINT_AFTER_BYTES {
                    self.save(now());
                }
            }
            self.hand_over();
            self.update_metrics(batch_started);
            // A driver stuck in a step stops pinging, and systemd restarts the broker.
            if let Some(watchdog) = &mut self.watchdog {
                watchdog.ping_if_due(now());
            }
        }
        self.broker.shutdown(now());
        self.drain_outputs();
        // The wills go to the shards still running; a stopped one drops them.
        self.hand_over();
        // Mosquitto saves after the wills went out, so their retained messages are kept: with
        // several shards, after every shard's wills are out and handled here.
        if let Some(saves) = self.shard_saves.take() {
            let path = self.persistence.as_ref().map(|p| p.settings.path.clone());
            let (waits, merges) = (path.is_some(), saves.merges());
            saves.wills_out(path);
            if waits {
                let reply = self.hand_last_part(forwarded.as_mut(), &mut control).await;
                if merges {
                    if let Some(reply) = reply {
                        let _ = reply.send(self.broker.snapshot(now()));
                    }
                    self.persistence = None;
                }
            }
        }
        if let Some(mut durability) = self.durability.take() {
            // The last checkpoint, after the wills; then the writer syncs and stops. Held
            // packets are not sent: their connections are closing.
            durability.checkpoint(self.broker.snapshot(now()));
            let writer = durability.into_writer();
            let _ = tokio::task::spawn_blocking(move || writer.finish()).await;
            self.persistence = None;
        }
        if let Some(persistence) = self.persistence.take() {
            let last = self.broker.snapshot(now());
            let saver = persistence.saver.unwrap_or_else(|| Saver::spawn(Arc::clone(&self.logger)));
            saver.finish(Some((persistence.settings.path, last))).await;
        }
        // Dropping the outboxes lets every connection task flush what it has and close.
        self.connections.clear();
        self.unaccepted.clear();
    }

    /// At shutdown with several shards and persistence on, once this shard's wills are out:
    /// handles what the other shards forward (their wills, messages they routed before they
    /// stopped) until the gatherer asks for the last part, which it does once every shard's
    /// wills are out; everything forwarded until then is handled first. Returns where the
    /// part goes (`None` when the gatherer is gone); the caller takes it, or with the journal
    /// writes its own last checkpoint.
    async fn hand_last_part(
        &mut self,
        mut forwarded: Option<&mut mpsc::UnboundedReceiver<Forwarded>>,
        control: &mut mpsc::UnboundedReceiver<DriverControl>,
    ) -> Option<oneshot::Sender<Snapshot>> {
        loop {
            tokio::select! {
                biased;
                Some(batch) = or_pending(forwarded.as_mut().map(|f| f.recv())) => self.handle_forwarded(batch),
                instruction = control.recv() => match instruction {
                    Some(DriverControl::LastPart(reply)) => {
                        while let Some(batch) = forwarded.as_mut().and_then(|f| f.try_recv().ok()) {
                            self.handle_forwarded(batch);
                        }
                        return Some(reply);
                    }
                    Some(DriverControl::Snapshot(reply)) => {
                        let _ = reply.send(self.broker.snapshot(now()));
                    }
                    Some(_) => {}
                    None => return None,
                },
            }
            self.drain_outputs();
            self.hand_over();
        }
    }

    /// Runs the core's timers and the `$SYS` update if they are due. Under constant load the
    /// (biased) timer branch of `run` would never be polled: the branches that handle events
    /// and forwards run due timers too, so keep-alives and wills stay on time.
    fn due_timers(&mut self, now: Instant) {
        if self.broker.poll_timeout().is_some_and(|deadline| deadline <= now) {
            self.broker.handle_timeout(now);
        }
        if self.broker.sys_deadline().is_some_and(|deadline| deadline <= now) {
            self.broker.update_sys(now);
        }
    }

    /// Hands what another shard forwarded to the core, in order; the batch's credit goes
    /// back to its sender when it is dropped, once handled.
    fn handle_forwarded(&mut self, batch: Forwarded) {
        let now = now();
        for item in batch.items {
            self.broker.handle_forward(item, now);
            self.drain_outputs();
        }
        self.due_timers(now);
    }

    /// At the end of a step: records how long its batch of events took, if it had one. The
    /// first step after a flush arms the next one, [`FLUSH_INTERVAL`] later; a step at or
    /// after that time flushes the tally and adds what the core's counters moved by to the
    /// metrics (which other driver shards add to as well), and the store's counts (which walk
    /// every message) once a second at most: while they wait, flushes go on, so an idle driver
    /// stops only once they are copied.
    fn update_metrics(&mut self, batch_started: Option<Instant>) {
        let now = now();
        if let Some(started) = batch_started {
            self.tally.driver_step(now.saturating_duration_since(started));
        }
        let Some(due) = self.flush_due else {
            self.flush_due = Some(now + FLUSH_INTERVAL);
            return;
        };
        if now < due {
            return;
        }
        self.metrics.add(&mut self.tally);
        self.metrics.mirror(&self.broker, &mut self.tally);
        if now >= self.next_store_metrics {
            self.metrics.mirror_store(&self.broker, &mut self.tally);
            self.next_store_metrics = now + std::time::Duration::from_secs(1);
            self.flush_due = None;
        } else {
            self.flush_due = Some((now + FLUSH_INTERVAL).min(self.next_store_metrics));
        }
    }

    /// `log_dest topic`: publishes a log line on `topic`, at QoS 2 and not retained.
    fn publish_log(&mut self, topic: &str, line: String) {
        if let Ok(topic) = mqtt_codec::TopicName::new(topic) {
            let mut publish = mqtt_codec::Publish::new(topic, line.into());
            publish.qos = QoS::ExactlyOnce;
            self.broker.publish(publish, now());
        }
    }

    /// Takes a snapshot and hands it to the saver, or to the journal writer as a checkpoint
    /// (persistence on only).
    fn save(&mut self, now: Instant) {
        if !self.decides_saves() {
            return;
        }
        let changes = self.durable_changes();
        let Some(persistence) = &mut self.persistence else { return };
        let snapshot = self.broker.snapshot(now);
        if let Some(durability) = &mut self.durability {
            log!(
                self.logger,
                INFORMATION,
                "Saving in-memory database to {}.",
                persistence.settings.path
            );
            durability.checkpoint(snapshot);
            persistence.rearm(changes, now);
            return;
        }
        if let Some(saves) = self.shard_saves.as_ref().filter(|saves| saves.merges()) {
            saves.save(persistence.settings.path.clone(), snapshot);
            persistence.rearm(changes, now);
            return;
        }
        let logger = &self.logger;
        let saver = persistence.saver.get_or_insert_with(|| Saver::spawn(Arc::clone(logger)));
        saver.request(persistence.settings.path.clone(), snapshot);
        persistence.rearm(changes, now);
    }

    /// Whether this driver decides when to save: the only one, shard 0 of several saving one
    /// file (the others hand their parts when asked), or each shard with the journal.
    fn decides_saves(&self) -> bool {
        self.shard_saves.as_ref().is_none_or(ShardSaves::decides)
    }

    /// The durable changes that `autosave_on_changes` counts: this core's, or with several
    /// shards saving one file every shard's (this one's added first).
    fn durable_changes(&mut self) -> u64 {
        let own = self.broker.changes();
        self.shard_saves.as_mut().map_or(own, |saves| saves.count(own))
    }

    /// SIGHUP: new persistence options apply from now on (the file is not re-read).
    fn reload_persistence(&mut self, settings: Option<PersistenceSettings>) {
        let now = now();
        let changes = self.durable_changes();
        match (&mut self.persistence, settings) {
            (Some(persistence), Some(settings)) => {
                if persistence.settings != settings {
                    persistence.settings = settings;
                    persistence.rearm(changes, now);
                }
            }
            (persistence @ None, Some(settings)) => {
                *persistence = Some(Persistence::new(settings, changes, now));
            }
            (persistence, None) => {
                // A save already requested still completes in the background.
                *persistence = None;
            }
        }
    }

    fn apply(&mut self, event: Event, now: Instant) {
        match event {
            Event::Open { conn, peer, mut outbox, opened } => {
                outbox.limit_qos0(self.broker.config().max_queued_bytes);
                self.unaccepted.insert(conn, peer.address.as_str().into());
                self.connections.insert(conn, Connection::new(outbox));
                // The connection timeout counts from the accept, before the first packet.
                self.broker.handle_open(conn, peer, opened.min(now));
            }
            Event::Packets { conn, packets, bytes, credit } => {
                self.broker.count_bytes(bytes as u64, 0);
                for packet in packets {
                    if let Packet::Publish(publish) = &packet {
                        self.tally.publish_in(publish.qos);
                    }
                    if let Packet::Connect(connect) = &packet {
                        if let Some(connection) = self.connections.get_mut(&conn) {
                            connection.set_protocol(connect.protocol);
                        }
                    } else if self.logger.enabled(LogTypes::DEBUG) {
                        // Mosquitto traces packets only from accepted clients.
                        if let Some(id) = self.broker.client_id(conn) {
                            let options = self.broker.listener_options_of(conn);
                            if let Packet::Publish(publish) = &packet {
                                let mount = options.mount_point.as_deref();
                                let line = trace::received_publish(id, publish, mount);
                                self.received_publish = Some(line);
                            } else {
                                trace::received(&self.logger, id, &packet, options.max_qos);
                            }
                        }
                    }
                    self.broker.handle_packet(conn, packet, now);
                    // Route now, not after the batch: trace lines name the client as it is
                    // at this point (a later packet of the batch may close the connection).
                    self.drain_outputs();
                }
                // Handled: their bytes may go to the next connection waiting for credit.
                drop(credit);
            }
            Event::DecodeError { conn, packet, error } => {
                let peer = self.peer_address(conn).unwrap_or_default();
                let reason = report_decode_error(&error, &peer, &self.logger);
                self.broker.handle_decode_error(conn, packet, reason, now);
            }
            Event::Bridge { conn, peer, to_bridge } => {
                self.bridges.insert(conn, Some(to_bridge));
                self.broker.handle_open(conn, peer, now);
            }
            Event::AuthResult { conn, allowed } => {
                self.checks.remove(&conn);
                self.broker.handle_auth_result(conn, allowed, now)
            }
            Event::Closed { conn, cause } => {
                self.broker.handle_closed(conn, cause, now);
                // The task has ended or stopped reading: dropping the outbox ends it.
                self.forget(conn);
            }
            Event::Query(query) => self.answer(query, now),
        }
    }

    /// Answers the HTTP API from the core (an asker that went away gets nothing).
    fn answer(&mut self, query: Query, now: Instant) {
        let broker = &mut self.broker;
        match query {
            Query::SysValues(reply) => {
                let _ = reply.send(broker.sys_values(now));
            }
            Query::Clients { search, page, reply } => {
                let _ = reply.send(broker.clients(search.as_deref(), page, now));
            }
            Query::Client { id, reply } => {
                let _ = reply.send(broker.client(&id, now));
            }
            Query::Subscriptions { prefix, page, reply } => {
                let _ = reply.send(broker.subscriptions(prefix.as_deref(), page));
            }
            Query::Retained { prefix, page, reply } => {
                let _ = reply.send(broker.retained_messages(prefix.as_deref(), page, now));
            }
            Query::Sessions { page, reply } => {
                let _ = reply.send(broker.offline_sessions(page, now));
            }
            Query::Disconnect { id, reply } => {
                let _ = reply.send(broker.disconnect_client(&id, now));
            }
        }
    }

    /// Routes every pending output of the core.
    fn drain_outputs(&mut self) {
        loop {
            while let Some(output) = self.broker.poll_output() {
                self.route(output);
            }
            if self.overflowed.is_empty() {
                break;
            }
            let now = now();
            for conn in std::mem::take(&mut self.overflowed) {
                self.forget(conn);
                self.broker.handle_closed(
                    conn,
                    CloseCause::Io("outgoing queue full, client not reading".to_owned()),
                    now,
                );
            }
        }
        // A PUBLISH that caused no output at all (QoS 0, nobody subscribed).
        if let Some(line) = self.received_publish.take() {
            log!(self.logger, DEBUG, "{line}");
        }
    }

    fn route(&mut self, output: Output) {
        if let Some(line) = self.received_publish.take() {
            let dropped = matches!(
                &output,
                Output::Log(LogEvent::PublishDropped { .. } | LogEvent::QosTooHigh { .. })
            );
            if !dropped {
                log!(self.logger, DEBUG, "{line}");
            }
        }
        if let Output::Close { reason, .. } = &output {
            self.tally.closed(reason);
        }
        match output {
            // Without a journal the packet is not moved again.
            Output::Send { conn, packet } => match &mut self.durability {
                Some(durability) => {
                    if let Some(packet) = durability.send_or_hold(conn, packet) {
                        self.send(conn, &packet);
                    }
                }
                None => self.send(conn, &packet),
            },
            Output::Journal(change) => {
                if let Some(durability) = &mut self.durability {
                    if let Err(err) = durability.record(&change, now) {
                        log!(self.logger, ERROR, "Error: cannot journal a change: {err}");
                    }
                }
            }
            Output::Close { conn, .. }
                if self.durability.as_mut().is_some_and(|d| !d.close_or_hold(conn)) => {}
            Output::Close { conn, .. } if self.bridges.contains_key(&conn) => {
                self.bridges.insert(conn, None);
            }
            Output::Log(
                LogEvent::ClientDisconnected { conn, .. } | LogEvent::WillSpecified { conn, .. },
            ) if self.bridges.contains_key(&conn) => {}
            Output::Close { conn, .. } => {
                // Dropping the sender lets the task write what is queued, then close.
                self.forget(conn);
            }
            Output::Log(event) => trace::event(&self.logger, &event),
            // An answer to another shard's durability request waits for this shard's journal.
            Output::Forward { shard, item } => match &mut self.durability {
                Some(durability) => {
                    if let Some(item) = durability.forward_or_hold(shard, item) {
                        self.forwards.push(shard, item);
                    }
                }
                None => self.forwards.push(shard, item),
            },
            Output::Authenticate { conn, username, password, listener, .. } => {
                let Some(passwords) = self.passwords.get(listener).cloned().flatten() else {
                    self.broker.handle_auth_result(conn, false, now());
                    return;
                };
                let checker = self.checker.share();
                let events = self.events.clone();
                let check = tokio::spawn(async move {
                    let allowed = checker.check(&passwords, &username, password).await;
                    let _ = events.send(Event::AuthResult { conn, allowed }).await;
                });
                // A bridge's local connection is not in `connections`: its check runs on.
                if self.connections.contains_key(&conn) {
                    self.checks.insert(conn, check.abort_handle());
                }
            }
            _ => {}
        }
    }

    /// Stages `packet` for `conn` (into its batch of this event), or hands it to its bridge.
    fn send(&mut self, conn: ConnId, packet: &Packet) {
        match packet {
            Packet::Publish(publish) => self.tally.publish_out(publish.qos),
            Packet::ConnAck(ack) => self.tally.connack(ack.reason),
            _ => {}
        }
        if let Some(bridge) = self.bridges.get(&conn) {
            if let Some(to_bridge) = bridge {
                let _ = to_bridge.send(packet.clone());
            }
            return;
        }
        if self.logger.enabled(LogTypes::DEBUG) {
            let Some(protocol) = self.connections.get(&conn).map(Connection::protocol) else {
                return;
            };
            let id = self.display_id(conn);
            trace::sending(&self.logger, &id, packet, protocol);
        }
        let Some(connection) = self.connections.get_mut(&conn) else { return };
        let accepted = matches!(packet, Packet::ConnAck(ack) if ack.reason == ReasonCode::Success);
        let packet_type = packet.packet_type();
        let payload_len = match packet {
            Packet::Publish(publish) => publish.payload.len(),
            _ => 0,
        };
        let index = connection.staged().unwrap_or_else(|| {
            let buffer = self.spare.pop().unwrap_or_default();
            self.staged.push((conn, Batch::new(buffer)));
            // Fewer connections than u32::MAX are open.
            let index = u32::try_from(self.staged.len() - 1).unwrap_or(u32::MAX);
            connection.set_staged(Some(index));
            index
        });
        let Some((_, batch)) = self.staged.get_mut(index as usize) else { return };
        let result = match packet {
            // Large payloads go by reference, after a header shared with other subscribers.
            Packet::Publish(publish) if publish.payload.len() >= SHARED_PAYLOAD_MIN => {
                match self.headers.header(publish, connection.protocol()) {
                    Ok(header) => connection.outbox.push_shared(
                        batch,
                        header,
                        publish.payload.clone(),
                        publish.qos == QoS::AtMostOnce,
                    ),
                    Err(err) => Err(Refused::Unencodable(err)),
                }
            }
            packet => connection.outbox.push(batch, packet, connection.protocol()),
        };
        let was_dropping = connection.set_dropping(result == Err(Refused::Dropped));
        match result {
            // Counted as sent once the batch is in the outbox.
            Ok(_) => {}
            Err(Refused::Unencodable(err)) => {
                log!(self.logger, ERROR, "Error: cannot encode {packet_type:?}: {err}");
            }
            Err(Refused::Dropped) => {
                self.broker.count_dropped(payload_len);
                if !was_dropping {
                    let id = self.display_id(conn);
                    log!(
                        self.logger,
                        NOTICE,
                        "Outgoing messages are being dropped for client {id}."
                    );
                }
            }
            Err(Refused::Overflow) => self.overflowed.push(conn),
        }
        if accepted {
            // Accepted: from now on the core knows the client and its address.
            self.unaccepted.remove(&conn);
            let listener = self.broker.peer(conn).map(|peer| peer.listener);
            if let (Some(connection), Some(listener)) = (self.connections.get_mut(&conn), listener)
            {
                // An index beyond u16 (never in practice) counts as "internal" both ways.
                let (listener, previous) = connection.accept(listener);
                self.metrics.client_connected(listener, connection.protocol());
                if let Some((listener, protocol)) = previous {
                    self.metrics.client_disconnected(listener, protocol);
                }
            }
        }
    }

    /// The end of a step: what the core forwarded goes to the other shards, then the
    /// connections written to are woken. In that order: a client told of a message (a will, a
    /// retained one) must not be able to act on it at another shard before that shard has it.
    fn hand_over(&mut self) {
        self.forwards.flush();
        self.wake_tasks();
    }

    /// Hands every staged batch to its connection's outbox, which wakes the task. A task found
    /// gone closes its connection, which may send more (a will): those are handed over too.
    /// (A connection forgotten meanwhile had its batch handed over when it was forgotten.)
    fn wake_tasks(&mut self) {
        loop {
            let mut staged = std::mem::take(&mut self.staged);
            for (conn, mut batch) in staged.drain(..) {
                if let Some(connection) = self.connections.get_mut(&conn) {
                    connection.set_staged(None);
                    match connection.outbox.flush(&mut batch) {
                        Ok(size) => self.broker.count_bytes(0, size as u64),
                        Err(_) => self.overflowed.push(conn),
                    }
                }
                if self.spare.len() < SPARE_KEPT {
                    self.spare.extend(batch.into_spare());
                }
            }
            // A fan-out to many connections leaves no large list behind.
            staged.shrink_to(STAGED_KEPT);
            self.staged = staged;
            if self.overflowed.is_empty() {
                break;
            }
            self.drain_outputs();
        }
    }

    /// The client id for trace lines, or the peer address before the CONNECT is accepted.
    fn display_id(&self, conn: ConnId) -> String {
        match self.broker.client_id(conn) {
            Some(id) => id.to_owned(),
            None => self.peer_address(conn).unwrap_or_default(),
        }
    }

    /// The peer address of `conn`, from the core or (for a refused client) kept here.
    fn peer_address(&self, conn: ConnId) -> Option<String> {
        if let Some(peer) = self.broker.peer(conn) {
            return Some(peer.address.to_string());
        }
        Some(self.unaccepted.get(&conn)?.to_string())
    }

    /// Drops what the driver keeps for `conn`; dropping its outbox lets its task write what
    /// is queued, then close.
    fn forget(&mut self, conn: ConnId) {
        if let Some(mut connection) = self.connections.remove(&conn) {
            // What was staged for it goes before the close.
            let staged = connection.staged().and_then(|index| self.staged.get_mut(index as usize));
            if let Some((_, batch)) = staged {
                if let Ok(size) = connection.outbox.flush(batch) {
                    self.broker.count_bytes(0, size as u64);
                }
            }
            if let Some((listener, protocol)) = connection.connected() {
                self.metrics.client_disconnected(listener, protocol);
            }
        }
        if let Some(check) = self.checks.remove(&conn) {
            check.abort();
        }
        self.unaccepted.remove(&conn);
        if let Some(durability) = &mut self.durability {
            durability.forget(conn);
        }
    }

    /// What the journal writer reports: synced changes release what waited for them.
    fn journal_report(&mut self, report: WriterReport) {
        match report {
            WriterReport::Synced(upto) => {
                let Some(durability) = &mut self.durability else { return };
                let released = durability.synced(upto);
                for (shard, item) in durability.answers_due() {
                    self.forwards.push(shard, item);
                }
                for (conn, held) in released {
                    match held {
                        Held::Send(packet) => self.send(conn, &packet),
                        Held::Close if self.bridges.contains_key(&conn) => {
                            self.bridges.insert(conn, None);
                        }
                        Held::Close => self.forget(conn),
                    }
                }
                self.drain_outputs();
            }
            WriterReport::SyncTook(took) => self.metrics.journal_synced(took),
            WriterReport::Checkpointed { .. } => {}
            WriterReport::Failed(err) => {
                log!(self.logger, ERROR, "Error: Unable to write the journal: {err}; retrying.");
            }
        }
    }
}

/// The one place the broker reads the monotonic clock. tokio's clock, so paused-time tests work.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Completes once `backlog` has drained to its budget.
async fn drained(backlog: Option<&Backlog>) {
    if let Some(backlog) = backlog {
        backlog.drained().await;
    }
}

/// What `next` yields: never ready when there is no `next` (no journal writer, no log lines
/// on this shard, no other shard).
async fn or_pending<T>(next: Option<impl Future<Output = Option<T>>>) -> Option<T> {
    match next {
        Some(next) => next.await,
        None => std::future::pending().await,
    }
}

/// Entries the list of staged batches keeps room for between events.
const STAGED_KEPT: usize = 1024;
/// Spare buffers kept for the next batches (each from a small batch: see `Batch::into_spare`).
const SPARE_KEPT: usize = 32;

/// Journal bytes after which a checkpoint is written, so that the journal (and the replay at
/// the next start) stays bounded between autosaves.
const CHECKPOINT_AFTER_BYTES: u64 = 64 << 20;

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline.into()).await;
    }
}

/// Logs Mosquitto's line for a bad CONNECT and picks the reason code the core acts on.
fn report_decode_error(error: &DecodeError, peer_address: &str, logger: &Logger) -> ReasonCode {
    match error {
        DecodeError::UnsupportedProtocolVersion { level, .. } => {
            log!(
                logger,
                INFORMATION,
                "Invalid protocol version {level} in CONNECT from {peer_address}."
            );
        }
        DecodeError::InvalidProtocolName { name } => {
            log!(
                logger,
                INFORMATION,
                "Invalid protocol \"{name}\" in CONNECT from {peer_address}."
            );
            // Mosquitto closes without a CONNACK; the core does that for a protocol error
            // before CONNECT.
            return ReasonCode::ProtocolError;
        }
        _ => {}
    }
    error.reason_code()
}
