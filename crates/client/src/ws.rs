//! MQTT over WebSockets (MQTT 5.0 §6, 3.1.1 §6), shared by the clients and the broker:
//! [`WsStream`] turns the binary frames of a WebSocket into the MQTT byte stream, in either
//! direction (a packet may span frames and a frame may hold several packets: frames are only a
//! transport; a text frame ends the stream, \[MQTT-6.0.0-1\]; tungstenite answers pings), and
//! [`connect`] is the client's upgrade request, as Mosquitto 2.1's tools send it.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf as _, Bytes};
use futures_util::{Sink as _, Stream as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::{Request, generate_key};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Frames larger than this are sent in several (a frame is only a transport for MQTT); a frame
/// gathers small packets up to this size, and holds a larger single slice whole.
pub const MAX_OUTGOING_FRAME: usize = 64 * 1024;

/// A WebSocket carrying MQTT, read and written as a byte stream.
pub struct WsStream<S> {
    socket: WebSocketStream<S>,
    /// What is left of the last binary frame read.
    pending: Bytes,
}

/// The buffer sizes both sides use.
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        // Every connection allocates its read buffer: keep idle ones small.
        .read_buffer_size(4096)
        // Write each frame through at once; the callers batch already.
        .write_buffer_size(0)
}

/// Sends the upgrade request for MQTT on `stream` and waits for the answer: `GET /mqtt`,
/// `Host: <host>`, the `mqtt` subprotocol, and no `Origin`.
///
/// # Errors
/// When the request cannot be built, the server refuses the upgrade (or answers without the
/// `mqtt` subprotocol), or the socket fails.
pub async fn connect<S>(stream: S, host: &str, port: u16) -> Result<WsStream<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let authority = if host.contains(':') { format!("[{host}]") } else { host.to_owned() };
    let request = Request::builder()
        .method("GET")
        .uri(format!("ws://{authority}:{port}/mqtt"))
        .header("Host", host)
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Key", generate_key())
        .header("Sec-WebSocket-Protocol", "mqtt")
        .header("Sec-WebSocket-Version", "13")
        .body(())?;
    let (socket, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config())).await?;
    Ok(WsStream::new(socket))
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    /// Carries MQTT over `socket`, a WebSocket after its upgrade.
    pub fn new(socket: WebSocketStream<S>) -> Self {
        Self { socket, pending: Bytes::new() }
    }

    /// The stream under the WebSocket.
    pub fn get_ref(&self) -> &S {
        self.socket.get_ref()
    }
}

/// A tungstenite error as an I/O error for the connection task.
pub fn io_error(err: WsError) -> std::io::Error {
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
        ready!(Pin::new(&mut *socket).poll_ready(cx)).map_err(io_error)?;
        ready!(Pin::new(&mut *socket).poll_flush(cx)).map_err(io_error)?;
        let len = data.len();
        Pin::new(&mut *socket).start_send(Message::Binary(data)).map_err(io_error)?;
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
                Some(Err(err)) => return Poll::Ready(Err(io_error(err))),
            }
        }
        let n = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending[..n]);
        this.pending.advance(n);
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

    /// Gathers the slices into one frame (up to `MAX_OUTGOING_FRAME`, or the first slice
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
        Pin::new(&mut self.get_mut().socket).poll_flush(cx).map_err(io_error)
    }

    /// Sends a close frame (unless one was sent) and flushes.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_close(cx).map_err(io_error)
    }
}
