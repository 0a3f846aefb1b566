//! Fuzz target for the WebSocket adapter (`culex_client::ws::WsStream`, which the broker's
//! WebSocket listeners and the clients share): WebSocket frames from the peer, after the
//! upgrade, read as the MQTT byte stream, with what is read written back as the broker's
//! answers would be.
//!
//! The first input byte picks the side (bit 0: the broker's, where frames must be masked, or
//! a client's), the size of the socket's reads (bits 1..=3) and, with its high bit set, builds
//! the frames from the rest: per frame a byte with the opcode choice, a length byte and that
//! many payload bytes (modulo 126), masked with a key taken from the input on the broker's side. Checked:
//! no panic; reading ends; built frames read back exactly as their binary payloads.
#![no_main]

use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use culex_client::ws::{WsStream, config};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::runtime::Runtime;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The peer: serves `input` in reads of at most `chunk` bytes, then the end of the stream;
/// swallows whatever is written.
struct Peer {
    input: Vec<u8>,
    at: usize,
    chunk: usize,
}

impl AsyncRead for Peer {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = (this.input.len() - this.at).min(this.chunk).min(buf.remaining());
        buf.put_slice(&this.input[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Peer {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Frames built from `input` (see the module docs), then a close frame, and the MQTT bytes
/// they carry. Only single-frame messages: binary, ping and pong.
fn frames(mut input: &[u8], masked: bool) -> (Vec<u8>, Vec<u8>) {
    let (mut wire, mut carried) = (Vec::new(), Vec::new());
    while let [kind, len, rest @ ..] = input {
        // Payloads up to 125 bytes: their length fits the frame's second byte.
        let (payload, after) = rest.split_at(usize::from(*len % 126).min(rest.len()));
        input = after;
        let opcode = match kind % 4 {
            0 | 1 => 0x2,
            2 => 0x9,
            _ => 0xA,
        };
        if opcode == 0x2 {
            carried.extend_from_slice(payload);
        }
        wire.push(0x80 | opcode);
        let len = payload.len() as u8;
        if masked {
            let key = [*kind, len, 0x5A, kind.wrapping_mul(31)];
            wire.push(0x80 | len);
            wire.extend_from_slice(&key);
            wire.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        } else {
            wire.push(len);
            wire.extend_from_slice(payload);
        }
    }
    // A close frame with no payload ends the stream cleanly.
    wire.extend_from_slice(if masked { &[0x88, 0x80, 1, 2, 3, 4] } else { &[0x88, 0] });
    (wire, carried)
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let server = selector & 1 != 0;
    let chunk = 1 << ((selector >> 1) & 7);
    let (input, expected) = if selector & 0x80 != 0 {
        let (wire, carried) = frames(rest, server);
        (wire, Some(carried))
    } else {
        (rest.to_vec(), None)
    };
    let role = if server { Role::Server } else { Role::Client };
    runtime().block_on(async {
        let peer = Peer { input, at: 0, chunk };
        let socket = WebSocketStream::from_raw_socket(peer, role, Some(config())).await;
        let mut stream = WsStream::new(socket);
        let mut read = Vec::new();
        let mut buf = [0; 512];
        let ended = loop {
            match stream.read(&mut buf).await {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    read.extend_from_slice(&buf[..n]);
                    if stream.write_all(&buf[..n]).await.is_err() {
                        break Ok(());
                    }
                }
                Err(err) => break Err(err),
            }
        };
        let _ = stream.shutdown().await;
        if let Some(expected) = expected {
            assert!(ended.is_ok(), "built frames fail to read: {ended:?}");
            assert_eq!(read, expected);
        }
    });
});
