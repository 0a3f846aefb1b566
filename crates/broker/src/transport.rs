//! The byte streams a connection task serves: the [`Transport`] trait (implemented for TCP
//! and Unix sockets here, for TLS in [`tls`] and for WebSockets in [`ws`]), and what a listener puts between an
//! accepted TCP socket and the MQTT byte stream: a PROXY header ([`proxy`]) first, then
//! nothing, TLS, a WebSocket, or a WebSocket inside TLS. The header
//! ([`Upgrades::read_proxy_header`]) and the handshakes ([`Upgrades::handshake`]) are read in
//! the connection's own task, each under a time limit, before the driver hears of the
//! connection.

mod proxy;
pub mod tls;
pub(crate) mod ws;

use std::future::Future;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use culex_compat::strerror;
use mqtt_core::PeerInfo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::config::{ListenerConfig, Protocol};
use crate::log;
use crate::log::Logger;
use tls::{TlsError, TlsListener};

/// A byte stream a connection task can serve.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin + Send {
    /// `Ready` once a read would not wait (data, end of stream or an error is there);
    /// otherwise registers the task to be woken. Lets the task take a read buffer only when
    /// there is something to read.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>>;

    /// Makes dropping the stream reset the connection (RST) rather than close it (FIN):
    /// `SO_LINGER` 0 on the TCP socket underneath.
    fn reset_on_drop(&self) -> std::io::Result<()>;
}

impl Transport for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Self::poll_read_ready(self, cx)
    }

    fn reset_on_drop(&self) -> std::io::Result<()> {
        self.set_zero_linger()
    }
}

impl Transport for tokio::net::UnixStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Self::poll_read_ready(self, cx)
    }

    /// A Unix stream socket has no `SO_LINGER` reset: dropping it closes it (Linux itself
    /// reports a reset to the peer when bytes it sent were left unread).
    fn reset_on_drop(&self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How long a client has for the TLS handshake and the WebSocket upgrade together.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a proxy has to send a whole PROXY header (it sends it at once, before anything of
/// its client's).
const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener's layers above TCP; `None` from [`Upgrades::of`] for plain MQTT.
pub(crate) struct Upgrades {
    /// `enable_proxy_protocol`: the PROXY header read before everything else.
    proxy: Option<proxy::ProxySettings>,
    tls: Option<TlsListener>,
    /// For a WebSockets listener, what it does with the HTTP request.
    websockets: Option<ws::HttpSettings>,
}

impl std::fmt::Debug for Upgrades {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrades")
            .field("proxy", &self.proxy)
            .field("tls", &self.tls.is_some())
            .field("websockets", &self.websockets)
            .finish()
    }
}

impl Upgrades {
    /// The layers `settings` asks for, TLS files read; `None` for plain MQTT over TCP without
    /// a PROXY header. `http` applies to a WebSockets listener only.
    ///
    /// # Errors
    /// When the TLS files or options cannot be used.
    pub(crate) fn of(
        settings: &ListenerConfig,
        http: ws::HttpSettings,
    ) -> Result<Option<Arc<Self>>, TlsError> {
        let websockets = (settings.protocol == Protocol::WebSockets).then_some(http);
        let tls =
            if settings.tls.enabled() { Some(TlsListener::new(&settings.tls)?) } else { None };
        let proxy = proxy::ProxySettings::of(settings);
        if proxy.is_none() && tls.is_none() && websockets.is_none() {
            return Ok(None);
        }
        Ok(Some(Arc::new(Self { proxy, tls, websockets })))
    }

    /// Whether connections start with a PROXY header ([`Self::read_proxy_header`]).
    pub(crate) fn reads_proxy_header(&self) -> bool {
        self.proxy.is_some()
    }

    /// Reads the PROXY header on an accepted socket, if the listener expects one, and puts the
    /// client it names into `peer`. `false` when the connection must be closed: the header is
    /// corrupt or refused (logged as Mosquitto 2.1 logs it), reading failed or took longer than
    /// [`PROXY_HEADER_TIMEOUT`] (logged as a failed handshake is), or the broker aborted.
    pub(crate) async fn read_proxy_header<S: AsyncRead + Unpin>(
        &self,
        stream: &mut S,
        peer: &mut PeerInfo,
        logger: &Logger,
        aborted: watch::Receiver<bool>,
    ) -> bool {
        let Some(proxy) = &self.proxy else { return true };
        let (address, port) = (peer.address.clone(), peer.port);
        let read = proxy.read(stream, peer, logger);
        bounded(read, PROXY_HEADER_TIMEOUT, aborted, logger, &address, port).await.unwrap_or(false)
    }

    /// Runs the handshakes on an accepted socket: TLS (setting `peer`'s certificate
    /// username), then the WebSocket upgrade, whose frames and messages may carry at most
    /// `max_packet_size` bytes (see [`ws::accept`]). A failed or timed-out handshake is logged and
    /// gives `None` (the socket is closed; the driver never hears of it), as do a plain HTTP
    /// request answered from `http_dir` and the broker aborting (`aborted` turning true)
    /// meanwhile.
    pub(crate) async fn handshake(
        &self,
        stream: TcpStream,
        peer: &mut PeerInfo,
        max_packet_size: u32,
        logger: &Logger,
        aborted: watch::Receiver<bool>,
    ) -> Option<Upgraded> {
        let (address, port) = (peer.address.clone(), peer.port);
        let handshake = self.upgrade(stream, peer, max_packet_size, logger);
        bounded(handshake, HANDSHAKE_TIMEOUT, aborted, logger, &address, port).await.flatten()
    }

    /// The handshakes of [`Self::handshake`], without its time limit. Nothing large is held
    /// across a wait here: a stalled client's task keeps this future for up to
    /// [`HANDSHAKE_TIMEOUT`], so the WebSocket upgrade over TLS, which must hold the TLS
    /// stream, is boxed.
    async fn upgrade(
        &self,
        stream: TcpStream,
        peer: &mut PeerInfo,
        max_packet_size: u32,
        logger: &Logger,
    ) -> std::io::Result<Option<Upgraded>> {
        let Some(tls) = &self.tls else {
            return Ok(match &self.websockets {
                Some(http) => {
                    ws::accept(stream, http, max_packet_size, logger).await?.map(Upgraded::Ws)
                }
                None => Some(Upgraded::Plain(stream)),
            });
        };
        let (stream, username) = tls.accept(stream).await?;
        if username.is_some() {
            peer.certificate_username = username.map(Box::new);
        }
        let Some(http) = &self.websockets else {
            return Ok(Some(Upgraded::Tls(stream)));
        };
        let upgrade = ws::accept(stream, http, max_packet_size, logger);
        Ok(Box::pin(upgrade).await?.map(Upgraded::WsOverTls))
    }
}

/// Runs `step` (a handshake, or reading a PROXY header) for at most `limit`. A step that fails
/// or takes too long is logged as `Client connection from <address> failed: <reason>.` and
/// gives `None`, as does the broker aborting (`aborted` turning true) meanwhile. A WebSocket
/// upgrade refused for its `Origin` is logged as Mosquitto 2.1 logs it, with the client's
/// `port`.
async fn bounded<T>(
    step: impl Future<Output = std::io::Result<T>>,
    limit: Duration,
    mut aborted: watch::Receiver<bool>,
    logger: &Logger,
    address: &str,
    port: u16,
) -> Option<T> {
    let outcome = tokio::select! {
        outcome = tokio::time::timeout(limit, step) => outcome,
        _ = aborted.wait_for(|&aborted| aborted) => return None,
    };
    match outcome {
        Ok(Ok(done)) => Some(done),
        Ok(Err(err)) if ws::is_origin_refusal(&err) => {
            log!(
                logger,
                NOTICE,
                "Client {address} [{address}:{port}] disconnected: non-matching http origin."
            );
            None
        }
        Ok(Err(err)) => {
            let reason = strerror(&err);
            log!(logger, NOTICE, "Client connection from {address} failed: {reason}.");
            None
        }
        Err(_) => {
            log!(logger, NOTICE, "Client connection from {address} failed: timed out.");
            None
        }
    }
}

/// The stream a listener's handshakes produced, one variant per layering.
#[expect(
    clippy::large_enum_variant,
    reason = "one value per handshake, moved straight into its connection task"
)]
pub(crate) enum Upgraded {
    /// MQTT on the socket itself (a listener with a PROXY header only).
    Plain(TcpStream),
    /// MQTT over TLS.
    Tls(tls::TlsStream),
    /// MQTT over a WebSocket.
    Ws(ws::WsStream<TcpStream>),
    /// MQTT over a WebSocket inside TLS.
    WsOverTls(ws::WsStream<tls::TlsStream>),
}
