//! Wall time of one publishing process (`culex_pub` or `mosquitto_pub -t t -m m`), from spawn
//! to exit, repeated to take a median.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// One run may take at most this long before it is killed and the measurement fails.
const DEADLINE: Duration = Duration::from_secs(10);
/// Polling interval while waiting for the process to exit (the resolution of the figure).
const POLL: Duration = Duration::from_micros(50);

/// Runs `exe -h HOST -p PORT -t bench/pub -m m` `runs` times; returns each wall time in ms.
pub(crate) fn pub_wall_times(exe: &Path, broker: SocketAddr, runs: usize) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let mut child = Command::new(exe)
            .args(["-h", &broker.ip().to_string(), "-p", &broker.port().to_string()])
            .args(["-t", "bench/pub", "-m", "m"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("running {}", exe.display()))?;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{} did not exit within {DEADLINE:?}", exe.display());
            }
            sleep(POLL);
        };
        let elapsed = started.elapsed();
        if !status.success() {
            bail!("{} failed ({status})", exe.display());
        }
        times.push(elapsed.as_secs_f64() * 1e3);
    }
    Ok(times)
}
