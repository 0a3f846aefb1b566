//! `--hardening`: slowloris against each broker (issue 12). Many connections start a
//! handshake and never finish it: a CONNECT cut short on a plain listener, no ClientHello on a
//! TLS listener, a WebSocket upgrade request trickled one byte a second. Measures the broker's
//! resident memory per stalled connection and when the broker closed them.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

use crate::net;
use crate::target::{BrokerKind, RunningBroker, free_port};

/// Connections being opened at once.
const CONCURRENCY: usize = 128;
/// Opening them all must finish within this.
const OPEN_DEADLINE: Duration = Duration::from_secs(120);
/// A stalled connection the broker has not closed after this counts as never closed.
const CLOSE_DEADLINE: Duration = Duration::from_secs(150);
/// Time given to the broker to settle before its memory is read.
const SETTLE: Duration = Duration::from_secs(1);

/// The upgrade request a WebSocket client sends, trickled here one byte a second.
const UPGRADE: &[u8] = b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
/// The first bytes of a v3.1.1 CONNECT (fixed header and the protocol name's length).
const CONNECT_START: &[u8] = &[0x10, 0x0d, 0x00];

/// A half-finished handshake, and the listener it targets (index into the config's ports).
#[derive(Clone, Copy, Debug)]
enum Stall {
    Connect,
    Tls,
    Upgrade,
}

impl Stall {
    const ALL: [Self; 3] = [Self::Connect, Self::Tls, Self::Upgrade];

    fn label(self) -> &'static str {
        match self {
            Self::Connect => "TCP: CONNECT never completed",
            Self::Tls => "TLS: no ClientHello",
            Self::Upgrade => "WebSocket: upgrade trickled 1 B/s",
        }
    }

    fn listener(self) -> usize {
        match self {
            Self::Connect => 0,
            Self::Tls => 1,
            Self::Upgrade => 2,
        }
    }
}

/// What one broker did with `count` stalled connections of one kind.
#[derive(Debug)]
struct Outcome {
    /// RSS growth divided by the connections that opened.
    rss_per_connection: f64,
    /// Connections the broker accepted (the others were refused).
    opened: usize,
    closed: usize,
    first_close: Option<Duration>,
    last_close: Option<Duration>,
}

/// The brokers to measure.
pub(crate) struct Brokers<'a> {
    pub(crate) culex: &'a Path,
    pub(crate) mosquitto: Option<&'a Path>,
}

/// Runs every kind of stall with `count` connections against each broker (a fresh process per
/// kind) and returns the markdown table.
pub(crate) fn run(brokers: &Brokers<'_>, count: usize, workdir: &Path) -> Result<String> {
    crate::orchestrate::check_file_limit(count)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    certificates(workdir)?;
    let mut table = format!(
        "| Half-finished handshake ({count} at once) | Broker | RSS per connection | \
         Opened | Closed | Closed after (first – last) |\n|---|---|---:|---:|---:|---|\n"
    );
    let list =
        [(BrokerKind::Culex, Some(brokers.culex)), (BrokerKind::Mosquitto, brokers.mosquitto)];
    for stall in Stall::ALL {
        for (kind, exe) in list {
            let Some(exe) = exe else { continue };
            eprintln!("culex-bench: {} against {}", stall.label(), kind.name());
            let ports = [free_port()?, free_port()?, free_port()?];
            let broker =
                RunningBroker::start_with(kind, exe, workdir, ports[0], &config(ports, workdir))?;
            let address = SocketAddr::from(([127, 0, 0, 1], ports[stall.listener()]));
            let row = match runtime.block_on(measure(&broker, address, stall, count)) {
                Ok(outcome) => {
                    let seconds = |at: Option<Duration>| {
                        at.map_or_else(|| "–".to_owned(), |at| format!("{:.1} s", at.as_secs_f64()))
                    };
                    format!(
                        "{:.1} KiB | {} | {} | {} – {}",
                        outcome.rss_per_connection / 1024.0,
                        outcome.opened,
                        outcome.closed,
                        seconds(outcome.first_close),
                        seconds(outcome.last_close),
                    )
                }
                Err(err) => format!("failed: {err:#} | | | "),
            };
            table.push_str(&format!("| {} | {} | {row} |\n", stall.label(), kind.name()));
        }
    }
    Ok(table)
}

/// The configuration: a plain, a TLS and a WebSockets listener on `ports`.
fn config(ports: [u16; 3], dir: &Path) -> String {
    let [plain, tls, ws] = ports;
    let dir = dir.display();
    format!(
        "allow_anonymous true\nlog_type error\nconnection_messages false\n\
         listener {plain} 127.0.0.1\n\
         listener {tls} 127.0.0.1\ncertfile {dir}/server.crt\nkeyfile {dir}/server.key\n\
         listener {ws} 127.0.0.1\nprotocol websockets\n"
    )
}

/// A self-signed server certificate and key in `dir`, made by `openssl`, readable by all.
fn certificates(dir: &Path) -> Result<()> {
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"])
        .args(["-keyout", "server.key", "-out", "server.crt", "-subj", "/CN=localhost"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running openssl (apt-get install openssl)")?;
    if !status.success() {
        bail!("openssl could not make a certificate ({status})");
    }
    // Mosquitto started as root reads it after dropping to the `mosquitto` user.
    let key = dir.join("server.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("making {} readable", key.display()))
}

/// Opens `count` stalled connections of kind `stall` to `address`, reads the memory of
/// `broker` once all are open, then waits for the broker to close them.
async fn measure(
    broker: &RunningBroker,
    address: SocketAddr,
    stall: Stall,
    count: usize,
) -> Result<Outcome> {
    let before = broker.rss()?;
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let (opened, mut opened_rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for index in 0..count {
        let (permits, opened) = (Arc::clone(&permits), opened.clone());
        tasks.spawn(async move {
            let permit = permits.acquire_owned().await?;
            // A refused connection counts as such, it does not end the measurement.
            let stream = net::open(address, index).await;
            drop(permit);
            let _ = opened.send(stream.is_ok());
            match stream {
                Ok(stream) => hold(stream, stall).await,
                Err(_) => Ok(End::Refused),
            }
        });
    }
    drop(opened);
    let opened = timeout(OPEN_DEADLINE, async {
        let mut opened = 0;
        while let Some(ok) = opened_rx.recv().await {
            opened += usize::from(ok);
        }
        opened
    })
    .await
    .with_context(|| format!("opening {count} connections took over {OPEN_DEADLINE:?}"))?;
    sleep(SETTLE).await;
    let growth = broker.rss()?.saturating_sub(before) as f64;
    let mut times = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        if let End::Closed(at) = joined.context("stalled connection task")?? {
            times.push(at);
        }
    }
    Ok(Outcome {
        rss_per_connection: growth / opened.max(1) as f64,
        opened,
        closed: times.len(),
        first_close: times.iter().min().copied(),
        last_close: times.iter().max().copied(),
    })
}

/// How one stalled connection ended.
enum End {
    /// The broker refused it.
    Refused,
    /// The broker closed it this long after it opened.
    Closed(Duration),
    /// Still open after [`CLOSE_DEADLINE`].
    Open,
}

/// Stalls the handshake on `stream` until the broker closes it.
async fn hold(mut stream: tokio::net::TcpStream, stall: Stall) -> Result<End> {
    let start = Instant::now();
    if matches!(stall, Stall::Connect) {
        stream.write_all(CONNECT_START).await.context("sending a CONNECT's start")?;
    }
    let mut sent = 0;
    let mut buf = [0; 512];
    while start.elapsed() < CLOSE_DEADLINE {
        if matches!(stall, Stall::Upgrade) && sent < UPGRADE.len() {
            if stream.write_all(&UPGRADE[sent..=sent]).await.is_err() {
                return Ok(End::Closed(start.elapsed()));
            }
            sent += 1;
        }
        // A second without an answer (or bytes, which the broker may send) means still open.
        let read = timeout(Duration::from_secs(1), stream.read(&mut buf)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            return Ok(End::Closed(start.elapsed()));
        }
    }
    Ok(End::Open)
}
