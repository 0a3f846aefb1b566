//! MQTT over WebSockets (MQTT 5.0 §6, 3.1.1 §6), the server side: the HTTP upgrade, with the
//! `mqtt` (or the older `mqttv3.1`) subprotocol. The frames become the MQTT byte stream a
//! connection task reads and writes in [`WsStream`], which the clients share.

use std::task::{Context, Poll};

pub(crate) use culex_client::ws::WsStream;
use culex_client::ws::io_error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

use super::Transport;

/// The subprotocols a client may ask for, in order of preference.
const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// Answers the HTTP upgrade request on `stream`. A client that names subprotocols must name
/// `mqtt` or `mqttv3.1`; one that names none is served as `mqtt`.
///
/// # Errors
/// When the request is not a WebSocket upgrade, asks only for other subprotocols, or the
/// socket fails.
pub(crate) async fn accept<S>(stream: S) -> std::io::Result<WsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = culex_client::ws::config();
    let socket =
        tokio_tungstenite::accept_hdr_async_with_config(stream, choose_subprotocol, Some(config))
            .await
            .map_err(io_error)?;
    Ok(WsStream::new(socket))
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
    let offered: Vec<&str> = request
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
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

impl<S: Transport> Transport for WsStream<S> {
    /// Whether a frame is complete cannot be seen without reading it: always ready, and
    /// the connection task drops its read buffer again when the read finds nothing.
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn reset_on_drop(&self) -> std::io::Result<()> {
        self.get_ref().reset_on_drop()
    }
}

#[cfg(test)]
mod tests;
