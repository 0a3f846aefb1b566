//! The processes a benchmark measures: `culex` and Debian's `mosquitto` started on free
//! loopback ports from one shared configuration file, and the `culex-bench sink` process.
//! Every start waits for the port with a deadline; dropping a handle kills the process.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::cpus;
use crate::procfs;

/// How long a broker may take to open its port.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// The configuration both brokers run with (`PORT` is replaced). Equal limits: 1000 QoS 1/2
/// messages in flight per client and 100,000 queued, no connection limit, no persistence,
/// only error lines logged. The load generator's end-to-end window keeps every queue far
/// below those limits, so neither broker has to drop a message it acknowledged.
pub(crate) const CONFIG: &str = "\
listener PORT 127.0.0.1
allow_anonymous true
max_inflight_messages 1000
max_queued_messages 100000
log_type error
connection_messages false
";

/// Which broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum BrokerKind {
    Culex,
    Mosquitto,
}

impl BrokerKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Culex => "culex",
            Self::Mosquitto => "mosquitto",
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, read and released).
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A broker process.
#[derive(Debug)]
pub(crate) struct RunningBroker {
    pub(crate) kind: BrokerKind,
    pub(crate) address: SocketAddr,
    pub(crate) pid: u32,
    child: Child,
    log: PathBuf,
}

impl RunningBroker {
    /// Starts `exe -c CONFIG` in `dir` and waits until it accepts connections.
    pub(crate) fn start(kind: BrokerKind, exe: &Path, dir: &Path) -> Result<Self> {
        let port = free_port()?;
        let text = CONFIG.replace("PORT", &port.to_string());
        Self::spawn(kind, Command::new(exe), exe, dir, port, &text)
    }

    /// Like [`RunningBroker::start`], with the broker allowed only `cpus` (under `taskset`).
    pub(crate) fn start_on(
        kind: BrokerKind,
        exe: &Path,
        dir: &Path,
        cpus: &[usize],
    ) -> Result<Self> {
        let port = free_port()?;
        let text = CONFIG.replace("PORT", &port.to_string());
        Self::spawn(kind, cpus::pinned_command(cpus, exe), exe, dir, port, &text)
    }

    /// Starts `exe` with the configuration `text` in `dir` and waits until it accepts
    /// connections on `port` (its first listener).
    pub(crate) fn start_with(
        kind: BrokerKind,
        exe: &Path,
        dir: &Path,
        port: u16,
        text: &str,
    ) -> Result<Self> {
        Self::spawn(kind, Command::new(exe), exe, dir, port, text)
    }

    /// Runs `command` (`exe`, perhaps behind `taskset`) with `-c` and the configuration
    /// `text`, and waits until it accepts connections on `port`.
    fn spawn(
        kind: BrokerKind,
        mut command: Command,
        exe: &Path,
        dir: &Path,
        port: u16,
        text: &str,
    ) -> Result<Self> {
        let config = dir.join(format!("{}-{port}.conf", kind.name()));
        fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
        let log = dir.join(format!("{}-{port}.log", kind.name()));
        let log_file =
            fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = command
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut broker = Self { kind, address, pid: child.id(), child, log };
        broker.wait_ready()?;
        Ok(broker)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                let log = fs::read_to_string(&self.log).unwrap_or_default();
                bail!("{} exited at start ({status}): {log}", self.kind.name());
            }
            if TcpStream::connect_timeout(&self.address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not open {} in {START_DEADLINE:?}", self.kind.name(), self.address);
            }
            sleep(Duration::from_millis(10));
        }
    }

    /// Resident memory now, in bytes.
    pub(crate) fn rss(&self) -> Result<u64> {
        procfs::rss(self.pid)
    }

    /// Fails if the process has died (with the end of its log).
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
            bail!("{} died ({status}); log tail: {tail}", self.kind.name());
        }
        Ok(())
    }
}

impl Drop for RunningBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `culex-bench sink` process (see `sink.rs`).
#[derive(Debug)]
pub(crate) struct RunningSink {
    pub(crate) sink: SocketAddr,
    pub(crate) source: SocketAddr,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl RunningSink {
    /// Starts this executable as `sink --payload N` and reads its ports.
    pub(crate) fn start(payload: usize) -> Result<Self> {
        let exe = std::env::current_exe().context("finding culex-bench itself")?;
        let mut child = Command::new(exe)
            .args(["sink", "--payload", &payload.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting culex-bench sink")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("sink stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).context("reading the sink's ports")?;
        let ports: Vec<u16> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        let [sink, source] = ports[..] else { bail!("unexpected sink banner {line:?}") };
        Ok(Self {
            sink: SocketAddr::from(([127, 0, 0, 1], sink)),
            source: SocketAddr::from(([127, 0, 0, 1], source)),
            child,
            stdin,
        })
    }
}

impl Drop for RunningSink {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
