//! The `$SYS/broker/…` topics, as Mosquitto 2.0 publishes them: the version once at start,
//! then every update the uptime and each metric whose value changed since the last update, in
//! Mosquitto's order, retained at QoS 2. Load averages are exponential moving averages per
//! minute, republished when they move by at least 0.01.
//!
//! Timing is Mosquitto 2.0.11's: the first update comes at start (uptime 0) and the next one
//! once *more* than `sys_interval` whole seconds have passed since the last, so updates come
//! every `sys_interval + 1` seconds. The runtime reads the clock: it arms a timer at
//! [`Broker::sys_deadline`] and calls [`Broker::update_sys`] when it passes.
//!
//! Unlike 2.0.11 the periodic messages carry no 60-second message expiry (a bug that 2.0.16
//! fixed: values that did not change for a minute vanished from the retained store).
//!
//! A sharded broker publishes from shard 0 alone: at each of their updates the other shards
//! send it their [`Figures`], and shard 0 publishes the sums with its own (the retained count
//! and the memory in use are broker-wide on every shard already). A message held on two
//! shards counts in both shards' stored messages.

use std::time::{Duration, Instant};

use bytes::Bytes;
use mqtt_codec::{Publish, QoS, TopicName};

use super::{Broker, Stats};
use crate::shard::Item;

/// The counters whose rates the load averages follow, in Mosquitto's publication order: each
/// is published as `$SYS/broker/load/<counter>/<window>` for the windows `1min`, `5min` and
/// `15min`.
pub const SYS_LOAD_COUNTERS: [&str; 9] = [
    "messages/received",
    "messages/sent",
    "publish/dropped",
    "publish/received",
    "publish/sent",
    "bytes/received",
    "bytes/sent",
    "sockets",
    "connections",
];

/// The averaging windows: topic suffix and length in seconds.
const WINDOWS: [(&str, f64); 3] = [("1min", 60.0), ("5min", 300.0), ("15min", 900.0)];

/// The integer metrics published when they change, each remembered separately.
#[derive(Clone, Copy, Debug)]
enum Metric {
    ClientsTotal,
    ClientsDisconnected,
    ClientsConnected,
    ClientsExpired,
    StoreCount,
    StoreBytes,
    Subscriptions,
    SharedSubscriptions,
    Retained,
    HeapCurrent,
    MessagesReceived,
    MessagesSent,
    PublishDropped,
    PublishReceived,
    PublishSent,
    BytesReceived,
    BytesSent,
    PublishBytesReceived,
    PublishBytesSent,
}

/// How many [`Metric`]s there are.
const METRICS: usize = Metric::PublishBytesSent as usize + 1;

/// What the `$SYS` publisher remembers between updates.
#[derive(Debug, Default)]
pub(crate) struct SysTree {
    /// When the broker started ([`Broker::start_sys`]); uptime counts from here.
    start: Option<Instant>,
    /// Whole seconds after `start` of the last update; `None` before the first.
    last: Option<u64>,
    /// Last published value of each metric; `None` = never published.
    published: [Option<i64>; METRICS],
    /// Highest `clients/total` published as `clients/maximum`.
    clients_max: i64,
    /// Highest `heap/current` published as `heap/maximum`.
    heap_max: i64,
    /// The load counters at the last update.
    counters: [u64; SYS_LOAD_COUNTERS.len()],
    /// Current load averages, window by window (`WINDOWS`), counter by counter.
    loads: [[f64; SYS_LOAD_COUNTERS.len()]; WINDOWS.len()],
    /// Shard 0 of a sharded broker: the figures each other shard sent last, by shard index.
    peers: Vec<Option<Figures>>,
}

/// One shard's figures that `$SYS` sums over shards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Figures {
    /// Sessions, connected or not.
    sessions: usize,
    /// Open connections.
    connections: usize,
    /// Messages held and their payload bytes (see [`Broker::stored_messages`]); the other
    /// shards leave out their replica of the retained store, which shard 0's counts once.
    stored: (usize, usize),
    /// Plain and shared subscriptions.
    subscriptions: (usize, usize),
    /// Counters.
    stats: Stats,
}

impl Figures {
    fn add(&mut self, other: &Self) {
        self.sessions += other.sessions;
        self.connections += other.connections;
        self.stored.0 += other.stored.0;
        self.stored.1 += other.stored.1;
        self.subscriptions.0 += other.subscriptions.0;
        self.subscriptions.1 += other.subscriptions.1;
        self.stats.add(&other.stats);
    }
}

impl SysTree {
    /// Whether `metric` differs from what was last published; remembers `value`.
    fn changed(&mut self, metric: Metric, value: i64) -> bool {
        let slot = &mut self.published[metric as usize];
        let changed = *slot != Some(value);
        *slot = Some(value);
        changed
    }
}

/// One step of an exponential moving average: the rate seen over the last interval pulls
/// `current` towards it; the new value is published when it moved by at least 0.01.
fn next_load(current: f64, rate: f64, exponent: f64) -> (f64, bool) {
    let next = rate + exponent * (current - rate);
    (next, (next - current).abs() >= 0.01)
}

/// A load value as Mosquitto prints it (`%.2f`).
fn format_load(value: f64) -> String {
    format!("{value:.2}")
}

impl Broker {
    /// Marks the start of the broker (uptime counts from `now`) and, unless `sys_interval` is
    /// 0, publishes `$SYS/broker/version` with `version` as payload (retained, no expiry).
    /// The first periodic update is due at once.
    pub fn start_sys(&mut self, version: &str, now: Instant) {
        self.sys.start = Some(now);
        if self.config.sys_interval > 0 && self.shard.index == 0 {
            self.publish_sys("$SYS/broker/version", version.to_owned(), now);
        }
    }

    /// When [`Broker::update_sys`] should run next; `None` when `sys_interval` is 0 or
    /// [`Broker::start_sys`] was not called.
    #[must_use]
    pub fn sys_deadline(&self) -> Option<Instant> {
        let start = self.sys.start?;
        if self.config.sys_interval == 0 {
            return None;
        }
        let Some(last) = self.sys.last else { return Some(start) };
        Some(start + Duration::from_secs(last + u64::from(self.config.sys_interval) + 1))
    }

    /// Publishes the periodic `$SYS` topics if an update is due at `now` (see
    /// [`Broker::sys_deadline`]); otherwise does nothing. On a shard other than 0, sends
    /// shard 0 this shard's figures instead.
    pub fn update_sys(&mut self, now: Instant) {
        let Some(start) = self.sys.start else { return };
        let interval = u64::from(self.config.sys_interval);
        let secs = now.saturating_duration_since(start).as_secs();
        if interval == 0 || self.sys.last.is_some_and(|last| secs <= last + interval) {
            return;
        }
        if self.shard.index != 0 {
            let figures = Box::new(self.figures());
            self.forward(0, Item::Stats { from: self.shard.index, figures });
            self.sys.last = Some(secs);
            return;
        }
        // The other shards' sums; each figure of this shard is read where it always was, as
        // the messages published meanwhile count.
        let mut peers = Figures::default();
        for peer in self.sys.peers.iter().flatten() {
            peers.add(peer);
        }
        self.publish_sys("$SYS/broker/uptime", format!("{secs} seconds"), now);
        self.update_clients(&peers, now);
        let mut stats = self.stats.clone();
        stats.add(&peers.stats);
        self.update_loads(&stats, secs, now);
        let (stored, stored_bytes) = self.stored_messages();
        let (stored, stored_bytes) = (stored + peers.stored.0, stored_bytes + peers.stored.1);
        self.gauge(
            Metric::StoreCount,
            to_i64(stored),
            &["$SYS/broker/messages/stored", "$SYS/broker/store/messages/count"],
            now,
        );
        let subscriptions = self.tree.counts();
        let subscriptions =
            (subscriptions.0 + peers.subscriptions.0, subscriptions.1 + peers.subscriptions.1);
        let stored_bytes = to_i64(stored_bytes);
        self.gauge(Metric::StoreBytes, stored_bytes, &["$SYS/broker/store/messages/bytes"], now);
        let (plain, shared) = (to_i64(subscriptions.0), to_i64(subscriptions.1));
        self.gauge(Metric::Subscriptions, plain, &["$SYS/broker/subscriptions/count"], now);
        let topic = "$SYS/broker/shared_subscriptions/count";
        self.gauge(Metric::SharedSubscriptions, shared, &[topic], now);
        // Read after the messages above were stored: they count, as in Mosquitto.
        let retained = to_i64(self.retained.len());
        self.gauge(Metric::Retained, retained, &["$SYS/broker/retained messages/count"], now);
        self.update_heap(now);
        let mut stats = self.stats.clone();
        stats.add(&peers.stats);
        let counters = [
            (Metric::MessagesReceived, stats.messages_received, "messages/received"),
            (Metric::MessagesSent, stats.messages_sent, "messages/sent"),
            (Metric::PublishDropped, stats.publish_dropped, "publish/messages/dropped"),
            (Metric::PublishReceived, stats.publish_received, "publish/messages/received"),
            (Metric::PublishSent, stats.publish_sent, "publish/messages/sent"),
            (Metric::BytesReceived, stats.bytes_received, "bytes/received"),
            (Metric::BytesSent, stats.bytes_sent, "bytes/sent"),
            (Metric::PublishBytesReceived, stats.publish_bytes_received, "publish/bytes/received"),
            (Metric::PublishBytesSent, stats.publish_bytes_sent, "publish/bytes/sent"),
        ];
        for (metric, value, name) in counters {
            let value = i64::try_from(value).unwrap_or(i64::MAX);
            if self.sys.changed(metric, value) {
                self.publish_sys_owned(format!("$SYS/broker/{name}"), value.to_string(), now);
            }
        }
        self.sys.last = Some(secs);
    }

    /// This shard's figures for shard 0's `$SYS` sums (its retained replica left out).
    fn figures(&self) -> Figures {
        Figures {
            sessions: self.sessions.len(),
            connections: self.conns.len(),
            stored: self.held_messages(false),
            subscriptions: self.tree.counts(),
            stats: self.stats.clone(),
        }
    }

    /// Shard 0 keeps the figures another shard sent for the next `$SYS` update.
    pub(super) fn note_figures(&mut self, from: usize, figures: Figures) {
        if self.sys.peers.len() <= from {
            self.sys.peers.resize(from + 1, None);
        }
        self.sys.peers[from] = Some(figures);
    }

    /// `clients/…`: total sessions, the maximum ever seen, disconnected sessions and open
    /// connections (the deprecated `inactive` and `active` first), expired sessions; the
    /// other shards' `peers` added.
    fn update_clients(&mut self, peers: &Figures, now: Instant) {
        let total = to_i64(self.sessions.len() + peers.sessions);
        let connected = to_i64(self.conns.len() + peers.connections);
        if self.sys.changed(Metric::ClientsTotal, total) {
            self.publish_sys("$SYS/broker/clients/total", total.to_string(), now);
            if total > self.sys.clients_max {
                self.sys.clients_max = total;
                self.publish_sys("$SYS/broker/clients/maximum", total.to_string(), now);
            }
        }
        // Connections without an accepted CONNECT count as connected, not as sessions, so
        // this may be negative for a moment, as in Mosquitto.
        let disconnected = total - connected;
        let topics = ["$SYS/broker/clients/inactive", "$SYS/broker/clients/disconnected"];
        self.gauge(Metric::ClientsDisconnected, disconnected, &topics, now);
        let topics = ["$SYS/broker/clients/active", "$SYS/broker/clients/connected"];
        self.gauge(Metric::ClientsConnected, connected, &topics, now);
        let expired = self.stats.clients_expired + peers.stats.clients_expired;
        let expired = i64::try_from(expired).unwrap_or(i64::MAX);
        self.gauge(Metric::ClientsExpired, expired, &["$SYS/broker/clients/expired"], now);
    }

    /// `heap/current` and `heap/maximum`: Mosquitto's allocator counts; here the estimate
    /// `memory_limit` bounds ([`Broker::memory_in_use`]), the maximum being the highest value
    /// seen at an update.
    fn update_heap(&mut self, now: Instant) {
        let current = to_i64(self.memory_in_use());
        if self.sys.changed(Metric::HeapCurrent, current) {
            self.publish_sys("$SYS/broker/heap/current", current.to_string(), now);
            if current > self.sys.heap_max {
                self.sys.heap_max = current;
                self.publish_sys("$SYS/broker/heap/maximum", current.to_string(), now);
            }
        }
    }

    /// `load/<counter>/<window>`: all 27 as 0.00 at the first update, then each one whose
    /// average moved by at least 0.01.
    fn update_loads(&mut self, stats: &Stats, secs: u64, now: Instant) {
        let counters = [
            stats.messages_received,
            stats.messages_sent,
            stats.publish_dropped,
            stats.publish_received,
            stats.publish_sent,
            stats.bytes_received,
            stats.bytes_sent,
            stats.sockets,
            stats.connects,
        ];
        let previous = std::mem::replace(&mut self.sys.counters, counters);
        let Some(last) = self.sys.last else {
            for (window, _) in WINDOWS {
                for name in SYS_LOAD_COUNTERS {
                    let topic = format!("$SYS/broker/load/{name}/{window}");
                    self.publish_sys_owned(topic, format_load(0.0), now);
                }
            }
            return;
        };
        #[expect(clippy::cast_precision_loss, reason = "rates need no 53-bit precision")]
        let elapsed = secs.saturating_sub(last).max(1) as f64;
        for (w, (window, length)) in WINDOWS.into_iter().enumerate() {
            let exponent = (-elapsed / length).exp();
            for (i, name) in SYS_LOAD_COUNTERS.into_iter().enumerate() {
                #[expect(clippy::cast_precision_loss, reason = "rates need no 53-bit precision")]
                let rate = counters[i].wrapping_sub(previous[i]) as f64 * 60.0 / elapsed;
                let (load, publish) = next_load(self.sys.loads[w][i], rate, exponent);
                self.sys.loads[w][i] = load;
                if publish {
                    let topic = format!("$SYS/broker/load/{name}/{window}");
                    self.publish_sys_owned(topic, format_load(load), now);
                }
            }
        }
    }

    /// Publishes `value` to each of `topics` if `metric` changed since the last update.
    fn gauge(&mut self, metric: Metric, value: i64, topics: &[&'static str], now: Instant) {
        if self.sys.changed(metric, value) {
            for topic in topics {
                self.publish_sys(topic, value.to_string(), now);
            }
        }
    }

    /// Publishes one retained QoS 2 `$SYS` message.
    fn publish_sys(&mut self, topic: &'static str, payload: String, now: Instant) {
        self.publish_to(TopicName::from_static(topic), payload, now);
    }

    /// [`Broker::publish_sys`] for a topic built at run time.
    fn publish_sys_owned(&mut self, topic: String, payload: String, now: Instant) {
        // Every `$SYS` topic built here is a valid topic name.
        if let Ok(topic) = TopicName::new(&topic) {
            self.publish_to(topic, payload, now);
        }
    }

    fn publish_to(&mut self, topic: TopicName, payload: String, now: Instant) {
        let mut publish = Publish::new(topic, Bytes::from(payload));
        publish.qos = QoS::ExactlyOnce;
        publish.retain = true;
        self.publish(publish, now);
    }
}

impl Broker {
    /// The `$SYS` values as last published, for Mosquitto 2.1's `/api/v1/systree`: each
    /// metric's primary topic (no deprecated alias, no load average) in 2.1's order, then
    /// `$SYS/broker/uptime` in whole seconds at `now`. A metric never published reads 1,
    /// and the two maximums never less than 1, as in 2.1 (its initial values). The three
    /// keys of 2.1 that have no `$SYS` topic in culex (`packet/out/count`, `packet/out/bytes`,
    /// `connections/socket/count`) are left out, so every value here equals its topic's.
    #[must_use]
    pub fn sys_values(&self, now: Instant) -> Vec<(&'static str, i64)> {
        let last = |metric: Metric| self.sys.published[metric as usize].unwrap_or(1);
        let uptime =
            self.sys.start.map_or(0, |start| now.saturating_duration_since(start).as_secs());
        vec![
            ("$SYS/broker/clients/total", last(Metric::ClientsTotal)),
            ("$SYS/broker/clients/maximum", self.sys.clients_max.max(1)),
            ("$SYS/broker/clients/disconnected", last(Metric::ClientsDisconnected)),
            ("$SYS/broker/clients/connected", last(Metric::ClientsConnected)),
            ("$SYS/broker/clients/expired", last(Metric::ClientsExpired)),
            ("$SYS/broker/messages/stored", last(Metric::StoreCount)),
            ("$SYS/broker/store/messages/bytes", last(Metric::StoreBytes)),
            ("$SYS/broker/subscriptions/count", last(Metric::Subscriptions)),
            ("$SYS/broker/shared_subscriptions/count", last(Metric::SharedSubscriptions)),
            ("$SYS/broker/retained messages/count", last(Metric::Retained)),
            ("$SYS/broker/heap/current", last(Metric::HeapCurrent)),
            ("$SYS/broker/heap/maximum", self.sys.heap_max.max(1)),
            ("$SYS/broker/messages/received", last(Metric::MessagesReceived)),
            ("$SYS/broker/messages/sent", last(Metric::MessagesSent)),
            ("$SYS/broker/bytes/received", last(Metric::BytesReceived)),
            ("$SYS/broker/bytes/sent", last(Metric::BytesSent)),
            ("$SYS/broker/publish/bytes/received", last(Metric::PublishBytesReceived)),
            ("$SYS/broker/publish/bytes/sent", last(Metric::PublishBytesSent)),
            ("$SYS/broker/publish/messages/dropped", last(Metric::PublishDropped)),
            ("$SYS/broker/publish/messages/received", last(Metric::PublishReceived)),
            ("$SYS/broker/publish/messages/sent", last(Metric::PublishSent)),
            ("$SYS/broker/uptime", i64::try_from(uptime).unwrap_or(i64::MAX)),
        ]
    }
}

/// A count as `$SYS` prints it.
fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_print_like_printf() {
        // glibc's %.2f rounds the exact binary value, ties to even.
        let printed: Vec<String> =
            [0.0, 0.125, 0.375, 2.675, 51.578, 1234.5].into_iter().map(format_load).collect();
        assert_eq!(printed, ["0.00", "0.12", "0.38", "2.67", "51.58", "1234.50"]);
    }

    #[test]
    fn a_load_is_republished_only_when_it_moves_by_a_hundredth() {
        // 120 messages in 2 s is 3600 a minute; one step of the 1-minute average from 0.
        let exponent = (-2.0_f64 / 60.0).exp();
        let (load, publish) = next_load(0.0, 3600.0, exponent);
        assert!(publish);
        assert_eq!(format_load(load), "118.02");
        // No traffic: the average decays, by more than 0.01 at first...
        let (decayed, publish) = next_load(load, 0.0, exponent);
        assert!(publish && decayed < load);
        // ...and not at all once it is tiny.
        assert!(next_load(1.0, 0.0, exponent).1);
        assert!(!next_load(0.2, 0.0, exponent).1, "0.2 decays by 0.0066");
        assert_eq!(next_load(5.0, 5.0, exponent), (5.0, false));
    }

    #[test]
    fn metrics_are_published_when_they_change() {
        let mut tree = SysTree::default();
        assert!(tree.changed(Metric::Retained, 0), "the first value is always published");
        assert!(!tree.changed(Metric::Retained, 0));
        assert!(tree.changed(Metric::Retained, 3));
        assert!(tree.changed(Metric::StoreCount, 3), "each metric is remembered on its own");
    }
}
