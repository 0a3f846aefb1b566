//! The PROXY protocol (HAProxy's, versions 1 and 2) on listeners with `enable_proxy_protocol`:
//! the header a proxy in front of culex sends before anything else (before TLS and the
//! WebSocket upgrade), which names the client the proxy accepted and, in version 2, whether
//! that client spoke TLS to the proxy. [`ProxySettings::read`] reads it from the socket
//! without taking a byte beyond it, applies it to the connection's [`PeerInfo`] (which every
//! later log line, the connect checks and `$SYS` use), and decides, with Mosquitto 2.1's
//! lines, whether the connection may go on. The header formats are parsed in [`v1`] and [`v2`].

mod v1;
mod v2;

use mqtt_core::{CertificateUsername, PeerInfo};
use tokio::io::{AsyncRead, AsyncReadExt as _};

use crate::config::{ListenerConfig, ProxyProtocol};
use crate::log;
use crate::log::Logger;

/// Where a header says the client is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    /// The client's address (a Unix socket's path) and port (0 for a Unix socket).
    Client { address: String, port: u16 },
    /// Not said (v1 `UNKNOWN`, v2 LOCAL or UNSPEC): the socket's own peer is the client.
    Socket,
}

/// What the SSL TLV of a v2 header says about the client's connection to the proxy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ProxiedTls {
    /// The client connected over TLS.
    connected: bool,
    /// It presented a certificate the proxy verified.
    certificate: bool,
    /// The TLS version (`TLSv1.3`), if given.
    version: Option<String>,
    /// The cipher, if given.
    cipher: Option<String>,
    /// The certificate's common name, if given.
    common_name: Option<String>,
}

/// A header that was read whole and is well formed.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    source: Source,
    /// The SSL TLV (v2 only).
    tls: Option<ProxiedTls>,
}

/// Why a header is refused.
#[derive(Debug, PartialEq, Eq)]
enum Corrupt {
    /// The header itself (v1: any fault; v2: the head, before any address was read).
    Header,
    /// A v2 TLV runs past the header's end; the addresses, read before it, name the client.
    Tlvs(Source),
}

/// A listener's PROXY settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProxySettings {
    /// `enable_proxy_protocol`.
    version: ProxyProtocol,
    /// `proxy_protocol_v2_require_tls`.
    require_tls: bool,
    /// `require_certificate` behind a v2 proxy: the header must say the proxy verified a
    /// client certificate.
    require_certificate: bool,
    /// `use_identity_as_username` behind a v2 proxy: the header's common name is the username.
    identity_as_username: bool,
}

impl ProxySettings {
    /// The settings of `listener`, `None` when it reads no PROXY header.
    pub(crate) fn of(listener: &ListenerConfig) -> Option<Self> {
        let version = listener.proxy_protocol?;
        let v2 = version == ProxyProtocol::V2;
        Some(Self {
            version,
            require_tls: v2 && listener.proxy_protocol_v2_require_tls,
            require_certificate: v2 && listener.tls.require_certificate,
            identity_as_username: v2 && listener.tls.use_identity_as_username,
        })
    }

    /// Reads the header from `stream` and applies it to `peer` (its address, port and, with
    /// `use_identity_as_username`, username). `Ok(false)` when the connection must be closed:
    /// a corrupt header, TLS or a certificate missing where required (each logged as Mosquitto
    /// 2.1 logs it), or the stream ending before a whole header (logged by nobody, as a port
    /// probe's connection is not). The caller bounds the time it takes.
    ///
    /// # Errors
    /// When reading fails.
    pub(crate) async fn read<S: AsyncRead + Unpin>(
        &self,
        stream: &mut S,
        peer: &mut PeerInfo,
        logger: &Logger,
    ) -> std::io::Result<bool> {
        let parsed = match read_header(stream, self.version).await {
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
            read => read?,
        };
        let header = match parsed {
            Ok(header) => header,
            Err(Corrupt::Header) => {
                log!(logger, NOTICE, "Connection rejected, corrupt PROXY header.");
                return Ok(false);
            }
            Err(Corrupt::Tlvs(source)) => {
                name_client(peer, source);
                let (address, port) = (&peer.address, peer.port);
                log!(
                    logger,
                    NOTICE,
                    "Connection from {address}:{port} rejected, corrupt PROXY header."
                );
                return Ok(false);
            }
        };
        name_client(peer, header.source);
        Ok(self.admit(header.tls, peer, logger))
    }

    /// Applies the TLS facts of a v2 header (`None` for v1): `false`, logged, when the listener
    /// requires TLS or a certificate that the client's connection to the proxy did not have.
    fn admit(&self, tls: Option<ProxiedTls>, peer: &mut PeerInfo, logger: &Logger) -> bool {
        let tls = tls.filter(|tls| tls.connected);
        let (address, port) = (&peer.address, peer.port);
        if self.require_tls && tls.is_none() {
            log!(
                logger,
                NOTICE,
                "Connection from {address}:{port} rejected, client did not connect using TLS."
            );
            return false;
        }
        if self.require_certificate && !tls.as_ref().is_some_and(|tls| tls.certificate) {
            log!(
                logger,
                NOTICE,
                "Connection from {address}:{port} rejected, client did not provide a certificate."
            );
            return false;
        }
        if let Some(ProxiedTls { version: Some(version), cipher: Some(cipher), .. }) = &tls {
            log!(
                logger,
                NOTICE,
                "Connection from {address}:{port} negotiated {version} cipher {cipher}"
            );
        }
        if self.identity_as_username {
            let name = tls.and_then(|tls| tls.common_name);
            peer.certificate_username = Some(Box::new(
                name.map_or(CertificateUsername::Missing, CertificateUsername::Name),
            ));
        }
        true
    }
}

/// Puts the client a header names in place of the socket's peer.
fn name_client(peer: &mut PeerInfo, source: Source) {
    if let Source::Client { address, port } = source {
        peer.address = address.into();
        peer.port = port;
    }
}

/// Reads one header of `version` from `stream`, taking no byte beyond its end (what follows
/// is the client's TLS, WebSocket or MQTT stream): a v1 header a few bytes at a time, never
/// more than can still belong to it, a v2 header by the length its head gives.
///
/// # Errors
/// When reading fails, or the stream ends (`UnexpectedEof`) before the header does.
async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
    version: ProxyProtocol,
) -> std::io::Result<Result<Header, Corrupt>> {
    match version {
        ProxyProtocol::V1 => {
            let mut line = Vec::with_capacity(v1::MAX_LEN);
            loop {
                // Unless the last byte is `\r`, the header's `\r\n` is still two bytes away.
                let want = if line.ends_with(b"\r") { 1 } else { 2 };
                if line.len() + want > v1::MAX_LEN || !v1::may_start(&line) {
                    return Ok(Err(Corrupt::Header));
                }
                let start = line.len();
                line.resize(start + want, 0);
                stream.read_exact(&mut line[start..]).await?;
                if line.ends_with(b"\r\n") {
                    return Ok(v1::parse(&line).map(|source| Header { source, tls: None }));
                }
            }
        }
        ProxyProtocol::V2 => {
            let mut head = [0; v2::HEAD_LEN];
            stream.read_exact(&mut head).await?;
            let head = match v2::head(&head) {
                Ok(head) => head,
                Err(corrupt) => return Ok(Err(corrupt)),
            };
            let mut body = vec![0; head.len];
            stream.read_exact(&mut body).await?;
            Ok(v2::body(&head, &body))
        }
    }
}

#[cfg(test)]
mod tests;
