//! Idle connections: open many MQTT connections from spread-out loopback source addresses,
//! time how fast the broker accepts them (CONNECT to CONNACK) and how much resident memory
//! each one costs it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

use crate::net;
use crate::procfs;

/// Connections being opened at once.
const CONCURRENCY: usize = 128;
/// The whole opening phase must finish within this.
const DEADLINE: Duration = Duration::from_secs(120);
/// Time given to the broker to settle before its memory is read.
const SETTLE: Duration = Duration::from_millis(500);

/// What opening the connections measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdleOutcome {
    /// Connections per second, CONNECT sent to CONNACK received.
    pub(crate) connect_rate: f64,
    /// Growth of the broker's resident memory divided by the connection count, in bytes.
    pub(crate) rss_per_connection: f64,
}

/// Opens `count` connections to the broker at `broker` (pid `pid`), measures, and closes them.
pub(crate) async fn run_idle(broker: SocketAddr, pid: u32, count: usize) -> Result<IdleOutcome> {
    let before = procfs::rss(pid)?;
    let run_id = crate::payload::now_ns();
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for index in 0..count {
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            let client_id = format!("idle-{index}-{run_id}");
            net::connect(broker, index, &client_id, 0).await.map(|(stream, _)| stream)
        });
    }
    let mut streams = Vec::with_capacity(count);
    timeout(DEADLINE, async {
        while let Some(joined) = tasks.join_next().await {
            streams.push(joined.context("connect task")??);
        }
        anyhow::Ok(())
    })
    .await
    .with_context(|| format!("opening {count} connections took over {DEADLINE:?}"))??;
    let connect_rate = count as f64 / started.elapsed().as_secs_f64();
    sleep(SETTLE).await;
    let after = procfs::rss(pid)?;
    drop(streams);
    // Give the broker time to close them before the next measurement.
    sleep(SETTLE).await;
    let growth = after.saturating_sub(before) as f64;
    Ok(IdleOutcome { connect_rate, rss_per_connection: growth / count as f64 })
}
