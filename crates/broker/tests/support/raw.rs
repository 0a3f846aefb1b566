//! Raw MQTT bytes for the broker's own tests, over any stream (TCP sockets in `tests/tcp.rs`,
//! in-memory streams in `src/paused_clock_tests.rs`, which includes this file by path):
//! packet framing and the bounded send / expect / expect-closed steps. Every wait is bounded
//! by the including module's `DEADLINE` (real time over sockets, virtual time on the paused
//! clock).

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::time::timeout;

use super::DEADLINE;

/// `first`, the remaining length (variable-length encoded) and `body`.
pub(crate) fn framed(first: u8, body: &[u8]) -> Vec<u8> {
    let mut packet = vec![first];
    let mut len = body.len();
    loop {
        let mut byte = u8::try_from(len % 128).expect("below 128");
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        packet.push(byte);
        if len == 0 {
            break;
        }
    }
    packet.extend_from_slice(body);
    packet
}

/// `field` with its two-byte length.
pub(crate) fn field(field: &[u8]) -> Vec<u8> {
    [&u16::try_from(field.len()).expect("short test field").to_be_bytes()[..], field].concat()
}

/// Writes `bytes` to `stream`.
pub(crate) async fn send(stream: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) {
    timeout(DEADLINE, stream.write_all(bytes)).await.expect("sent in time").expect("send");
}

/// Reads exactly `wanted.len()` bytes from `stream` and asserts they are `wanted`.
pub(crate) async fn expect(stream: &mut (impl AsyncRead + Unpin), wanted: &[u8]) {
    let mut got = vec![0; wanted.len()];
    timeout(DEADLINE, stream.read_exact(&mut got)).await.expect("reply in time").expect("reply");
    assert_eq!(got, wanted);
}

/// Waits until the broker closes `stream` (EOF or reset), ignoring any bytes before that.
pub(crate) async fn expect_closed(stream: &mut (impl AsyncRead + Unpin)) {
    let mut sink = [0; 256];
    loop {
        match timeout(DEADLINE, stream.read(&mut sink)).await.expect("closed in time") {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
