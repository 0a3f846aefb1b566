//! MQTT over WebSockets (MQTT 5.0 §6, 3.1.1 §6): the HTTP upgrade, with the `mqtt` (or the
//! older `mqttv3.1`) subprotocol, and [`WsStream`], which turns the binary frames of a
//! WebSocket into the MQTT byte stream a connection task reads and writes. A packet may span
//! frames and a frame may hold several packets: frames are only a transport. A text frame
//! closes the connection (\[MQTT-6.0.0-1\]); pings are answered by tungstenite. The
//! request head is read first ([`http`]): a request that is not an upgrade is answered from
//! the listener's `http_dir` when it has one.

mod http;

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf as _, Bytes};
use futures_util::{Sink as _, Stream as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::Transport;
use crate::log;
use crate::log::Logger;

/// The subprotocols a client may ask for, in order of preference.
const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];
/// Frames larger than this are sent in several (a frame is only a transport for MQTT).
const MAX_OUTGOING_FRAME: usize = 64 * 1024;
/// `websockets_log_level` bit for libwebsockets' errors (`LLL_ERR`).
const LOG_ERRORS: i32 = 1;
/// `websockets_log_level` bit for libwebsockets' notices (`LLL_NOTICE`).
const LOG_NOTICES: i32 = 4;

/// A WebSocket carrying MQTT, read and written as a byte stream.
pub(crate) struct WsStream<S> {
    socket: WebSocketStream<Replay<S>>,
    /// What is left of the last binary frame read.
    pending: Bytes,
}

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
}

/// Answers the HTTP request on `stream`: the WebSocket upgrade, or (with `http_dir`) a
/// plain request, answered from the directory (`None`: the connection is done). A client
/// that names subprotocols must name `mqtt` or `mqttv3.1`; one that names none is served
/// as `mqtt`.
///
/// # Errors
/// When the request head is longer than allowed, the request is neither a WebSocket upgrade
/// nor served from `http_dir`, asks only for other subprotocols, or the socket fails.
pub(crate) async fn accept<S>(
    mut stream: S,
    settings: &HttpSettings,
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
    if let (Some(root), Some(head)) = (&settings.http_root, http::Head::parse(&read[..head_len])) {
        if !head.is_upgrade() {
            http::serve(&mut stream, root, &head, logger).await?;
            return Ok(None);
        }
    }
    let config = WebSocketConfig::default()
        // Every connection allocates its read buffer: keep idle ones small.
        .read_buffer_size(4096)
        // Write each frame through at once; the connection task batches already.
        .write_buffer_size(0);
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
        .map_err(ws_error)?;
    Ok(Some(WsStream { socket, pending: Bytes::new() }))
}

/// A stream that first gives back bytes already read from it.
struct Replay<S> {
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
        copy_out(read, buf);
        Poll::Ready(Ok(()))
    }
}

/// Moves as much of `from` as fits into `buf`.
fn copy_out(from: &mut Bytes, buf: &mut ReadBuf<'_>) {
    let n = from.len().min(buf.remaining());
    buf.put_slice(&from[..n]);
    from.advance(n);
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

/// A tungstenite error as an I/O error for the connection task.
fn ws_error(err: WsError) -> std::io::Error {
    match err {
        WsError::Io(err) => err,
        WsError::ConnectionClosed | WsError::AlreadyClosed => std::io::ErrorKind::BrokenPipe.into(),
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    /// Moves queued frames (answers to pings, the close reply, a frame that did not fit
    /// the socket) towards the socket. Errors show up on the next read or write.
    fn push_queued(&mut self, cx: &mut Context<'_>) {
        let _ = Pin::new(&mut self.socket).poll_flush(cx);
    }

    /// Queues `data` as one binary frame and tries to send it.
    fn poll_send(&mut self, cx: &mut Context<'_>, data: Bytes) -> Poll<std::io::Result<usize>> {
        let socket = &mut self.socket;
        // Frames still waiting for the socket come first: that is the back pressure.
        ready!(Pin::new(&mut *socket).poll_ready(cx)).map_err(ws_error)?;
        ready!(Pin::new(&mut *socket).poll_flush(cx)).map_err(ws_error)?;
        let len = data.len();
        Pin::new(&mut *socket).start_send(Message::Binary(data)).map_err(ws_error)?;
        self.push_queued(cx);
        Poll::Ready(Ok(len))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        // A frame queued by an earlier write may wait for the socket: reading is when the
        // connection task comes back to this stream.
        this.push_queued(cx);
        while this.pending.is_empty() {
            match ready!(Pin::new(&mut this.socket).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.pending = data,
                // Control frames: tungstenite answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // The peer closes: tungstenite queues the reply; the task sees the end.
                Some(Ok(Message::Close(_))) | None => {
                    this.push_queued(cx);
                    return Poll::Ready(Ok(()));
                }
                Some(Ok(Message::Text(_))) => {
                    let close = CloseFrame {
                        code: CloseCode::Unsupported,
                        reason: "MQTT is carried in binary frames".into(),
                    };
                    let _ = Pin::new(&mut this.socket).start_send(Message::Close(Some(close)));
                    this.push_queued(cx);
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "text frame on an MQTT WebSocket",
                    )));
                }
                Some(Err(err)) => return Poll::Ready(Err(ws_error(err))),
            }
        }
        copy_out(&mut this.pending, buf);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let data = Bytes::copy_from_slice(&buf[..buf.len().min(MAX_OUTGOING_FRAME)]);
        self.get_mut().poll_send(cx, data)
    }

    /// Gathers the slices into one frame (up to [`MAX_OUTGOING_FRAME`], or the first slice
    /// if it is larger): one frame per batch of packets, not per packet.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let mut frame = Vec::new();
        for slice in bufs {
            if !frame.is_empty() && frame.len() + slice.len() > MAX_OUTGOING_FRAME {
                break;
            }
            frame.extend_from_slice(slice);
        }
        if frame.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.get_mut().poll_send(cx, Bytes::from(frame))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_flush(cx).map_err(ws_error)
    }

    /// Sends a close frame (unless one was sent) and flushes.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_close(cx).map_err(ws_error)
    }
}

impl<S: Transport> Transport for WsStream<S> {
    /// Whether a frame is complete cannot be seen without reading it: always ready, and
    /// the connection task drops its read buffer again when the read finds nothing.
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn reset_on_drop(&self) -> std::io::Result<()> {
        self.socket.get_ref().inner.reset_on_drop()
    }
}

#[cfg(test)]
mod tests;
