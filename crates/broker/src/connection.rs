//! One task per client connection, generic over `AsyncRead + AsyncWrite` (TCP today; TLS,
//! WebSockets or an in-memory duplex tomorrow). It reads into a `BytesMut`, decodes every whole
//! packet of a read and hands them to the driver as one event; it drains its outbox in batches,
//! encodes them into one buffer and writes that with one call.

use bytes::BytesMut;
use mqtt_codec::{DecodeError, Packet, ProtocolVersion, ReasonCode};
use mqtt_core::{CloseCause, ConnId, PeerInfo};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{mpsc, watch};

use crate::driver::Event;
use crate::listener::io_error_text;
use crate::log;
use crate::log::Logger;
use crate::outbox::{batch_cost, outbox};

/// Smallest and largest read buffer growth step. An idle client costs the small one; a busy
/// one (whose reads fill the buffer) works up to the large one, so one read takes a big batch.
const READ_CHUNK_MIN: usize = 4 * 1024;
const READ_CHUNK_MAX: usize = 64 * 1024;
/// How long a write may make no progress before the client is considered gone.
const WRITE_STALL: std::time::Duration = std::time::Duration::from_secs(30);
/// Most packets taken from the outbox for one write.
const WRITE_BATCH: usize = 512;

/// What a connection task needs from the rest of the broker.
pub(crate) struct Context<'a> {
    /// The driver's event channel.
    pub(crate) events: &'a mpsc::Sender<Event>,
    /// Inbound packet limit (`max_packet_size`, 0 = protocol maximum).
    pub(crate) max_packet_size: u32,
    /// For errors that are not the peer's fault.
    pub(crate) logger: &'a Logger,
    /// Flips to true when the broker stops waiting for connections to flush.
    pub(crate) abort: watch::Receiver<bool>,
}

/// Serves one connection until the driver drops its outbox or the socket fails.
///
/// Every way out either was decided by the driver (outbox closed) or is reported to it
/// (`Event::Closed`), so the core always learns that the connection is gone.
pub(crate) async fn serve<S>(mut stream: S, conn: ConnId, peer: PeerInfo, context: Context<'_>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (outbox_tx, mut outbox) = outbox();
    // Two receivers: one waited on while idle, one while a write is under way.
    let mut abort = context.abort;
    let mut abort_while_idle = abort.clone();
    let peer_address = peer.address.clone();
    if context.events.send(Event::Open { conn, peer, outbox: outbox_tx }).await.is_err() {
        return; // the driver has stopped
    }
    let max_packet_size = if context.max_packet_size == 0 {
        mqtt_codec::MAX_PACKET_SIZE
    } else {
        context.max_packet_size
    };
    // Until the CONNECT says otherwise (the codec decodes a CONNECT by its own version).
    let mut version = ProtocolVersion::V3_1_1;
    let mut input = BytesMut::new();
    let mut read_chunk = READ_CHUNK_MIN;
    let mut output = BytesMut::new();
    // Grows with bursts and shrinks back when the client is quiet (see below).
    let mut outgoing = Vec::new();
    let mut reading = true;
    loop {
        tokio::select! {
            // Unbiased on purpose: a client flooded with messages must still have its
            // PINGREQs and acknowledgements read, and a flooding client must still get its
            // acknowledgements written.
            received = outbox.recv_many(&mut outgoing, WRITE_BATCH) => {
                if received == 0 {
                    break; // the driver closed this connection
                }
                let cost = batch_cost(&outgoing);
                for packet in outgoing.drain(..) {
                    if let Err(err) = mqtt_codec::encode(&packet, version, u32::MAX, &mut output) {
                        log!(context.logger, ERROR, "Error: cannot encode {:?}: {err}", packet.packet_type());
                    }
                }
                let written = write_all(&mut stream, &output, &mut abort).await;
                output.clear();
                outbox.written(cost);
                if received < 16 && outgoing.capacity() > 64 {
                    outgoing.shrink_to(16);
                }
                if received < 16 && output.capacity() > READ_CHUNK_MAX {
                    output = BytesMut::new();
                }
                if let Err(err) = written {
                    if reading {
                        let cause = CloseCause::Io(io_error_text(&err));
                        let _ = context.events.send(Event::Closed { conn, cause }).await;
                    }
                    return;
                }
            }
            () = aborted(&mut abort_while_idle) => return,
            read = read_more(&mut stream, &mut input, &mut read_chunk), if reading => {
                let cause = match read {
                    Ok(0) => Some(CloseCause::PeerClosed),
                    Ok(_) => None,
                    Err(err) => Some(CloseCause::Io(io_error_text(&err))),
                };
                if let Some(cause) = cause {
                    reading = false;
                    let _ = context.events.send(Event::Closed { conn, cause }).await;
                    continue;
                }
                let (packets, error) = decode_all(&mut input, &mut version, max_packet_size);
                if input.is_empty() && read_chunk == READ_CHUNK_MIN {
                    // A quiet client holds no read buffer between packets.
                    input = BytesMut::new();
                }
                if !packets.is_empty() {
                    let _ = context.events.send(Event::Packets { conn, packets }).await;
                }
                if let Some(error) = error {
                    let reason = report_decode_error(&error, &peer_address, context.logger);
                    // Stop reading; keep writing until the core's Close (e.g. CONNACK 1 or a
                    // v5 DISCONNECT with this reason) has gone out.
                    reading = false;
                    let _ = context.events.send(Event::DecodeError { conn, reason }).await;
                }
            }
        }
    }
    let _ = stream.shutdown().await;
}

/// Writes `bytes`, failing when the peer accepts nothing for [`WRITE_STALL`] (it stopped
/// reading: without this the task would hold its memory until TCP gives up, which can take
/// hours) or when the broker aborts.
async fn write_all<S: AsyncWrite + Unpin>(
    stream: &mut S,
    mut bytes: &[u8],
    abort: &mut watch::Receiver<bool>,
) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let written = tokio::select! {
            written = tokio::time::timeout(WRITE_STALL, stream.write(bytes)) => match written {
                Ok(written) => written?,
                Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "write timed out")),
            },
            () = aborted(abort) => {
                return Err(std::io::Error::other("broker shutting down"));
            }
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[written..];
    }
    Ok(())
}

/// Completes once the abort flag is true; never if the broker is gone without setting it.
async fn aborted(abort: &mut watch::Receiver<bool>) {
    loop {
        let stop = *abort.borrow_and_update();
        if stop {
            return;
        }
        if abort.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Reads whatever the socket has into `input`. When a read fills all the space it had, the
/// next growth step `chunk` doubles (up to [`READ_CHUNK_MAX`]).
async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    input: &mut BytesMut,
    chunk: &mut usize,
) -> std::io::Result<usize> {
    if input.capacity() - input.len() < *chunk / 4 {
        input.reserve(*chunk);
    }
    let space = input.capacity() - input.len();
    let read = stream.read_buf(input).await?;
    if read == space {
        *chunk = (*chunk * 2).min(READ_CHUNK_MAX);
    }
    Ok(read)
}

/// Decodes every whole packet in `input`. Returns them and, if decoding failed, the reason code
/// to report. The protocol version switches to the CONNECT's as soon as one is decoded.
fn decode_all(
    input: &mut BytesMut,
    version: &mut ProtocolVersion,
    max_packet_size: u32,
) -> (Vec<Packet>, Option<DecodeError>) {
    let mut packets = Vec::new();
    loop {
        match mqtt_codec::decode(input, *version, max_packet_size) {
            Ok(Some(packet)) => {
                if let Packet::Connect(connect) = &packet {
                    *version = connect.protocol;
                }
                packets.push(packet);
            }
            Ok(None) => return (packets, None),
            Err(err) => return (packets, Some(err)),
        }
    }
}

/// Logs Mosquitto's line for a bad CONNECT and picks the reason code the core acts on.
fn report_decode_error(error: &DecodeError, peer_address: &str, logger: &Logger) -> ReasonCode {
    match error {
        DecodeError::UnsupportedProtocolVersion { level, .. } => {
            log!(
                logger,
                INFORMATION,
                "Invalid protocol version {level} in CONNECT from {peer_address}."
            );
        }
        DecodeError::InvalidProtocolName { name } => {
            log!(
                logger,
                INFORMATION,
                "Invalid protocol \"{name}\" in CONNECT from {peer_address}."
            );
            // Mosquitto closes without a CONNACK; the core does that for a protocol error
            // before CONNECT.
            return ReasonCode::ProtocolError;
        }
        _ => {}
    }
    error.reason_code()
}
