//! The broker's Prometheus metrics (`GET /metrics` on an `http_api` listener): [`Metrics`], a
//! prometheus-client registry of atomic counters, gauges and histograms shared as
//! `Arc<Metrics>`, the driver's [`Tally`] of what it counts between two flushes into it, and
//! the process statistics read from `/proc` at scrape time.
//!
//! Counters that `$SYS` also reports are not counted twice: the driver copies the core's
//! [`Stats`](mqtt_core::Stats) and counts into the atomics ([`Metrics::mirror`]), so both read
//! the same numbers. What only the runtime sees (a CONNACK's reason, why a connection closed, a
//! PUBLISH's QoS, how long a batch of events took) the driver counts in its own [`Tally`], plain
//! integers: counting a packet is an addition, never an atomic or a lock, and label sets are
//! looked up only when a flush ([`Metrics::add`]) finds them counted. The driver flushes
//! [`FLUSH_INTERVAL`] after a step that may have changed a count, so a scrape is at most that
//! much behind, and agrees with `$SYS` exactly once the broker has been idle that long. A scrape
//! reads atomics only; it never waits for the driver.
//!
//! Every driver shard flushes into the same `Metrics`, and only ever adds: its tally's counts,
//! and what its core's figures moved by since its last copy (its `Tally` keeps that copy), so
//! each counter and gauge holds the sum over the shards. The retained store, replicated on every
//! shard, is counted by shard 0 only.

use std::time::Duration;

use mqtt_codec::{ProtocolVersion, ReasonCode};
use mqtt_core::{Broker, DisconnectReason, DropCause};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

mod tally;

use tally::BatchDurations;
pub use tally::Tally;

/// How long after a step that may have changed a count the driver flushes its [`Tally`] and
/// copies the core's counters: what a scrape can lag behind, and, under load, how often the
/// driver pays for a flush.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Connected clients' labels: the listener (port number or socket path) and MQTT version.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabels {
    listener: String,
    protocol: &'static str,
}

/// A label set of one `reason` (a CONNACK's, a closed connection's or a drop's).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

/// A label set of one `qos`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QosLabels {
    qos: u8,
}

/// A label set of one subscription `kind` (`plain` or `shared`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// Every metric of the broker, and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// The `listener` label of each listener in force, indexed like `PeerInfo::listener`.
    listeners: Vec<String>,
    clients: Family<ClientLabels, Gauge>,
    connects: Family<ReasonLabels, Counter>,
    disconnects: Family<ReasonLabels, Counter>,
    /// Indexed by QoS.
    received: [Counter; 3],
    sent: [Counter; 3],
    publish_received: Counter,
    publish_sent: Counter,
    bytes_received: Counter,
    bytes_sent: Counter,
    publish_bytes_received: Counter,
    publish_bytes_sent: Counter,
    /// Indexed like [`DropCause::ALL`].
    dropped: [Counter; DropCause::ALL.len()],
    retained: Gauge,
    subscriptions: Gauge,
    shared_subscriptions: Gauge,
    sessions: Gauge,
    stored_messages: Gauge,
    stored_bytes: Gauge,
    queued_messages: Gauge,
    queued_bytes: Gauge,
    journal_sync: Histogram,
    driver_step: BatchDurations,
}

impl Metrics {
    /// Metrics for a broker whose listeners in force have these `listener` labels (port
    /// numbers or socket paths), in order.
    pub fn new(listeners: Vec<String>) -> Self {
        let mut root = Registry::default();
        let registry = root.sub_registry_with_prefix("culex");
        let clients: Family<ClientLabels, Gauge> = family(
            registry,
            "clients_connected",
            "Clients connected, by listener (port or socket path) and MQTT version",
        );
        let [connects, disconnects] = [
            (
                "connects",
                "CONNECT packets answered, by the CONNACK's reason (success or why refused)",
            ),
            ("disconnects", "Connections closed, by why (refused ones included)"),
        ]
        .map(|(name, help)| family(registry, name, help));
        let [received, sent] = [
            ("messages_received", "PUBLISH packets received from clients, by QoS"),
            ("messages_sent", "PUBLISH packets sent to clients, by QoS"),
        ]
        .map(|(name, help)| {
            let by_qos: Family<QosLabels, Counter> = family(registry, name, help);
            [0, 1, 2].map(|qos| by_qos.get_or_create_owned(&QosLabels { qos }))
        });
        let by_cause: Family<ReasonLabels, Counter> = family(
            registry,
            "messages_dropped",
            "Messages dropped, by reason (they sum to $SYS/broker/publish/messages/dropped)",
        );
        let dropped = DropCause::ALL.map(|cause| {
            by_cause.get_or_create_owned(&ReasonLabels { reason: drop_label(cause).to_owned() })
        });
        let by_kind: Family<KindLabels, Gauge> = family(
            registry,
            "subscriptions",
            "Subscriptions held, plain and $share ($SYS/broker/subscriptions/count, shared_subscriptions/count)",
        );
        let subscriptions = by_kind.get_or_create_owned(&KindLabels { kind: "plain" });
        let shared_subscriptions = by_kind.get_or_create_owned(&KindLabels { kind: "shared" });
        let [
            publish_received,
            publish_sent,
            bytes_received,
            bytes_sent,
            publish_bytes_received,
            publish_bytes_sent,
        ] = [
            ("publish_received", "PUBLISH packets received ($SYS/broker/publish/messages/received)", None),
            ("publish_sent", "PUBLISH packets sent ($SYS/broker/publish/messages/sent)", None),
            ("received", "Bytes read from clients ($SYS/broker/bytes/received)", Some(Unit::Bytes)),
            ("sent", "Bytes written to clients ($SYS/broker/bytes/sent)", Some(Unit::Bytes)),
            (
                "publish_payload_received",
                "Payload bytes of the PUBLISH packets received ($SYS/broker/publish/bytes/received)",
                Some(Unit::Bytes),
            ),
            (
                "publish_payload_sent",
                "Payload bytes of the PUBLISH packets sent ($SYS/broker/publish/bytes/sent)",
                Some(Unit::Bytes),
            ),
        ]
        .map(|(name, help, unit)| register(registry, name, help, unit, Counter::default()));
        let [retained, sessions, stored_messages, stored_bytes, queued_messages, queued_bytes] = [
            ("retained_messages", "Retained messages stored ($SYS/broker/retained messages/count)", None),
            ("sessions", "Sessions held, connected or not ($SYS/broker/clients/total)", None),
            (
                "stored_messages",
                "Messages held: queued, in flight or retained, each once ($SYS/broker/messages/stored)",
                None,
            ),
            (
                "stored_messages_payload",
                "Payload bytes of the messages held ($SYS/broker/store/messages/bytes)",
                Some(Unit::Bytes),
            ),
            (
                "queued_messages",
                "Messages waiting in the sessions' queues, not yet in flight (once per session)",
                None,
            ),
            (
                "queued_messages_payload",
                "Payload bytes of the messages waiting in the sessions' queues",
                Some(Unit::Bytes),
            ),
        ]
        .map(|(name, help, unit)| register(registry, name, help, unit, Gauge::default()));
        let journal_sync = histogram(
            registry,
            "journal_sync_duration",
            "Time one sync (fdatasync) of the durable journal took",
            // 50 µs to 1.6 s.
            exponential_buckets(0.000_05, 2.0, 16),
        );
        // 5 µs to 0.65 s.
        let driver_step = register(
            registry,
            "driver_event_batch_duration",
            "Time the driver took to handle one batch of events (up to 256) and route what they caused",
            Some(Unit::Seconds),
            BatchDurations::default(),
        );
        root.register_collector(Box::new(ProcessCollector));
        Self {
            registry: root,
            listeners,
            clients,
            connects,
            disconnects,
            received,
            sent,
            publish_received,
            publish_sent,
            bytes_received,
            bytes_sent,
            publish_bytes_received,
            publish_bytes_sent,
            dropped,
            retained,
            subscriptions,
            shared_subscriptions,
            sessions,
            stored_messages,
            stored_bytes,
            queued_messages,
            queued_bytes,
            journal_sync,
            driver_step,
        }
    }

    /// The text exposition of every metric, in Prometheus's text format 0.0.4 (serve it as
    /// `text/plain; version=0.0.4`).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail, and every metric here encodes.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        prometheus_text(&text)
    }

    /// A client was accepted on `listener` (an index like `PeerInfo::listener`) with
    /// `protocol`: counts it connected until [`Self::client_disconnected`].
    pub fn client_connected(&self, listener: usize, protocol: ProtocolVersion) {
        self.clients_gauge(listener, protocol).inc();
    }

    /// A client counted by [`Self::client_connected`] with the same labels went away.
    pub fn client_disconnected(&self, listener: usize, protocol: ProtocolVersion) {
        self.clients_gauge(listener, protocol).dec();
    }

    /// The `culex_clients_connected` gauge of `listener` and `protocol`.
    fn clients_gauge(&self, listener: usize, protocol: ProtocolVersion) -> Gauge {
        let listener = self.listeners.get(listener).cloned().unwrap_or_else(|| "internal".into());
        let labels = ClientLabels { listener, protocol: protocol_label(protocol) };
        self.clients.get_or_create_owned(&labels)
    }

    /// Adds what the driver counted in `tally`, and empties it. Label sets are looked up
    /// here, for the reasons counted since the last flush only.
    pub fn add(&self, tally: &mut Tally) {
        for (counters, counted) in
            [(&self.received, &mut tally.received), (&self.sent, &mut tally.sent)]
        {
            for (counter, count) in counters.iter().zip(std::mem::take(counted)) {
                if count > 0 {
                    counter.inc_by(count);
                }
            }
        }
        for (reason, count) in tally.connacks.drain(..) {
            let reason = connack_label(reason);
            self.connects.get_or_create(&ReasonLabels { reason }).inc_by(count);
        }
        for (reason, count) in tally.closed.drain(..) {
            let reason = reason.to_owned();
            self.disconnects.get_or_create(&ReasonLabels { reason }).inc_by(count);
        }
        self.driver_step.add(&mut tally.batches);
    }

    /// Adds what the core's counters and cheap counts (the numbers `$SYS` publishes) moved by
    /// since this driver last copied them (`tally` keeps what it copied), at a flush of the
    /// driver: the copies of every driver shard add up. The retained store is replicated on
    /// every shard: only shard 0 counts it.
    pub fn mirror(&self, broker: &Broker, tally: &mut Tally) {
        let stats = broker.stats();
        let counters = [
            (&self.publish_received, stats.publish_received),
            (&self.publish_sent, stats.publish_sent),
            (&self.bytes_received, stats.bytes_received),
            (&self.bytes_sent, stats.bytes_sent),
            (&self.publish_bytes_received, stats.publish_bytes_received),
            (&self.publish_bytes_sent, stats.publish_bytes_sent),
        ]
        .into_iter()
        .chain(self.dropped.iter().zip(stats.publish_dropped_by));
        for ((counter, value), copied) in counters.zip(&mut tally.copied.counters) {
            counter.inc_by(value.saturating_sub(*copied));
            *copied = value;
        }
        let (plain, shared) = broker.subscription_counts();
        let retained = if broker.shard().index == 0 { broker.retained_count() } else { 0 };
        add_levels(
            [
                (&self.retained, retained),
                (&self.subscriptions, plain),
                (&self.shared_subscriptions, shared),
                (&self.sessions, broker.session_count()),
            ],
            &mut tally.copied.levels,
        );
    }

    /// Adds what the counts that walk the message store and the sessions
    /// ([`Broker::stored_messages`], [`Broker::queued_messages`]) moved by since this driver
    /// last copied them, as [`Self::mirror`] does; the driver calls it at most once a second.
    pub fn mirror_store(&self, broker: &Broker, tally: &mut Tally) {
        let (messages, bytes) = broker.stored_messages();
        let (queued, queued_bytes) = broker.queued_messages();
        add_levels(
            [
                (&self.stored_messages, messages),
                (&self.stored_bytes, bytes),
                (&self.queued_messages, queued),
                (&self.queued_bytes, queued_bytes),
            ],
            &mut tally.copied.store,
        );
    }

    /// One sync of the journal took `took`.
    pub fn journal_synced(&self, took: Duration) {
        self.journal_sync.observe(took.as_secs_f64());
    }
}

/// Moves each gauge by what its level changed since `copied` (one driver's last copy), and
/// keeps the new levels there.
fn add_levels<const N: usize>(gauges: [(&Gauge, usize); N], copied: &mut [i64; N]) {
    for ((gauge, level), copied) in gauges.into_iter().zip(copied) {
        let level = i64::try_from(level).unwrap_or(i64::MAX);
        gauge.inc_by(level.saturating_sub(*copied));
        *copied = level;
    }
}

/// prometheus-client writes OpenMetrics text; Prometheus's own tools (`promtool check metrics`,
/// Debian's 2.42) and older scrapers read the 0.0.4 text format. The two differ, for what this
/// registry holds, in three things only: a counter family is named with its `_total` in 0.0.4
/// (its samples are the same), and `# UNIT` lines and the closing `# EOF` do not exist there.
fn prometheus_text(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = open_metrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let counter_header = ["# HELP ", "# TYPE "].into_iter().find_map(|kind| {
            let (name, rest) = line.strip_prefix(kind)?.split_once(' ')?;
            counters.contains(name).then(|| format!("{kind}{name}_total {rest}"))
        });
        text.push_str(counter_header.as_deref().unwrap_or(line));
        text.push('\n');
    }
    text
}

/// Registers `metric` (a counter or gauge) as `name` with `help` and perhaps a unit, and
/// returns it (a handle sharing its atomic).
fn register<M: prometheus_client::registry::Metric + Clone>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    metric: M,
) -> M {
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, metric.clone()),
        None => registry.register(name, help, metric.clone()),
    }
    metric
}

/// Registers a labelled family as `name` with `help`.
fn family<S, M>(registry: &mut Registry, name: &str, help: &str) -> Family<S, M>
where
    Family<S, M>: prometheus_client::registry::Metric + Clone + Default,
{
    register(registry, name, help, None, Family::default())
}

fn histogram(
    registry: &mut Registry,
    name: &str,
    help: &str,
    buckets: impl Iterator<Item = f64>,
) -> Histogram {
    register(registry, name, help, Some(Unit::Seconds), Histogram::new(buckets))
}

/// The `protocol` label: the MQTT version as the HTTP API writes it.
fn protocol_label(protocol: ProtocolVersion) -> &'static str {
    match protocol {
        ProtocolVersion::V3_1 => "3.1",
        ProtocolVersion::V3_1_1 => "3.1.1",
        ProtocolVersion::V5 => "5.0",
    }
}

/// The `reason` label of a dropped message.
fn drop_label(cause: DropCause) -> &'static str {
    match cause {
        DropCause::TooLarge => "too_large",
        DropCause::NotAuthorized => "not_authorized",
        DropCause::MemoryLimit => "memory_limit",
        DropCause::QueueFull => "queue_full",
        DropCause::Expired => "expired",
        DropCause::ReceiverMaximumPacketSize => "receiver_maximum_packet_size",
    }
}

/// The `reason` label of a CONNACK.
fn connack_label(reason: ReasonCode) -> String {
    if reason == ReasonCode::Success {
        "success".to_owned()
    } else {
        snake_case(&format!("{reason:?}"))
    }
}

/// The `reason` label of a closed connection.
fn disconnect_label(reason: &DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::ClientDisconnected => "client_disconnected",
        DisconnectReason::TakenOver => "taken_over",
        DisconnectReason::PeerClosed => "peer_closed",
        DisconnectReason::Io(_) => "io_error",
        DisconnectReason::KeepAliveTimeout => "keepalive_timeout",
        DisconnectReason::NotAuthorized => "not_authorized",
        DisconnectReason::ConnectRefused(_) => "connect_refused",
        DisconnectReason::MalformedPacket => "malformed_packet",
        DisconnectReason::ProtocolError => "protocol_error",
        DisconnectReason::PacketTooLarge => "packet_too_large",
        DisconnectReason::QosOrRetainNotSupported => "qos_or_retain_not_supported",
        DisconnectReason::QosNotSupported => "qos_not_supported",
        DisconnectReason::MaxConnections => "max_connections",
        DisconnectReason::ServerShutdown => "server_shutdown",
        DisconnectReason::OutOfMemory => "out_of_memory",
        _ => "other",
    }
}

/// `NotAuthorized` → `not_authorized`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The conventional `process_*` metrics, read from `/proc/self` when scraped.
#[derive(Debug)]
struct ProcessCollector;

/// What `/proc/self` tells of the process.
#[derive(Debug, Default, PartialEq)]
struct ProcessStats {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<u64>,
    open_fds: Option<u64>,
}

impl ProcessStats {
    fn read() -> Self {
        let (ticks, page) = crate::os::ticks_and_page_size();
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|dir| dir.count() as u64);
        Self { open_fds, ..parse_stat(&stat, ticks, page) }
    }
}

/// CPU time and resident set from `/proc/<pid>/stat`: the fields after the command name
/// (which may hold spaces and parentheses, so it ends at the last `)`), of which `utime` and
/// `stime` (clock ticks) are the 12th and 13th and `rss` (pages) the 22nd.
fn parse_stat(stat: &str, ticks: Option<u64>, page: Option<u64>) -> ProcessStats {
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| fields.get(i).and_then(|value| value.parse::<u64>().ok());
    let cpu_seconds = match (field(11), field(12), ticks) {
        (Some(user), Some(system), Some(ticks)) => Some((user + system) as f64 / ticks as f64),
        _ => None,
    };
    let resident_bytes = field(21).zip(page).map(|(pages, page)| pages * page);
    ProcessStats { cpu_seconds, resident_bytes, open_fds: None }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let stats = ProcessStats::read();
        if let Some(seconds) = stats.cpu_seconds {
            let metric = ConstCounter::new(seconds);
            let help = "User and system CPU time the process used";
            let descriptor = encoder.encode_descriptor(
                "process_cpu",
                help,
                Some(&Unit::Seconds),
                metric.metric_type(),
            )?;
            metric.encode(descriptor)?;
        }
        for (name, help, value, unit) in [
            (
                "process_resident_memory",
                "Resident memory of the process",
                stats.resident_bytes,
                Some(&Unit::Bytes),
            ),
            ("process_open_fds", "Open file descriptors of the process", stats.open_fds, None),
        ] {
            if let Some(value) = value {
                let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
                let descriptor =
                    encoder.encode_descriptor(name, help, unit, metric.metric_type())?;
                metric.encode(descriptor)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
