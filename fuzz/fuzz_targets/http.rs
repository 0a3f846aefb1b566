//! Fuzz target for the HTTP request head a WebSocket listener reads before the upgrade
//! (`culex_broker::http_head`: `read_head` bounded by `websockets_headers_size`, then
//! `Head::parse`), fed as a client's socket would feed it.
//!
//! Input: byte 0 picks the size of the socket's reads (1 << (bits 0..=2) bytes: 1 to 128);
//! bytes 1 and 2 (little-endian) the head limit (1 + the value modulo 8,192); the rest is what
//! the client sends. Checked: no panic; `read_head` ends with the head the bytes hold when its
//! blank line ends within the limit (never a byte of it past the limit, never more than one
//! read beyond the head), with "too long" when the limit is reached first and with "end of
//! stream" otherwise; what it returns is a prefix of what was sent; a head that parses,
//! written out again as a request, parses to the same head.
#![no_main]

use std::io;
use std::sync::OnceLock;

use culex_broker::http_head::{Head, READ_CHUNK, read_head};
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt as _;
use tokio::runtime::Runtime;

/// One runtime for every input: building one per input would dominate the run.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime")
    })
}

/// `head` written out as a request: its request line, an `Upgrade` header if it asks for one
/// and its `Origin` header if it has one.
fn request(head: &Head) -> Vec<u8> {
    let mut out = format!("{} {} HTTP/1.1\r\n", head.method(), head.target());
    if head.is_upgrade() {
        out.push_str("Upgrade: websocket\r\n");
    }
    if let Some(origin) = head.origin() {
        out.push_str(&format!("Origin: {origin}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let [select, low, high, sent @ ..] = data else { return };
    let chunk = 1 << (select & 7);
    let limit = 1 + usize::from(u16::from_le_bytes([*low, *high])) % 8192;
    // The client writes into a pipe that holds `chunk` bytes: each read gets at most that many.
    // The broker's end is dropped once `read_head` returns, which ends a blocked write.
    let (mut client, mut server) = tokio::io::duplex(chunk);
    let read = runtime().block_on(async {
        let write = async move {
            let _ = client.write_all(sent).await;
            drop(client);
        };
        let read = async move {
            let read = read_head(&mut server, limit).await;
            drop(server);
            read
        };
        tokio::join!(write, read).1
    });
    // Where the first blank line ends, if the bytes hold one.
    let blank = sent.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4);
    match (read, blank) {
        (Ok((buffer, len)), Some(end)) => {
            assert_eq!(len, end, "the head ends at the first blank line");
            assert!(len <= limit, "a head of {len} bytes passed the limit {limit}");
            assert!(buffer.len() < len + READ_CHUNK.max(chunk), "read far beyond the head");
            assert_eq!(buffer[..], sent[..buffer.len()], "not what was sent");
            if let Some(head) = Head::parse(&buffer[..len]) {
                assert_eq!(Head::parse(&request(&head)).as_ref(), Some(&head), "round trip");
            }
        }
        (Ok((_, len)), None) => panic!("a head of {len} bytes without a blank line"),
        (Err(err), blank) => {
            assert!(blank.is_none_or(|end| end > limit), "refused a head within the limit");
            let expected = if sent.len() >= limit {
                io::ErrorKind::InvalidData
            } else {
                io::ErrorKind::UnexpectedEof
            };
            assert_eq!(err.kind(), expected, "{err}");
        }
    }
});
