//! Client work of the durable rows that the throughput generator does not do: a paced QoS 1
//! publisher that times each PUBACK beside a persistent subscriber that times each delivery,
//! filling an offline persistent session with a fixed number of messages from several
//! publishers, and counting what a persistent session holds after a restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use bytes::BytesMut;
use mqtt_codec::{Ack, Disconnect, Packet, QoS, ReasonCode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until, timeout};

use crate::load::PUBLISHER_INFLIGHT;
use crate::net::{self, VERSION};
use crate::payload::{PublishTemplate, Stamp, now_ns};

/// Payload of every probe message: the stamp and a little more.
pub(crate) const PAYLOAD: usize = 32;

/// Latencies in nanoseconds of the messages sent after the warm-up, each list sorted.
#[derive(Debug, Default)]
pub(crate) struct Latencies {
    /// PUBLISH written → PUBACK read, at the publisher.
    pub(crate) acknowledged: Vec<u64>,
    /// PUBLISH written → PUBLISH read, at the subscriber.
    pub(crate) delivered: Vec<u64>,
}

/// One publisher at `rate` msg/s, QoS 1, to one subscriber with a persistent session, for
/// `duration` (the first `warmup` not counted), then up to `drain` for the rest to arrive.
pub(crate) async fn latency(
    broker: SocketAddr,
    rate: u64,
    duration: Duration,
    warmup: Duration,
    drain: Duration,
) -> Result<Latencies> {
    let run = now_ns();
    let topic = format!("durable/latency/{run}");
    let (mut stream, mut input) =
        net::connect_session(broker, 0, &format!("bench-lat-s-{run}"), 0, false).await?;
    net::subscribe(&mut stream, &mut input, &topic, QoS::AtLeastOnce).await?;
    let (publisher, pub_input) = net::connect(broker, 1, &format!("bench-lat-p-{run}"), 0).await?;

    let start = Instant::now();
    let counted_from = now_ns() + u64::try_from(warmup.as_nanos()).unwrap_or(u64::MAX);
    let received = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = watch::channel(false);
    let subscriber =
        tokio::spawn(receive(stream, input, counted_from, Arc::clone(&received), stopped));
    let template = PublishTemplate::new(&topic, QoS::AtLeastOnce, PAYLOAD)?;
    let paced = Paced { stream: publisher, input: pub_input, template, counted_from };
    let (acknowledged, sent) = paced.run(rate, start + duration, start + duration + drain).await?;
    let drain_end = Instant::now() + drain;
    while received.load(Ordering::Acquire) < sent && Instant::now() < drain_end {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = stop.send(true);
    let delivered =
        timeout(Duration::from_secs(5), subscriber).await.context("subscriber stuck")???;
    let count = received.load(Ordering::Acquire);
    ensure!(count >= sent, "{count} of {sent} messages delivered");
    Ok(Latencies { acknowledged, delivered })
}

/// A subscriber that acknowledges everything and times each message stamped at or after
/// `counted_from`, until told to stop; returns the latencies, sorted.
async fn receive(
    mut stream: TcpStream,
    mut input: BytesMut,
    counted_from: u64,
    received: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Result<Vec<u64>> {
    let mut latencies = Vec::new();
    let mut out = BytesMut::new();
    loop {
        let now = now_ns();
        while let Some(packet) = decode(&mut input)? {
            let Packet::Publish(publish) = packet else {
                bail!("unexpected {:?} to the subscriber", packet.packet_type());
            };
            if let Some(stamp) = Stamp::read(&publish.payload)
                && stamp.sent_ns >= counted_from
            {
                latencies.push(now.saturating_sub(stamp.sent_ns));
            }
            received.fetch_add(1, Ordering::AcqRel);
            if let Some(id) = publish.packet_id {
                encode(&Packet::PubAck(Ack::new(id)), &mut out)?;
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await.context("acknowledging")?;
            out.clear();
        }
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            read = stream.read_buf(&mut input) => {
                if read.context("receiving")? == 0 {
                    bail!("the broker closed the subscriber's connection");
                }
            }
        }
    }
    latencies.sort_unstable();
    Ok(latencies)
}

/// The paced publisher.
struct Paced {
    stream: TcpStream,
    input: BytesMut,
    template: PublishTemplate,
    counted_from: u64,
}

impl Paced {
    /// Publishes one message per tick until `end`, then waits for the last PUBACKs until
    /// `drain_end`. Returns the PUBACK latencies (sorted) and how many messages were sent.
    async fn run(mut self, rate: u64, end: Instant, drain_end: Instant) -> Result<(Vec<u64>, u64)> {
        let mut sent_at = vec![0u64; usize::from(u16::MAX) + 1];
        let mut ticker = interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let (mut sequence, mut outstanding) = (0u64, 0u64);
        let mut latencies = Vec::new();
        let mut out = BytesMut::new();
        loop {
            let now = Instant::now();
            let sending = now < end;
            if !sending && outstanding == 0 {
                break;
            }
            if now >= drain_end {
                bail!("{outstanding} messages never acknowledged");
            }
            tokio::select! {
                _ = ticker.tick(), if sending => {
                    let packet_id = u16::try_from(sequence % u64::from(u16::MAX)).unwrap_or(0) + 1;
                    let sent_ns = now_ns();
                    sent_at[usize::from(packet_id)] = sent_ns;
                    self.template.append(&mut out, packet_id, Stamp { flow: 0, sequence, sent_ns });
                    self.stream.write_all(&out).await.context("publishing")?;
                    out.clear();
                    sequence += 1;
                    outstanding += 1;
                }
                read = self.stream.read_buf(&mut self.input) => {
                    if read.context("reading PUBACKs")? == 0 {
                        bail!("the broker closed the publisher's connection");
                    }
                    let now = now_ns();
                    while let Some(packet) = decode(&mut self.input)? {
                        let Packet::PubAck(ack) = packet else {
                            bail!("unexpected {:?} to the publisher", packet.packet_type());
                        };
                        let sent = sent_at[usize::from(ack.packet_id.get())];
                        if sent >= self.counted_from {
                            latencies.push(now.saturating_sub(sent));
                        }
                        outstanding = outstanding.saturating_sub(1);
                    }
                }
                () = sleep_until(drain_end) => {}
            }
        }
        latencies.sort_unstable();
        Ok((latencies, sequence))
    }
}

/// Subscribes a persistent session `client_id` to `topic` at QoS 1 and disconnects it, then
/// publishes `messages` QoS 1 messages to `topic` from `publishers` connections (each with up
/// to the usual in-flight window), until every one is acknowledged or `deadline` passes.
pub(crate) async fn fill(
    broker: SocketAddr,
    client_id: &str,
    topic: &str,
    messages: u64,
    publishers: usize,
    deadline: Duration,
) -> Result<()> {
    let (mut stream, mut input) = net::connect_session(broker, 0, client_id, 0, false).await?;
    net::subscribe(&mut stream, &mut input, topic, QoS::AtLeastOnce).await?;
    let mut out = BytesMut::new();
    encode(&Packet::Disconnect(Disconnect::new(ReasonCode::NORMAL_DISCONNECTION)), &mut out)?;
    stream.write_all(&out).await.context("disconnecting the subscriber")?;
    // The broker closes the connection after DISCONNECT: then the session is offline.
    let mut rest = [0u8; 64];
    timeout(net::HANDSHAKE_DEADLINE, stream.read(&mut rest))
        .await
        .context("the broker kept the subscriber connected after DISCONNECT")?
        .context("waiting for the broker to close")?;
    let run = now_ns();
    let mut tasks = JoinSet::new();
    let share = messages.div_ceil(publishers.max(1) as u64);
    for index in 0..publishers.max(1) {
        let count = share.min(messages.saturating_sub(share * index as u64));
        let template = PublishTemplate::new(topic, QoS::AtLeastOnce, PAYLOAD)?;
        let (stream, input) =
            net::connect(broker, 1 + index, &format!("bench-fill-{index}-{run}"), 0).await?;
        tasks.spawn(publish_all(stream, input, template, index, count));
    }
    timeout(deadline, async {
        while let Some(result) = tasks.join_next().await {
            result.context("fill task")??;
        }
        anyhow::Ok(())
    })
    .await
    .with_context(|| format!("filling {messages} messages took longer than {deadline:?}"))?
}

/// Publishes `count` messages as fast as the in-flight window allows and waits for every PUBACK.
async fn publish_all(
    mut stream: TcpStream,
    mut input: BytesMut,
    template: PublishTemplate,
    flow: usize,
    count: u64,
) -> Result<()> {
    let mut out = BytesMut::new();
    let (mut sequence, mut acknowledged) = (0u64, 0u64);
    while acknowledged < count {
        let room = PUBLISHER_INFLIGHT - (sequence - acknowledged);
        let batch = room.min(count - sequence).min(256);
        if batch > 0 {
            let sent_ns = now_ns();
            for _ in 0..batch {
                let packet_id = u16::try_from(sequence % u64::from(u16::MAX)).unwrap_or(0) + 1;
                let stamp =
                    Stamp { flow: u32::try_from(flow).unwrap_or(u32::MAX), sequence, sent_ns };
                template.append(&mut out, packet_id, stamp);
                sequence += 1;
            }
            stream.write_all(&out).await.context("publishing")?;
            out.clear();
        }
        if sequence - acknowledged >= PUBLISHER_INFLIGHT || sequence == count {
            if stream.read_buf(&mut input).await.context("reading PUBACKs")? == 0 {
                bail!("the broker closed a filling publisher's connection");
            }
        } else {
            match stream.try_read_buf(&mut input) {
                Ok(0) => bail!("the broker closed a filling publisher's connection"),
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err).context("reading PUBACKs"),
            }
        }
        while let Some(packet) = decode(&mut input)? {
            match packet {
                Packet::PubAck(_) => acknowledged += 1,
                other => bail!("unexpected {:?} to a filling publisher", other.packet_type()),
            }
        }
    }
    Ok(())
}

/// Resumes the persistent session `client_id` and counts (acknowledging each) the messages it
/// receives, until `expected` have arrived or none has for `quiet`.
pub(crate) async fn count_queued(
    broker: SocketAddr,
    client_id: &str,
    expected: u64,
    quiet: Duration,
) -> Result<u64> {
    let (mut stream, mut input) = net::connect_session(broker, 0, client_id, 0, false).await?;
    let mut out = BytesMut::new();
    let mut count = 0u64;
    loop {
        while let Some(packet) = decode(&mut input)? {
            match packet {
                Packet::Publish(publish) => {
                    count += 1;
                    if let Some(id) = publish.packet_id {
                        encode(&Packet::PubAck(Ack::new(id)), &mut out)?;
                    }
                }
                other => bail!("unexpected {:?} to the queue's subscriber", other.packet_type()),
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await.context("acknowledging")?;
            out.clear();
        }
        if count >= expected {
            return Ok(count);
        }
        match timeout(quiet, stream.read_buf(&mut input)).await {
            Err(_) => return Ok(count),
            Ok(read) => {
                if read.context("receiving the queue")? == 0 {
                    bail!("the broker closed the connection after {count} messages");
                }
            }
        }
    }
}

fn decode(input: &mut BytesMut) -> Result<Option<Packet>> {
    mqtt_codec::decode(input, VERSION, u32::MAX).context("decoding what the broker sent")
}

fn encode(packet: &Packet, out: &mut BytesMut) -> Result<()> {
    mqtt_codec::encode(packet, VERSION, u32::MAX, out).context("encoding a packet")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smoke::start_broker;

    const DEADLINE: Duration = Duration::from_secs(20);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn paced_latency_times_acks_and_deliveries() {
        let (broker, _stop) = start_broker();
        let run = latency(
            broker,
            2_000,
            Duration::from_millis(300),
            Duration::from_millis(50),
            Duration::from_secs(3),
        );
        let latencies = timeout(DEADLINE, run).await.unwrap().unwrap();
        assert!(latencies.acknowledged.len() > 100, "{latencies:?}");
        assert!(latencies.delivered.len() > 100, "{latencies:?}");
        assert!(latencies.acknowledged.is_sorted() && latencies.delivered.is_sorted());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_filled_offline_session_is_counted_whole() {
        let (broker, _stop) = start_broker();
        let filled = fill(broker, "bench-q", "durable/q", 3_001, 3, DEADLINE);
        timeout(DEADLINE, filled).await.unwrap().unwrap();
        let counted = count_queued(broker, "bench-q", 3_001, Duration::from_secs(2));
        assert_eq!(timeout(DEADLINE, counted).await.unwrap().unwrap(), 3_001);
    }
}
