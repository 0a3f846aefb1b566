//! The brokers of the durable-persistence rows: culex with `persistence true` (its default
//! journal), culex with persistence off, and Mosquitto with `persistence true`, each in a
//! folder of its own. The log is piped so that the time from spawn to the `running` line can
//! be taken; a broker is stopped cleanly with SIGTERM (through `kill`, this crate has no
//! unsafe code) or abruptly with SIGKILL.

use std::fs;
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::target::free_port;

/// What is measured, in the order of a table's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Variant {
    /// culex, `persistence true`: every change journaled and synced before it is acknowledged.
    Durable,
    /// culex without persistence.
    Off,
    /// Debian's Mosquitto, `persistence true` (saves every `autosave_interval`, 1800 s).
    Mosquitto,
}

impl Variant {
    /// Column index in the durable tables.
    pub(crate) fn index(self) -> usize {
        match self {
            Self::Durable => 0,
            Self::Off => 1,
            Self::Mosquitto => 2,
        }
    }

    /// A short name for progress lines and failures.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Durable => "culex persistence true",
            Self::Off => "culex persistence off",
            Self::Mosquitto => "mosquitto persistence true",
        }
    }
}

/// The configuration of the durable rows (`PORT` and `DIR` are replaced). The same limits as
/// the main table, but a queue deep enough for the startup scenario's million messages, and
/// information lines logged, which include the `running` line.
pub(crate) const DURABLE_CONFIG: &str = "\
listener PORT 127.0.0.1
allow_anonymous true
max_inflight_messages 1000
max_queued_messages 2000000
log_type error
log_type information
connection_messages false
persistence true
persistence_location DIR/
";

/// The configuration text for `variant` (persistence lines dropped for [`Variant::Off`]).
pub(crate) fn config(variant: Variant, port: u16, dir: &Path) -> String {
    let text = DURABLE_CONFIG.replace("PORT", &port.to_string());
    let text = text.replace("DIR", &dir.display().to_string());
    match variant {
        Variant::Off => text.lines().filter(|line| !line.starts_with("persistence")).fold(
            String::new(),
            |mut out, line| {
                out.push_str(line);
                out.push('\n');
                out
            },
        ),
        Variant::Durable | Variant::Mosquitto => text,
    }
}

/// Makes a fresh folder for one broker. Open to every user: Mosquitto started as root drops
/// to the `mosquitto` user and must still write its database there.
pub(crate) fn fresh_dir(parent: &Path, name: &str) -> Result<PathBuf> {
    let dir = parent.join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777))
        .with_context(|| format!("opening {} to the broker's user", dir.display()))?;
    Ok(dir)
}

/// A broker started by this module.
#[derive(Debug)]
pub(crate) struct Broker {
    pub(crate) address: SocketAddr,
    pub(crate) pid: u32,
    /// Spawn to the `running` line.
    pub(crate) startup: Duration,
    child: Child,
    log: PathBuf,
}

impl Broker {
    /// Starts `exe` as `variant` in `dir` and waits (at most `deadline`) until it has logged
    /// `running` and accepts connections.
    pub(crate) fn start(
        variant: Variant,
        exe: &Path,
        dir: &Path,
        deadline: Duration,
    ) -> Result<Self> {
        let port = free_port()?;
        let config_path = dir.join(format!("broker-{port}.conf"));
        fs::write(&config_path, config(variant, port, dir))
            .with_context(|| format!("writing {}", config_path.display()))?;
        let log = dir.join(format!("broker-{port}.log"));
        let log_file =
            fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let spawned = Instant::now();
        let mut child = Command::new(exe)
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let (running, seen) = mpsc::channel();
        for output in [
            child.stdout.take().map(|out| Box::new(out) as Box<dyn Read + Send>),
            child.stderr.take().map(|err| Box::new(err) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let mut file = log_file.try_clone().context("sharing the log file")?;
            let running = running.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    if is_running_line(&line) {
                        let _ = running.send(spawned.elapsed());
                    }
                    let _ = writeln!(file, "{line}");
                }
            });
        }
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let pid = child.id();
        let mut broker = Self { address, pid, startup: Duration::ZERO, child, log };
        let end = spawned + deadline;
        broker.startup = loop {
            if let Ok(elapsed) = seen.recv_timeout(Duration::from_millis(5)) {
                break elapsed;
            }
            broker.check_alive()?;
            if Instant::now() > end {
                bail!("{} did not log `running` within {deadline:?}", variant.name());
            }
        };
        while TcpStream::connect_timeout(&broker.address, Duration::from_millis(200)).is_err() {
            broker.check_alive()?;
            if Instant::now() > end {
                bail!("{} did not open {} within {deadline:?}", variant.name(), broker.address);
            }
            sleep(Duration::from_millis(5));
        }
        Ok(broker)
    }

    /// Fails if the process has exited (with the end of its log).
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            // The reader threads may still be writing the last lines.
            sleep(Duration::from_millis(50));
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            bail!("the broker exited ({status}); log tail: {}", tail.join(" | "));
        }
        Ok(())
    }

    /// SIGTERM, then waits (at most `deadline`) for a clean exit; returns how long it took.
    pub(crate) fn stop_cleanly(mut self, deadline: Duration) -> Result<Duration> {
        let asked = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("running kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {} failed ({status})", self.pid);
        }
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("the broker stopped with {status}");
                }
                return Ok(asked.elapsed());
            }
            if asked.elapsed() > deadline {
                bail!("the broker did not stop within {deadline:?} of SIGTERM");
            }
            sleep(Duration::from_millis(5));
        }
    }

    /// SIGKILL, and waits for the process to be gone.
    pub(crate) fn kill(mut self) -> Result<()> {
        self.child.kill().context("sending SIGKILL")?;
        self.child.wait().context("waiting for the killed broker")?;
        Ok(())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a log line is the broker's `… version X running` line (both brokers print it).
fn is_running_line(line: &str) -> bool {
    line.ends_with(" running") && line.contains("version")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_durable_variants_persist() {
        let dir = Path::new("/tmp/x");
        let durable = config(Variant::Durable, 1883, dir);
        assert!(durable.contains("persistence true\npersistence_location /tmp/x/\n"), "{durable}");
        assert!(durable.starts_with("listener 1883 127.0.0.1\n"), "{durable}");
        let off = config(Variant::Off, 1883, dir);
        assert!(!off.contains("persistence"), "{off}");
        assert!(off.contains("max_queued_messages 2000000\n"), "{off}");
    }

    #[test]
    fn the_running_line_of_both_brokers_is_recognised() {
        assert!(is_running_line("1796496984: mosquitto version 2.0.11 running"));
        assert!(is_running_line("1796496984: culex version 2.0.11 running"));
        assert!(!is_running_line("1796496984: mosquitto version 2.0.11 starting"));
    }
}
