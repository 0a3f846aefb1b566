//! The watch a bridge keeps on its main address while connected to another one (without
//! `round_robin`): a TCP connection attempt every few seconds, in its own task.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// How often the main address is tried.
const INTERVAL: Duration = Duration::from_secs(5);

/// A running watch (or none); it stops when dropped.
pub(super) struct Probe(Option<JoinHandle<()>>);

impl Probe {
    /// Starts watching `address`, if given.
    pub(super) fn start(address: Option<&(String, u16)>) -> Self {
        Self(address.cloned().map(|(host, port)| {
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(INTERVAL).await;
                    if TcpStream::connect((host.as_str(), port)).await.is_ok() {
                        return;
                    }
                }
            })
        }))
    }

    /// Completes once the address accepted a connection; never without a watch.
    pub(super) async fn answered(&mut self) {
        match &mut self.0 {
            Some(task) => {
                let _ = task.await;
            }
            None => std::future::pending().await,
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}
