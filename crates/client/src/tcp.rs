//! TCP socket options of a connection (a bridge's `bridge_tcp_keepalive` and
//! `bridge_tcp_user_timeout`; the tools set none): set on the socket before it connects, and
//! read back from the kernel (getsockopt) once it has, so that what the socket really carries
//! can be reported.

use std::io;
use std::time::Duration;

use socket2::SockRef;
use tokio::net::{TcpSocket, TcpStream};

/// TCP keepalive probes: `SO_KEEPALIVE` on, with `TCP_KEEPIDLE`, `TCP_KEEPINTVL` and
/// `TCP_KEEPCNT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Seconds of silence before the first probe (`TCP_KEEPIDLE`).
    pub idle: u32,
    /// Seconds between probes (`TCP_KEEPINTVL`).
    pub interval: u32,
    /// Unanswered probes before the connection is dropped (`TCP_KEEPCNT`).
    pub count: u32,
}

/// The TCP options of one connection; the default sets nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// Keepalive probes, when wanted.
    pub keepalive: Option<TcpKeepalive>,
    /// `TCP_USER_TIMEOUT` in milliseconds, when wanted.
    pub user_timeout: Option<u32>,
}

impl TcpOptions {
    /// Whether any option is set.
    pub fn is_set(&self) -> bool {
        self.keepalive.is_some() || self.user_timeout.is_some()
    }
}

/// Sets `options` on `socket` before it connects.
///
/// # Errors
/// The kernel refused a value (e.g. a keepalive idle time above its limit).
pub(crate) fn apply(socket: &TcpSocket, options: &TcpOptions) -> io::Result<()> {
    let sock = SockRef::from(socket);
    if let Some(keepalive) = options.keepalive {
        let params = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(u64::from(keepalive.idle)))
            .with_interval(Duration::from_secs(u64::from(keepalive.interval)))
            .with_retries(keepalive.count);
        // Sets SO_KEEPALIVE too.
        sock.set_tcp_keepalive(&params)?;
    }
    if let Some(millis) = options.user_timeout {
        sock.set_tcp_user_timeout(Some(Duration::from_millis(u64::from(millis))))?;
    }
    Ok(())
}

/// The options the kernel reports for `stream`: keepalive only when `SO_KEEPALIVE` is on, the
/// user timeout only when non-zero.
///
/// # Errors
/// A getsockopt call failed.
pub(crate) fn read_back(stream: &TcpStream) -> io::Result<TcpOptions> {
    let sock = SockRef::from(stream);
    let seconds = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
    let keepalive = if sock.keepalive()? {
        Some(TcpKeepalive {
            idle: seconds(sock.keepalive_time()?),
            interval: seconds(sock.keepalive_interval()?),
            count: sock.keepalive_retries()?,
        })
    } else {
        None
    };
    let user_timeout = sock
        .tcp_user_timeout()?
        .map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX))
        .filter(|&millis| millis > 0);
    Ok(TcpOptions { keepalive, user_timeout })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connects a socket carrying `options` to a loopback listener and reads them back.
    async fn round_trip(options: TcpOptions) -> io::Result<TcpOptions> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let socket = TcpSocket::new_v4()?;
        apply(&socket, &options)?;
        let stream = socket.connect(listener.local_addr()?).await?;
        read_back(&stream)
    }

    #[tokio::test]
    async fn options_set_before_connecting_are_what_the_kernel_reports() {
        let keepalive = Some(TcpKeepalive { idle: 7, interval: 3, count: 4 });
        for options in [
            TcpOptions::default(),
            TcpOptions { keepalive, user_timeout: None },
            TcpOptions { keepalive: None, user_timeout: Some(5000) },
            TcpOptions { keepalive, user_timeout: Some(1) },
        ] {
            assert_eq!(round_trip(options).await.unwrap(), options);
        }
    }

    #[tokio::test]
    async fn a_value_the_kernel_refuses_is_an_error() {
        // Linux caps TCP_KEEPIDLE at 32767 seconds.
        let keepalive = Some(TcpKeepalive { idle: 40_000, interval: 1, count: 1 });
        assert!(round_trip(TcpOptions { keepalive, user_timeout: None }).await.is_err());
    }
}
