//! MQTT over WebSockets (MQTT 5.0 §6, 3.1.1 §6), the server side: the HTTP upgrade, with the
//! `mqtt` (or the older `mqttv3.1`) subprotocol. The request head is read first ([`http`]): a
//! request that is not an upgrade is answered from the listener's `http_dir` when it has one.
//! The frames become the MQTT byte stream a connection task reads and writes in
//! [`culex_client::ws::WsStream`], which the clients share.

mod http;

pub(crate) use http::percent_decode;

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes};
use culex_client::ws::io_error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

use super::Transport;
use crate::log;
use crate::log::Logger;

/// The subprotocols a client may ask for, in order of preference.
const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];
/// `websockets_log_level` bit for libwebsockets' errors (`LLL_ERR`).
const LOG_ERRORS: i32 = 1;
/// `websockets_log_level` bit for libwebsockets' notices (`LLL_NOTICE`).
const LOG_NOTICES: i32 = 4;

/// A WebSocket carrying MQTT over a client's stream `S`, read and written as a byte stream.
pub(crate) type WsStream<S> = culex_client::ws::WsStream<Replay<S>>;

/// What a WebSockets listener does with a request before the upgrade.
#[derive(Debug)]
pub(crate) struct HttpSettings {
    /// `websockets_headers_size`: the most bytes the request head may take.
    pub head_limit: usize,
    /// `http_dir`, canonical: where requests that are not upgrades get their files.
    pub http_root: Option<PathBuf>,
    /// `websockets_log_level`: with bit 1, a head that is too long logs
    /// `Ran out of header data space`; with bit 4, a refused subprotocol logs
    /// `No supported protocol "<offered>"` (both `log_type websockets`, as libwebsockets'
    /// lines are in Mosquitto).
    pub log_level: i32,
    /// `websockets_origin`: the `Origin` headers an upgrade request may carry (exactly);
    /// empty = any. A request without the header is not checked.
    pub origins: Vec<String>,
}

/// An upgrade request dropped for its `Origin` header (`websockets_origin`), inside the
/// [`std::io::Error`] that [`accept`] returns; see [`is_origin_refusal`].
#[derive(Debug, thiserror::Error)]
#[error("non-matching http origin")]
struct OriginRefused;

/// Whether [`accept`] failed because the request's `Origin` is not allowed: Mosquitto 2.1
/// then closes without an HTTP answer and logs it as a disconnect.
pub(crate) fn is_origin_refusal(err: &std::io::Error) -> bool {
    err.get_ref().is_some_and(|inner| inner.is::<OriginRefused>())
}

/// Answers the HTTP request on `stream`: the WebSocket upgrade, or (with `http_dir`) a
/// plain request, answered from the directory (`None`: the connection is done). A client
/// that names subprotocols must name `mqtt` or `mqttv3.1`; one that names none is served
/// as `mqtt`. Frames and messages on the WebSocket are bounded by [`message_limit`] of
/// `max_packet_size`: a larger one is refused from its header, before its payload is read.
///
/// # Errors
/// When the request head is longer than allowed, the request is neither a WebSocket upgrade
/// nor served from `http_dir`, has an `Origin` that `websockets_origin` does not list, asks
/// only for other subprotocols, or the socket fails.
pub(crate) async fn accept<S>(
    mut stream: S,
    settings: &HttpSettings,
    max_packet_size: u32,
    logger: &Logger,
) -> std::io::Result<Option<WsStream<S>>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (read, head_len) =
        http::read_head(&mut stream, settings.head_limit).await.inspect_err(|err| {
            if err.kind() == std::io::ErrorKind::InvalidData && settings.log_level & LOG_ERRORS != 0
            {
                log!(logger, WEBSOCKETS, "Ran out of header data space");
            }
        })?;
    let head = http::Head::parse(&read[..head_len]);
    if let (Some(root), Some(head)) = (&settings.http_root, &head) {
        if !head.is_upgrade() {
            http::serve(&mut stream, root, head, logger).await?;
            return Ok(None);
        }
    }
    let origin = head.as_ref().and_then(http::Head::origin);
    if origin.is_some_and(|origin| {
        !settings.origins.is_empty() && !settings.origins.iter().any(|o| o == origin)
    }) {
        return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, OriginRefused));
    }
    let limit = message_limit(max_packet_size);
    let config =
        culex_client::ws::config().max_frame_size(Some(limit)).max_message_size(Some(limit));
    // tungstenite reads the head again: it gets the bytes already read first.
    let stream = Replay { read: Bytes::from(read), inner: stream };
    let log_refusal = settings.log_level & LOG_NOTICES != 0;
    #[expect(
        clippy::result_large_err,
        reason = "the signature tungstenite's handshake callback requires"
    )]
    let callback = |request: &Request, response: Response| {
        choose_subprotocol(request, response).inspect_err(|_| {
            if log_refusal {
                let offered = offered_subprotocols(request).join(", ");
                log!(logger, WEBSOCKETS, "No supported protocol \"{offered}\"");
            }
        })
    };
    let socket = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config))
        .await
        .map_err(io_error)?;
    Ok(Some(WsStream::new(socket)))
}

/// The most bytes one WebSocket frame, or one message of several frames, may carry: the
/// packet limit, but never less than what a client's frame of several small packets may
/// gather ([`culex_client::ws::MAX_OUTGOING_FRAME`]). Without it tungstenite would buffer up
/// to 64 MiB per connection whatever `max_packet_size` says.
fn message_limit(max_packet_size: u32) -> usize {
    usize::try_from(max_packet_size).unwrap_or(usize::MAX).max(culex_client::ws::MAX_OUTGOING_FRAME)
}

/// A stream that first gives back bytes already read from it.
pub(crate) struct Replay<S> {
    /// What is left of the bytes read before.
    read: Bytes,
    /// The stream itself.
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let Self { read, inner } = self.get_mut();
        if read.is_empty() {
            return Pin::new(inner).poll_read(cx, buf);
        }
        let n = read.len().min(buf.remaining());
        buf.put_slice(&read[..n]);
        read.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The handshake callback: picks the subprotocol for the response.
#[expect(
    clippy::result_large_err,
    reason = "the signature tungstenite's handshake callback requires"
)]
fn choose_subprotocol(
    request: &Request,
    mut response: Response,
) -> Result<Response, ErrorResponse> {
    let offered = offered_subprotocols(request);
    if offered.is_empty() {
        return Ok(response);
    }
    let Some(chosen) = SUBPROTOCOLS.into_iter().find(|name| offered.contains(name)) else {
        let mut refusal = ErrorResponse::new(Some("MQTT needs the mqtt subprotocol".to_owned()));
        *refusal.status_mut() = StatusCode::BAD_REQUEST;
        return Err(refusal);
    };
    response.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(chosen));
    Ok(response)
}

/// The subprotocols `request` offers, in its order.
fn offered_subprotocols(request: &Request) -> Vec<&str> {
    request
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect()
}

impl<S: Transport> Transport for WsStream<S> {
    /// Whether a frame is complete cannot be seen without reading it: always ready, and
    /// the connection task drops its read buffer again when the read finds nothing.
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn reset_on_drop(&self) -> std::io::Result<()> {
        self.get_ref().inner.reset_on_drop()
    }
}

#[cfg(test)]
mod tests;
