//! `--hardening`'s floods (issue 12). A slow consumer: a subscriber stops reading while two
//! publishers flood its topic at QoS 0 and 1 (4 KiB, `max_queued_messages 100`,
//! `max_queued_bytes` 1 MiB); measured are the broker's memory, its `$SYS` drop counter and the
//! latency of a healthy subscriber on a topic of its own, unloaded and during the flood. A bad-login storm: wrong
//! passwords against argon2id entries (46 MiB a check) from several tasks, without waiting for
//! answers, while a known client logs in again and again; measured are that client's CONNACK
//! latency, a first login's, the rate of wrong logins and the broker's memory.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use bytes::{Bytes, BytesMut};
use mqtt_codec::{
    Connect, MqttString, Packet, PacketId, Publish, QoS, ReasonCode, TopicName, encode,
};
use mqtt_core::auth::HashAlgorithm;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

use crate::hardening::Brokers;
use crate::net::{self, VERSION};
use crate::stats::percentile;
use crate::target::{BrokerKind, RunningBroker, free_port};

/// How long each flood lasts.
const FLOOD_FOR: Duration = Duration::from_secs(10);
/// The healthy subscriber's latency is probed this often, unloaded and during the flood.
const PROBE_EVERY: Duration = Duration::from_millis(10);
/// Flood messages: 4 KiB.
const PAYLOAD: usize = 4096;
/// A flood publisher waits for the broker to route each batch of this many messages.
const BATCH: u16 = 32;
/// Flood publishers, and the messages per second they send together at most: the same load
/// for every broker (one that routes slower gets less, as the publishers await each batch).
const FLOODERS: usize = 2;
const FLOOD_RATE: u32 = 5_000;
/// `max_queued_bytes` for the slow consumer.
const MAX_QUEUED_BYTES: usize = 1024 * 1024;
/// Attacking tasks, and how often each sends a wrong CONNECT.
const ATTACKERS: usize = 8;
const ATTACK_EVERY: Duration = Duration::from_millis(10);
/// An attacker drops a connection without an answer after this long.
const ATTACKER_PATIENCE: Duration = Duration::from_secs(1);

/// Runs both floods against each broker and returns the markdown tables.
pub(crate) fn run(brokers: &Brokers<'_>, workdir: &Path) -> Result<String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let mut slow = format!(
        "| Slow consumer ({}s flood) | RSS growth (peak) | Dropped (`$SYS`) | Healthy p50 unloaded \
         | Healthy p50 flooded | Ratio |\n|---|---:|---:|---:|---:|---:|\n",
        FLOOD_FOR.as_secs()
    );
    let list =
        [(BrokerKind::Culex, Some(brokers.culex)), (BrokerKind::Mosquitto, brokers.mosquitto)];
    for (kind, exe) in list {
        let Some(exe) = exe else { continue };
        eprintln!("culex-bench: slow consumer against {}", kind.name());
        let port = free_port()?;
        let config = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nlog_type error\n\
             connection_messages false\nsys_interval 1\nmax_queued_messages 100\n\
             max_queued_bytes {MAX_QUEUED_BYTES}\n"
        );
        let broker = RunningBroker::start_with(kind, exe, workdir, port, &config)?;
        let row = match runtime.block_on(slow_consumer(&broker)) {
            Ok(o) => format!(
                "{:.1} MiB | {} | {} | {} | {:.1}×",
                o.growth as f64 / 1048576.0,
                o.dropped,
                micros(o.unloaded),
                micros(o.loaded),
                o.loaded as f64 / o.unloaded.max(1) as f64
            ),
            Err(err) => format!("failed: {err:#} | | | | "),
        };
        slow.push_str(&format!("| {} | {row} |\n", kind.name()));
    }
    eprintln!("culex-bench: bad-login storm against culex");
    let logins = runtime.block_on(bad_logins(brokers.culex, workdir))?;
    let table = format!(
        "| Bad-login storm ({}s, argon2id m=46 MiB) | Wrong logins/s | Known client's CONNACK \
         p50 | p99 | First login during the storm | RSS growth (peak) |\n\
         |---|---:|---:|---:|---:|---:|\n| culex | {:.0} | {} | {} | {} | {:.0} MiB |\n",
        FLOOD_FOR.as_secs(),
        logins.attempts as f64 / FLOOD_FOR.as_secs_f64(),
        micros(logins.p50),
        micros(logins.p99),
        micros(logins.first),
        logins.growth as f64 / 1048576.0
    );
    Ok(format!("{slow}\n{table}"))
}

/// `n` microseconds, shown in the unit that suits them.
fn micros(n: u64) -> String {
    if n >= 10_000 { format!("{:.1} ms", n as f64 / 1000.0) } else { format!("{n} µs") }
}

/// The broker's peak resident memory while `running` is set, sampled every 20 ms.
fn sample_peak(pid: u32, running: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut peak = 0;
        while running.load(Ordering::Relaxed) {
            peak = peak.max(crate::procfs::rss(pid).unwrap_or(0));
            sleep(Duration::from_millis(20)).await;
        }
        peak
    })
}

/// What the slow consumer cost one broker.
struct Slow {
    growth: u64,
    dropped: u64,
    /// The healthy subscriber's p50 latency in µs, before and during the flood.
    unloaded: u64,
    loaded: u64,
}

async fn slow_consumer(broker: &RunningBroker) -> Result<Slow> {
    let address = broker.address;
    let (mut healthy, mut input) = net::connect(address, 0, "healthy", 60).await?;
    net::subscribe(&mut healthy, &mut input, "probe", QoS::AtMostOnce).await?;
    let (mut probe, _) = net::connect(address, 1, "probe", 60).await?;
    let start = Instant::now();
    let phase = Arc::new(AtomicU8::new(UNLOADED));
    let reader = {
        let phase = Arc::clone(&phase);
        tokio::spawn(async move { healthy_latencies(healthy, input, start, &phase).await })
    };
    let probes = tokio::spawn(async move {
        loop {
            let sent = start.elapsed().as_nanos() as u64;
            let payload = Bytes::copy_from_slice(&sent.to_be_bytes());
            if probe.write_all(&publish_bytes("probe", payload, QoS::AtMostOnce, 0)?).await.is_err()
            {
                return Ok::<_, anyhow::Error>(probe);
            }
            sleep(PROBE_EVERY).await;
        }
    });
    sleep(FLOOD_FOR / 2).await;

    let (mut stalled, mut stalled_input) = net::connect(address, 2, "stalled", 60).await?;
    net::subscribe(&mut stalled, &mut stalled_input, "flood/#", QoS::AtLeastOnce).await?;
    let before = broker.rss()?;
    let sampling = Arc::new(AtomicBool::new(true));
    let peak = sample_peak(broker.pid, Arc::clone(&sampling));
    phase.store(FLOODED, Ordering::Relaxed);
    let flooders: Vec<_> = (0..FLOODERS).map(|n| tokio::spawn(flood(address, 3 + n))).collect();
    for flooder in flooders {
        flooder.await.context("flood task")??;
    }
    sampling.store(false, Ordering::Relaxed);
    let growth = peak.await.context("sampler")?.saturating_sub(before);
    phase.store(OVER, Ordering::Relaxed);
    let latencies = reader.await.context("healthy subscriber");
    probes.abort();
    let (unloaded, loaded) = latencies??;
    // The counter goes out every sys_interval + 1 seconds.
    sleep(Duration::from_secs(3)).await;
    let dropped = dropped_counter(address).await?;
    drop(stalled);
    Ok(Slow { growth, dropped, unloaded, loaded })
}

/// The encoded v3.1.1 PUBLISH of `payload` to `topic`.
fn publish_bytes(topic: &str, payload: Bytes, qos: QoS, id: u16) -> Result<BytesMut> {
    let mut publish = Publish::new(TopicName::new(topic).context("topic")?, payload);
    publish.qos = qos;
    publish.packet_id = PacketId::new(id);
    let mut out = BytesMut::new();
    encode(&Packet::Publish(publish), VERSION, u32::MAX, &mut out).context("encoding")?;
    Ok(out)
}

/// One flood publisher: [`FLOOD_FOR`] of 4 KiB messages, alternately QoS 0 and 1, its share
/// of [`FLOOD_RATE`] at most, each batch routed (its last PUBACK read) before the next, so the
/// flood waits on the broker's routing rather than in front of it.
async fn flood(address: SocketAddr, index: usize) -> Result<()> {
    let (mut stream, mut input) =
        net::connect(address, index, &format!("flood{index}"), 60).await?;
    let payload = Bytes::from(vec![b'x'; PAYLOAD]);
    let qos0 = publish_bytes("flood/t", payload.clone(), QoS::AtMostOnce, 0)?;
    let per_flooder = f64::from(FLOOD_RATE) / FLOODERS as f64;
    let mut pace =
        tokio::time::interval(Duration::from_secs_f64(f64::from(2 * BATCH) / per_flooder));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = Instant::now();
    while start.elapsed() < FLOOD_FOR {
        pace.tick().await;
        let mut batch = BytesMut::new();
        for id in 1..=BATCH {
            batch.extend_from_slice(&qos0);
            batch.extend_from_slice(&publish_bytes(
                "flood/t",
                payload.clone(),
                QoS::AtLeastOnce,
                id,
            )?);
        }
        stream.write_all(&batch).await.context("flooding")?;
        loop {
            let packet =
                timeout(net::HANDSHAKE_DEADLINE, net::read_packet(&mut stream, &mut input))
                    .await
                    .context("waiting for a PUBACK: timed out")??;
            if matches!(packet, Packet::PubAck(ack) if ack.packet_id.get() == BATCH) {
                break;
            }
        }
    }
    Ok(())
}

/// The phases of the slow consumer, for the healthy subscriber's samples.
const UNLOADED: u8 = 0;
const FLOODED: u8 = 1;
const OVER: u8 = 2;

/// Reads the probes the healthy subscriber gets until `phase` is [`OVER`]; returns their p50
/// latencies (µs) before and during the flood.
async fn healthy_latencies(
    mut stream: TcpStream,
    mut input: BytesMut,
    start: Instant,
    phase: &AtomicU8,
) -> Result<(u64, u64)> {
    let mut samples: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    loop {
        let packet = timeout(Duration::from_secs(30), net::read_packet(&mut stream, &mut input))
            .await
            .context("the healthy subscriber heard nothing for 30 s")??;
        let Packet::Publish(publish) = packet else { continue };
        let Ok(sent) = <[u8; 8]>::try_from(&publish.payload[..]) else { continue };
        let now = start.elapsed();
        let latency = now.saturating_sub(Duration::from_nanos(u64::from_be_bytes(sent)));
        match phase.load(Ordering::Relaxed) {
            UNLOADED => samples[0].push(latency.as_micros() as u64),
            FLOODED => samples[1].push(latency.as_micros() as u64),
            _ => break,
        }
    }
    let [mut unloaded, mut loaded] = samples;
    unloaded.sort_unstable();
    loaded.sort_unstable();
    match (percentile(&unloaded, 50.0), percentile(&loaded, 50.0)) {
        (Some(unloaded), Some(loaded)) => Ok((unloaded, loaded)),
        _ => bail!("no probes reached the healthy subscriber"),
    }
}

/// The retained `$SYS/broker/publish/messages/dropped`.
async fn dropped_counter(address: SocketAddr) -> Result<u64> {
    let (mut stream, mut input) = net::connect(address, 9, "sys", 60).await?;
    let topic = "$SYS/broker/publish/messages/dropped";
    net::subscribe(&mut stream, &mut input, topic, QoS::AtMostOnce).await?;
    loop {
        let packet = timeout(Duration::from_secs(10), net::read_packet(&mut stream, &mut input))
            .await
            .context("no $SYS drop counter within 10 s")??;
        if let Packet::Publish(publish) = packet {
            let text = String::from_utf8_lossy(&publish.payload).into_owned();
            return text.trim().parse().with_context(|| format!("drop counter {text:?}"));
        }
    }
}

/// What the bad-login storm cost culex.
struct Logins {
    attempts: u64,
    /// The known client's CONNACK latency (µs): p50, p99, and a first login's.
    p50: u64,
    p99: u64,
    first: u64,
    growth: u64,
}

async fn bad_logins(culex: &Path, workdir: &Path) -> Result<Logins> {
    let port = free_port()?;
    let passwords = workdir.join("flood-passwords");
    let mut file = String::new();
    for (user, password) in [("known", "right"), ("first", "right")] {
        let hash = HashAlgorithm::DEFAULT
            .hash(password.as_bytes(), b"benchsaltbenchsalt")
            .context("hashing a password")?;
        file.push_str(&format!("{user}:{hash}\n"));
    }
    std::fs::write(&passwords, file).context("writing the password file")?;
    let config = format!(
        "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\nlog_type error\n\
         connection_messages false\n",
        passwords.display()
    );
    let broker = RunningBroker::start_with(BrokerKind::Culex, culex, workdir, port, &config)?;
    let address = broker.address;
    // A known client: it has logged in before.
    login(address, 0, "known").await?;
    let before = broker.rss()?;
    let running = Arc::new(AtomicBool::new(true));
    let peak = sample_peak(broker.pid, Arc::clone(&running));
    let attempts = Arc::new(AtomicU64::new(0));
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|n| tokio::spawn(attack(address, n, Arc::clone(&running), Arc::clone(&attempts))))
        .collect();
    let start = Instant::now();
    let first = tokio::spawn(async move { login(address, 1, "first").await });
    let mut latencies = Vec::new();
    while start.elapsed() < FLOOD_FOR {
        latencies.push(login(address, 2, "known").await?);
        sleep(Duration::from_millis(50)).await;
    }
    let first = first.await.context("first login")??;
    running.store(false, Ordering::Relaxed);
    for attacker in attackers {
        attacker.await.context("attacker")?;
    }
    let growth = peak.await.context("sampler")?.saturating_sub(before);
    latencies.sort_unstable();
    Ok(Logins {
        attempts: attempts.load(Ordering::Relaxed),
        p50: percentile(&latencies, 50.0).unwrap_or(0),
        p99: percentile(&latencies, 99.0).unwrap_or(0),
        first,
        growth,
    })
}

/// A CONNECT as `user` with `password`.
fn connect_bytes(client_id: &str, user: &str, password: &str) -> Result<BytesMut> {
    let mut connect = Connect::new(VERSION, MqttString::new(client_id).context("client id")?);
    connect.username = Some(MqttString::new(user).context("username")?);
    connect.password = Some(Bytes::copy_from_slice(password.as_bytes()));
    let mut out = BytesMut::new();
    encode(&Packet::Connect(Box::new(connect)), VERSION, u32::MAX, &mut out).context("encoding")?;
    Ok(out)
}

/// Logs `user` in with the right password; the CONNACK's latency in µs.
async fn login(address: SocketAddr, index: usize, user: &str) -> Result<u64> {
    let sent = Instant::now();
    let mut stream = net::open(address, index).await?;
    stream.write_all(&connect_bytes(user, user, "right")?).await.context("CONNECT")?;
    let mut input = BytesMut::new();
    let answer = timeout(Duration::from_secs(60), net::read_packet(&mut stream, &mut input))
        .await
        .context("no CONNACK within 60 s")??;
    match answer {
        Packet::ConnAck(ack) if ack.reason == ReasonCode::Success => {
            Ok(sent.elapsed().as_micros() as u64)
        }
        other => bail!("{user} refused: {other:?}"),
    }
}

/// One attacker: a CONNECT with a wrong password every [`ATTACK_EVERY`] on a new connection,
/// each dropped after [`ATTACKER_PATIENCE`]; half name the known user, half nobody.
async fn attack(address: SocketAddr, n: usize, running: Arc<AtomicBool>, attempts: Arc<AtomicU64>) {
    let mut open = std::collections::VecDeque::new();
    let mut sent = 0_u64;
    while running.load(Ordering::Relaxed) {
        let user = if sent % 2 == 0 { "known".to_owned() } else { format!("nobody{n}") };
        let wrong = format!("wrong{sent}");
        if let (Ok(mut stream), Ok(connect)) =
            (net::open(address, 3 + n).await, connect_bytes(&format!("a{n}-{sent}"), &user, &wrong))
        {
            if stream.write_all(&connect).await.is_ok() {
                sent += 1;
                attempts.fetch_add(1, Ordering::Relaxed);
                open.push_back((Instant::now(), stream));
            }
        }
        while open.front().is_some_and(|(at, _)| at.elapsed() > ATTACKER_PATIENCE) {
            open.pop_front();
        }
        sleep(ATTACK_EVERY).await;
    }
}
