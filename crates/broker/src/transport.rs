//! What a listener puts between an accepted TCP socket and the MQTT byte stream: nothing
//! (the accept loop hands the socket to a connection task itself), TLS, a WebSocket, or a
//! WebSocket inside TLS. The handshakes run in the connection's own task, under a time limit,
//! before the driver hears of the connection.

use std::sync::Arc;
use std::time::Duration;

use culex_compat::strerror;
use mqtt_core::{ConnId, PeerInfo};
use tokio::net::TcpStream;

use crate::config::{ListenerConfig, Protocol};
use crate::connection::{Connection, Shared, Transport};
use crate::listener::ConnectionSlot;
use crate::log;
use crate::tls::{TlsError, TlsListener};
use crate::ws;

/// How long a client has for the TLS handshake and the WebSocket upgrade together.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// A listener's layers above TCP; `None` from [`Upgrades::of`] for plain MQTT.
pub(crate) struct Upgrades {
    tls: Option<TlsListener>,
    websockets: bool,
}

impl std::fmt::Debug for Upgrades {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrades")
            .field("tls", &self.tls.is_some())
            .field("websockets", &self.websockets)
            .finish()
    }
}

impl Upgrades {
    /// The layers `settings` asks for, TLS files read; `None` for plain MQTT over TCP.
    ///
    /// # Errors
    /// When the TLS files or options cannot be used.
    pub(crate) fn of(settings: &ListenerConfig) -> Result<Option<Arc<Self>>, TlsError> {
        let websockets = settings.protocol == Protocol::WebSockets;
        let tls =
            if settings.tls.enabled() { Some(TlsListener::new(&settings.tls)?) } else { None };
        if tls.is_none() && !websockets {
            return Ok(None);
        }
        Ok(Some(Arc::new(Self { tls, websockets })))
    }
}

/// Serves one accepted socket of a listener with upgrades: handshakes, then the connection
/// task. A failed handshake is logged and the socket closed; the driver never hears of it.
pub(crate) async fn serve(
    stream: TcpStream,
    upgrades: Arc<Upgrades>,
    conn: ConnId,
    mut peer: PeerInfo,
    shared: Arc<Shared>,
    slot: ConnectionSlot,
) {
    let address = peer.address.clone();
    let handshake = async {
        let (tls, username) = match &upgrades.tls {
            Some(tls) => {
                let (stream, username) = tls.accept(stream).await?;
                (Ok(stream), username)
            }
            None => (Err(stream), None),
        };
        peer.certificate_username = username;
        let stream = match (tls, upgrades.websockets) {
            (Ok(tls), true) => Stream::WsOverTls(ws::accept(tls).await?),
            (Ok(tls), false) => Stream::Tls(tls),
            (Err(tcp), _) => Stream::Ws(ws::accept(tcp).await?),
        };
        Ok::<_, std::io::Error>(stream)
    };
    let mut aborted = shared.aborted.clone();
    let outcome = tokio::select! {
        outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake) => outcome,
        _ = aborted.wait_for(|&aborted| aborted) => return,
    };
    let stream = match outcome {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            let reason = strerror(&err);
            log!(shared.logger, NOTICE, "Client connection from {address} failed: {reason}.");
            return;
        }
        Err(_) => {
            log!(shared.logger, NOTICE, "Client connection from {address} failed: timed out.");
            return;
        }
    };
    match stream {
        Stream::Tls(stream) => run(stream, conn, peer, shared, slot).await,
        Stream::Ws(stream) => run(stream, conn, peer, shared, slot).await,
        Stream::WsOverTls(stream) => run(stream, conn, peer, shared, slot).await,
    }
}

/// The stream a handshake produced.
#[expect(
    clippy::large_enum_variant,
    reason = "one value per handshake, moved straight into its connection task"
)]
enum Stream {
    Tls(crate::tls::TlsStream),
    Ws(ws::WsStream<TcpStream>),
    WsOverTls(ws::WsStream<crate::tls::TlsStream>),
}

/// Tells the driver about the connection, then serves it until it ends.
async fn run<S: Transport>(
    stream: S,
    conn: ConnId,
    peer: PeerInfo,
    shared: Arc<Shared>,
    slot: ConnectionSlot,
) {
    let (mut connection, open) = Connection::new(stream, conn, peer, Arc::clone(&shared), slot);
    if shared.events.send(open).await.is_err() {
        return; // the driver has stopped
    }
    drop(shared);
    connection.run().await;
}
