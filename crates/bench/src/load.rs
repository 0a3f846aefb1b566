//! The load generator: publishers and subscribers over raw TCP on tokio, writing batches of
//! template-patched PUBLISH packets and decoding whatever a read brought in bulk with
//! mqtt-codec, with the QoS 1 and 2 flows answered in the same batches.
//!
//! Publishers are held to an end-to-end window: a flow may be at most `window` messages ahead
//! of its slowest subscriber. That keeps every queue in the broker bounded (no message has to
//! be dropped for being unwanted) while leaving enough in flight to saturate it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use bytes::BytesMut;
use mqtt_codec::{Ack, Packet, QoS};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::accounting::Tracker;
use crate::net::{self, VERSION};
use crate::payload::{PublishTemplate, Stamp, now_ns};
use crate::procfs;

/// Worker threads of the load generator's tokio runtime.
pub(crate) const GENERATOR_WORKERS: usize = 2;
/// Unacknowledged QoS 1/2 messages one publisher keeps in flight (the brokers are configured
/// with the same `max_inflight_messages`).
pub(crate) const PUBLISHER_INFLIGHT: u64 = 1000;
/// A publisher writes at most about this many bytes per write call.
const WRITE_BYTES: usize = 64 * 1024;
/// Read buffers grow by this much when they run low.
const READ_CHUNK: usize = 64 * 1024;

/// Who publishes where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Every publisher publishes to one topic that every subscriber subscribes to (fan-in with
    /// many publishers, fan-out with many subscribers).
    OneTopic,
    /// Publisher `i` publishes to its own topic, which only subscriber `i` subscribes to.
    Pairs,
}

/// One load run.
#[derive(Clone, Debug)]
pub(crate) struct LoadSpec {
    pub(crate) shape: Shape,
    pub(crate) publishers: usize,
    pub(crate) subscribers: usize,
    pub(crate) qos: QoS,
    pub(crate) payload: usize,
    /// Publishing time, warm-up included.
    pub(crate) duration: Duration,
    /// Time from the start not counted in the rates.
    pub(crate) warmup: Duration,
    /// Total messages per second across publishers; `None` = as fast as the window allows.
    pub(crate) rate: Option<u64>,
    /// End-to-end window per flow; `None` = open loop (no subscribers to wait for).
    pub(crate) window: Option<u64>,
    pub(crate) record_latency: bool,
    /// Subscribers connect with clean session false: every message goes into a persistent
    /// session (journaled by a broker with persistence).
    pub(crate) persistent_subscribers: bool,
    /// Topics start with this, so runs never see each other's messages.
    pub(crate) topic_prefix: String,
    /// How long after publishing ends everything may take to arrive.
    pub(crate) drain: Duration,
}

impl LoadSpec {
    /// Number of flows (sequences of messages; one per publisher, at least one).
    fn flows(&self) -> usize {
        self.publishers.max(1)
    }

    fn topic(&self, publisher: usize) -> String {
        match self.shape {
            Shape::OneTopic => format!("{}/all", self.topic_prefix),
            Shape::Pairs => format!("{}/pair/{publisher}", self.topic_prefix),
        }
    }

    fn filter(&self, subscriber: usize) -> String {
        self.topic(subscriber)
    }

    /// The flows subscriber `subscriber` receives.
    pub(crate) fn flows_of(&self, subscriber: usize) -> Vec<usize> {
        match self.shape {
            Shape::OneTopic => (0..self.flows()).collect(),
            Shape::Pairs => vec![subscriber],
        }
    }
}

/// What a load run measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct LoadOutcome {
    /// Messages published per second in the measured window (all publishers).
    pub(crate) published_rate: f64,
    /// Messages delivered per second in the measured window (all subscribers).
    pub(crate) delivered_rate: f64,
    /// Messages delivered in the measured window.
    pub(crate) window_delivered: u64,
    /// Length of the measured window, in seconds.
    pub(crate) window_seconds: f64,
    /// Broker CPU seconds in the measured window, if its pid was given.
    pub(crate) broker_cpu_seconds: Option<f64>,
    /// CPU seconds this process (the load generator) used in the measured window.
    pub(crate) generator_cpu_seconds: f64,
    pub(crate) sent: u64,
    /// QoS 1/2 messages the broker had not acknowledged when the drain time ran out.
    pub(crate) unacknowledged: u64,
    /// Deliveries owed: each message times the subscribers of its flow.
    pub(crate) expected: u64,
    pub(crate) received: u64,
    pub(crate) lost: u64,
    pub(crate) duplicates: u64,
    /// Latency in nanoseconds of each message sent in the measured window, sorted.
    pub(crate) latencies_ns: Vec<u64>,
}

impl LoadOutcome {
    /// Broker CPU per delivered message in the measured window, in µs (`None` without the
    /// broker's pid or without a delivery).
    pub(crate) fn broker_cpu_per_message(&self) -> Option<f64> {
        let cpu = self.broker_cpu_seconds.filter(|_| self.window_delivered > 0)?;
        Some(cpu / self.window_delivered as f64 * 1e6)
    }

    /// Cores the broker kept busy on average in the measured window.
    pub(crate) fn broker_cores(&self) -> Option<f64> {
        self.broker_cpu_seconds.map(|cpu| cpu / self.window_seconds)
    }

    /// Cores the load generator kept busy on average in the measured window.
    pub(crate) fn generator_cores(&self) -> f64 {
        self.generator_cpu_seconds / self.window_seconds
    }
}

/// Counters shared by the tasks of one run.
struct Shared {
    /// One past the highest sequence number each subscriber has seen of each flow, indexed
    /// `subscriber * flows + flow`. Windows use this rather than a count, so a message a
    /// broker dropped (QoS 0) does not shrink the window forever.
    progress: Vec<AtomicU64>,
    /// Messages received per subscriber (duplicates excluded).
    received: Vec<AtomicU64>,
    /// Messages sent per flow.
    sent: Vec<AtomicU64>,
    /// Indices into `received` of every subscriber of a flow.
    receivers: Vec<Vec<usize>>,
    flows: usize,
    /// Woken whenever a subscriber has made progress.
    moved: Notify,
}

impl Shared {
    fn new(spec: &LoadSpec) -> Self {
        let flows = spec.flows();
        let mut receivers = vec![Vec::new(); flows];
        for subscriber in 0..spec.subscribers {
            for flow in spec.flows_of(subscriber) {
                receivers[flow].push(subscriber * flows + flow);
            }
        }
        Self {
            progress: (0..spec.subscribers * flows).map(|_| AtomicU64::new(0)).collect(),
            received: (0..spec.subscribers).map(|_| AtomicU64::new(0)).collect(),
            sent: (0..flows).map(|_| AtomicU64::new(0)).collect(),
            receivers,
            flows,
            moved: Notify::new(),
        }
    }

    /// How far the slowest subscriber of `flow` has got (`u64::MAX` with none).
    fn slowest(&self, flow: usize) -> u64 {
        self.receivers[flow]
            .iter()
            .map(|&index| self.progress[index].load(Ordering::Acquire))
            .min()
            .unwrap_or(u64::MAX)
    }

    fn total_received(&self) -> u64 {
        self.received.iter().map(|count| count.load(Ordering::Acquire)).sum()
    }

    fn total_sent(&self) -> u64 {
        self.sent.iter().map(|count| count.load(Ordering::Acquire)).sum()
    }

    /// Whether every subscriber has seen the last message sent of each of its flows.
    fn caught_up(&self) -> bool {
        self.sent
            .iter()
            .enumerate()
            .all(|(flow, sent)| self.slowest(flow) >= sent.load(Ordering::Acquire))
    }

    fn expected(&self) -> u64 {
        self.receivers
            .iter()
            .zip(&self.sent)
            .map(|(receivers, sent)| receivers.len() as u64 * sent.load(Ordering::Acquire))
            .sum()
    }
}

/// Runs `spec` against the broker at `broker` (pid `pid` for its CPU time).
pub(crate) async fn run_load(
    broker: SocketAddr,
    pid: Option<u32>,
    spec: &LoadSpec,
) -> Result<LoadOutcome> {
    let shared = Arc::new(Shared::new(spec));
    let spec = Arc::new(spec.clone());
    let run_id = now_ns();

    let mut subscriber_streams = Vec::with_capacity(spec.subscribers);
    for index in 0..spec.subscribers {
        let client_id = format!("bench-s{index}-{run_id}");
        let clean = !spec.persistent_subscribers;
        let (mut stream, mut input) = net::connect_session(broker, index, &client_id, 0, clean)
            .await
            .with_context(|| format!("subscriber {index}"))?;
        net::subscribe(&mut stream, &mut input, &spec.filter(index), spec.qos)
            .await
            .with_context(|| format!("subscriber {index}"))?;
        subscriber_streams.push((stream, input));
    }
    let mut publisher_streams = Vec::with_capacity(spec.publishers);
    for index in 0..spec.publishers {
        let client_id = format!("bench-p{index}-{run_id}");
        let address_index = spec.subscribers + index;
        let connection = net::connect(broker, address_index, &client_id, 0)
            .await
            .with_context(|| format!("publisher {index}"))?;
        publisher_streams.push(connection);
    }

    let start = Instant::now();
    let end = start + spec.duration;
    let drain_end = end + spec.drain;
    let (stop, stopped) = watch::channel(false);
    let mut subscribers = JoinSet::new();
    for (index, (stream, input)) in subscriber_streams.into_iter().enumerate() {
        let tracker = Tracker::new(shared.flows, spec.record_latency);
        let task = Subscriber { stream, input, index, shared: Arc::clone(&shared), tracker };
        subscribers.spawn(task.run(stopped.clone()));
    }
    let mut publishers = JoinSet::new();
    for (flow, (stream, input)) in publisher_streams.into_iter().enumerate() {
        let template = PublishTemplate::new(&spec.topic(flow), spec.qos, spec.payload)?;
        let task = Publisher {
            stream,
            input,
            flow,
            template,
            spec: Arc::clone(&spec),
            shared: Arc::clone(&shared),
        };
        publishers.spawn(task.run(start, end, drain_end));
    }

    sleep_until(start + spec.warmup).await;
    let (t0, t0_ns) = (Instant::now(), now_ns());
    let (received0, sent0) = (shared.total_received(), shared.total_sent());
    let cpu0 = pid.map(procfs::cpu).transpose()?;
    let generator0 = procfs::cpu(std::process::id())?;
    sleep_until(end).await;
    let (t1, t1_ns) = (Instant::now(), now_ns());
    let (received1, sent1) = (shared.total_received(), shared.total_sent());
    let cpu1 = pid.map(procfs::cpu).transpose()?;
    let generator1 = procfs::cpu(std::process::id())?;
    let seconds = (t1 - t0).as_secs_f64();

    let joined = timeout(spec.drain + Duration::from_secs(5), async {
        let mut unacknowledged = 0;
        while let Some(result) = publishers.join_next().await {
            unacknowledged += result.context("publisher task")??;
        }
        anyhow::Ok(unacknowledged)
    })
    .await;
    let unacknowledged = match joined {
        Ok(result) => result?,
        Err(_) => bail!("publishers did not finish their QoS flows in time"),
    };
    // Let what is in flight arrive, then stop the subscribers.
    if spec.publishers > 0 {
        while !shared.caught_up() && Instant::now() < drain_end {
            sleep(Duration::from_millis(5)).await;
        }
    }
    let _ = stop.send(true);
    let mut trackers = Vec::new();
    while let Some(result) = timeout(Duration::from_secs(5), subscribers.join_next())
        .await
        .context("subscribers did not stop")?
    {
        trackers.push(result.context("subscriber task")??);
    }
    // Tasks finish in any order; the accounting below needs each tracker's subscriber.
    trackers.sort_by_key(|(index, _)| *index);

    let sent_per_flow: Vec<u64> = shared.sent.iter().map(|s| s.load(Ordering::Acquire)).collect();
    let mut outcome = LoadOutcome {
        published_rate: (sent1 - sent0) as f64 / seconds,
        delivered_rate: (received1 - received0) as f64 / seconds,
        window_delivered: received1 - received0,
        window_seconds: seconds,
        broker_cpu_seconds: cpu0.zip(cpu1).map(|(a, b)| a.seconds_until(b)),
        generator_cpu_seconds: generator0.seconds_until(generator1),
        sent: sent_per_flow.iter().sum(),
        unacknowledged,
        expected: shared.expected(),
        ..LoadOutcome::default()
    };
    for (index, tracker) in &mut trackers {
        let index = *index;
        outcome.received += tracker.received();
        outcome.duplicates += tracker.duplicates + tracker.foreign;
        if spec.publishers > 0 {
            let mut owed = vec![0; shared.flows];
            for flow in spec.flows_of(index) {
                owed[flow] = sent_per_flow[flow];
            }
            outcome.lost += tracker.missing(&owed);
        } else {
            outcome.lost += tracker.lost;
        }
        if let Some(latencies) = tracker.latencies.take() {
            outcome.latencies_ns.extend(
                latencies
                    .into_iter()
                    .filter(|(sent, _)| (t0_ns..t1_ns).contains(sent))
                    .map(|(_, latency)| latency),
            );
        }
    }
    outcome.latencies_ns.sort_unstable();
    Ok(outcome)
}

/// One publishing connection.
struct Publisher {
    stream: TcpStream,
    input: BytesMut,
    flow: usize,
    template: PublishTemplate,
    spec: Arc<LoadSpec>,
    shared: Arc<Shared>,
}

impl Publisher {
    /// Publishes from `start` until `end`, then completes its QoS flows until `drain_end`.
    /// Returns how many messages the broker never acknowledged by then.
    async fn run(mut self, start: Instant, end: Instant, drain_end: Instant) -> Result<u64> {
        let qos = self.spec.qos;
        let per_message = self.template.len();
        let batch = (WRITE_BYTES / per_message).max(1) as u64;
        let rate = self.spec.rate.map(|total| total as f64 / self.spec.publishers as f64);
        let mut out = BytesMut::with_capacity(WRITE_BYTES + per_message);
        let shared = Arc::clone(&self.shared);
        let (mut sequence, mut inflight, mut packet_id) = (0u64, 0u64, 0u16);
        loop {
            let now = Instant::now();
            let sending = now < end;
            if !sending && inflight == 0 {
                return Ok(0);
            }
            if now >= drain_end {
                // The broker kept them: reported, not fatal, so the rate still counts.
                return Ok(inflight);
            }
            let progress = shared.moved.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();

            // Acknowledgements that have arrived, answered in the same write as new messages.
            match self.stream.try_read_buf(&mut self.input) {
                Ok(0) => bail!("flow {}: the broker closed the connection", self.flow),
                Ok(_) => inflight -= self.take_acks(&mut out)?,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err).context("reading acknowledgements"),
            }

            let mut count = if sending { batch } else { 0 };
            if let Some(window) = self.spec.window {
                let ahead = sequence.saturating_sub(self.shared.slowest(self.flow));
                count = count.min(window.saturating_sub(ahead));
            }
            if qos != QoS::AtMostOnce {
                count = count.min(PUBLISHER_INFLIGHT - inflight);
            }
            let mut next_due = None;
            if let Some(rate) = rate {
                let due = ((now - start).as_secs_f64() * rate) as u64 + 1;
                count = count.min(due.saturating_sub(sequence));
                next_due = Some(start + Duration::from_secs_f64((sequence + count) as f64 / rate));
            }
            if count > 0 {
                let sent_ns = now_ns();
                for _ in 0..count {
                    packet_id = packet_id.checked_add(1).unwrap_or(1);
                    let stamp = Stamp { flow: self.flow as u32, sequence, sent_ns };
                    self.template.append(&mut out, packet_id, stamp);
                    sequence += 1;
                }
                if qos != QoS::AtMostOnce {
                    inflight += count;
                }
                self.shared.sent[self.flow].store(sequence, Ordering::Release);
            }
            if !out.is_empty() {
                self.stream.write_all(&out).await.context("publishing")?;
                out.clear();
                continue;
            }
            let wake = if sending { next_due.unwrap_or(end).min(end) } else { drain_end };
            tokio::select! {
                readable = self.stream.readable() => readable.context("waiting for acknowledgements")?,
                () = &mut progress => {}
                () = sleep_until(wake) => {}
            }
        }
    }

    /// Decodes the acknowledgements in `input`, queues a PUBREL for each PUBREC and returns how
    /// many messages are now complete.
    fn take_acks(&mut self, out: &mut BytesMut) -> Result<u64> {
        let mut complete = 0;
        while let Some(packet) = mqtt_codec::decode(&mut self.input, VERSION, u32::MAX)
            .context("decoding what the broker sent a publisher")?
        {
            match packet {
                Packet::PubAck(_) | Packet::PubComp(_) => complete += 1,
                Packet::PubRec(ack) => encode(&Packet::PubRel(Ack::new(ack.packet_id)), out)?,
                other => bail!("unexpected {:?} to a publisher", other.packet_type()),
            }
        }
        Ok(complete)
    }
}

/// One subscribing connection.
struct Subscriber {
    stream: TcpStream,
    input: BytesMut,
    index: usize,
    shared: Arc<Shared>,
    tracker: Tracker,
}

impl Subscriber {
    /// Receives and acknowledges until told to stop; returns what it saw.
    async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<(usize, Tracker)> {
        let mut out = BytesMut::with_capacity(4096);
        let base = self.index * self.shared.flows;
        loop {
            if self.input.capacity() - self.input.len() < READ_CHUNK / 4 {
                self.input.reserve(READ_CHUNK);
            }
            tokio::select! {
                biased;
                _ = stop.changed() => return Ok((self.index, self.tracker)),
                read = self.stream.read_buf(&mut self.input) => {
                    if read.context("receiving")? == 0 {
                        bail!("subscriber {}: the broker closed the connection", self.index);
                    }
                }
            }
            let now = now_ns();
            while let Some(packet) = mqtt_codec::decode(&mut self.input, VERSION, u32::MAX)
                .context("decoding what the broker sent a subscriber")?
            {
                match packet {
                    Packet::Publish(publish) => {
                        self.tracker.record(&publish.payload, now);
                        match (publish.qos, publish.packet_id) {
                            (QoS::AtLeastOnce, Some(id)) => {
                                encode(&Packet::PubAck(Ack::new(id)), &mut out)?;
                            }
                            (QoS::ExactlyOnce, Some(id)) => {
                                encode(&Packet::PubRec(Ack::new(id)), &mut out)?;
                            }
                            _ => {}
                        }
                    }
                    Packet::PubRel(ack) => {
                        encode(&Packet::PubComp(Ack::new(ack.packet_id)), &mut out)?
                    }
                    other => bail!("unexpected {:?} to a subscriber", other.packet_type()),
                }
            }
            for (flow, next) in self.tracker.next.iter().enumerate() {
                self.shared.progress[base + flow].store(*next, Ordering::Release);
            }
            self.shared.received[self.index].store(self.tracker.received(), Ordering::Release);
            self.shared.moved.notify_waiters();
            if !out.is_empty() {
                self.stream.write_all(&out).await.context("acknowledging")?;
                out.clear();
            }
        }
    }
}

fn encode(packet: &Packet, out: &mut BytesMut) -> Result<()> {
    mqtt_codec::encode(packet, VERSION, u32::MAX, out).context("encoding an acknowledgement")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(shape: Shape, publishers: usize, subscribers: usize) -> LoadSpec {
        LoadSpec {
            shape,
            publishers,
            subscribers,
            qos: QoS::AtMostOnce,
            payload: 64,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            rate: None,
            window: Some(100),
            record_latency: false,
            persistent_subscribers: false,
            topic_prefix: "b".into(),
            drain: Duration::from_secs(1),
        }
    }

    #[test]
    fn one_topic_sends_every_flow_to_every_subscriber() {
        let fan_in = spec(Shape::OneTopic, 16, 1);
        assert_eq!(fan_in.flows_of(0), (0..16).collect::<Vec<_>>());
        assert_eq!(fan_in.topic(3), fan_in.filter(0));
        let shared = Shared::new(&spec(Shape::OneTopic, 1, 64));
        assert_eq!(shared.receivers[0].len(), 64);
        shared.sent[0].store(10, Ordering::Release);
        assert_eq!(shared.expected(), 640);
    }

    #[test]
    fn pairs_keep_each_flow_to_its_own_subscriber() {
        let pairs = spec(Shape::Pairs, 16, 16);
        assert_eq!(pairs.flows_of(5), vec![5]);
        assert_ne!(pairs.topic(1), pairs.filter(2));
        let shared = Shared::new(&pairs);
        assert_eq!(shared.receivers[5], vec![5 * 16 + 5]);
        shared.progress[5 * 16 + 5].store(7, Ordering::Release);
        assert_eq!(shared.slowest(5), 7);
        assert_eq!(shared.slowest(4), 0);
    }
}
