//! One task per client connection, generic over a [`Transport`] (TCP today; TLS, WebSockets
//! or a Unix socket tomorrow). It waits until the socket is readable before it takes a read
//! buffer, decodes the whole packets of a read and hands them to the driver in events of up
//! to 64, each with its credit from the byte budget all tasks share (`event::Budget`), and
//! writes what the driver encoded into its outbox with one call per batch. A task waiting for
//! credit or for room in the driver's queue decodes and reads nothing more, so the client's
//! bytes stay in the kernel and TCP slows the client down; meanwhile it goes on writing, and
//! stops when the driver closes it. When the broker closes it, the task shuts down writing
//! and drains what the client still sends for a bounded moment, so that the client reads the
//! last packets (a v5 DISCONNECT) rather than a reset; a connection whose first byte is not a
//! CONNECT's is reset, as Mosquitto does.
//!
//! An idle connection holds no read or write buffer (not even their empty handles: they live in
//! a box that exists only while there are bytes to decode or to write), and its task is a
//! [`Connection`] of about 100 bytes plus a small future: rare, large waits (a write that
//! blocks, a full driver queue) live in boxes that exist only while they last. The task as a
//! whole stays within tokio's 256-byte task allocation (see [`Connection::task`]).

use std::future::{Future, poll_fn};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes, BytesMut};
use culex_compat::strerror;
use mqtt_codec::{DecodeError, Packet, PacketType, ProtocolVersion};
use mqtt_core::{CloseCause, ConnId, PeerInfo};
use tokio::io::{AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};

use crate::event::{Budget, Event, Shards};
use crate::log::Logger;
use crate::outbox::{Chunks, OutboxReceiver, OutboxSender, outbox};
use crate::transport::Transport;

/// Smallest and largest read buffer growth step. A quiet client takes the small one only
/// while a read is under way; a busy one (whose reads fill the buffer) works up to the large
/// one, so one read takes a big batch.
const READ_CHUNK_MIN: u32 = 4 * 1024;
const READ_CHUNK_MAX: u32 = 64 * 1024;
/// The first read's buffer: room for a CONNECT, not a whole growth step. Thousands of
/// clients connecting at once would otherwise each hold a 4 KiB buffer for a packet of a few
/// dozen bytes, and leave the heap holed where those were.
const READ_CHUNK_FIRST: u32 = 512;
/// Most bytes of an incomplete packet that a connection waiting for the rest copies out of
/// its read buffer, so as to free the buffer (see `Connection::shrink_input`).
const SHRINK_MAX: usize = 256;
/// Most packets handed to the driver in one event: their vector (a `Packet` is 80 bytes)
/// stays well below the size where the allocator maps fresh pages for it.
const PACKETS_PER_EVENT: usize = 64;
/// Most chunks handed to one vectored write (the kernel's IOV_MAX is 1024).
const MAX_SLICES: usize = 1024;
/// How long a write may make no progress before the client is considered gone.
const WRITE_STALL: std::time::Duration = std::time::Duration::from_secs(30);
/// After the broker closes a connection, how long and how much its task goes on reading (and
/// discarding) what the client still sends. Closing a socket with unread bytes makes the
/// kernel reset the connection, and the reset can destroy the DISCONNECT that says why before
/// the client reads it.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(1);
const DRAIN_BYTES: usize = 256 * 1024;

/// What every accept loop and connection task shares.
pub(crate) struct Shared {
    /// The drivers' event channels and budgets, one per shard.
    pub(crate) shards: Shards,
    /// The core's settings at startup, for the shard of a CONNECT
    /// (`mqtt_core::shard_for_connect` reads only the options of the listeners, which a
    /// reload does not change).
    pub(crate) core: Arc<mqtt_core::Config>,
    /// For errors that are not the peer's fault.
    pub(crate) logger: Arc<Logger>,
    /// Inbound packet limit (`max_packet_size`, 0 = protocol maximum) for new connections.
    pub(crate) max_packet_size: AtomicU32,
    /// `set_tcp_nodelay`: whether accepted sockets get TCP_NODELAY.
    pub(crate) set_tcp_nodelay: AtomicBool,
    /// Connections open through all listeners, for `global_max_connections`.
    pub(crate) connections: ConnectionCount,
    /// The next connection id.
    pub(crate) next_conn: AtomicU64,
    /// Dropped with the last holder of this struct: once every connection task has ended
    /// (see `run_controlled`).
    pub(crate) _done: mpsc::Sender<()>,
    /// Flips to true when the broker stops waiting for connections to flush.
    pub(crate) aborted: watch::Receiver<bool>,
}

impl Shared {
    /// The inbound packet limit for a connection opening now: `max_packet_size`, or the
    /// protocol maximum when it is 0.
    pub(crate) fn packet_limit(&self) -> u32 {
        match self.max_packet_size.load(Ordering::Relaxed) {
            0 => mqtt_codec::MAX_PACKET_SIZE,
            limit => limit,
        }
    }
}

/// The other ends a test keeps while it uses [`Shared::for_tests`]: dropping them would tell
/// the connection tasks that every task ended, or that the broker stopped waiting.
#[cfg(test)]
pub(crate) struct TestEnds {
    pub(crate) _all_done: mpsc::Receiver<()>,
    pub(crate) _abort: watch::Sender<bool>,
}

#[cfg(test)]
impl Shared {
    /// The state of a broker's connection tasks for a test: default limits, TCP_NODELAY on,
    /// connection ids from 1.
    pub(crate) fn for_tests(
        events: Vec<mpsc::Sender<Event>>,
        logger: Arc<Logger>,
    ) -> (Arc<Self>, TestEnds) {
        let (done, all_done) = mpsc::channel(1);
        let (abort, aborted) = watch::channel(false);
        let shared = Arc::new(Self {
            shards: Shards::new(events),
            core: Arc::default(),
            logger,
            max_packet_size: AtomicU32::new(0),
            set_tcp_nodelay: AtomicBool::new(true),
            connections: ConnectionCount::default(),
            next_conn: AtomicU64::new(1),
            _done: done,
            aborted,
        });
        (shared, TestEnds { _all_done: all_done, _abort: abort })
    }
}

/// Client connections open through all listeners together, for `global_max_connections`.
#[derive(Debug, Default)]
pub(crate) struct ConnectionCount {
    /// Connections open now.
    open: Arc<AtomicUsize>,
    /// `global_max_connections`; 0 = unlimited.
    limit: AtomicU32,
}

impl ConnectionCount {
    /// No connection yet, at most `limit` at a time (`None` = unlimited).
    pub(crate) fn new(limit: Option<u32>) -> Self {
        let count = Self::default();
        count.set_limit(limit);
        count
    }

    /// Replaces the limit (SIGHUP); connections already open stay.
    pub(crate) fn set_limit(&self, limit: Option<u32>) {
        self.limit.store(limit.unwrap_or(0), Ordering::Relaxed);
    }
}

/// Holds one place in the broker's connection count and one in the listener's; released on
/// drop.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    _global: Place,
    _listener: Place,
}

impl ConnectionSlot {
    /// Takes a slot unless `all`'s limit or the listener's `limit` (with `open` connections
    /// open through it) is reached.
    pub(crate) fn acquire(
        all: &ConnectionCount,
        open: &Arc<AtomicUsize>,
        limit: Option<u32>,
    ) -> Option<Self> {
        let global_limit = Some(all.limit.load(Ordering::Relaxed)).filter(|&n| n > 0);
        let global = Place::take(&all.open, global_limit)?;
        let listener = Place::take(open, limit)?;
        Some(Self { _global: global, _listener: listener })
    }
}

/// One place in a count of open connections; released on drop.
#[derive(Debug)]
struct Place(Arc<AtomicUsize>);

impl Place {
    /// Takes a place unless `limit` connections are already open.
    fn take(open: &Arc<AtomicUsize>, limit: Option<u32>) -> Option<Self> {
        let previous = open.fetch_add(1, Ordering::AcqRel);
        if limit.is_some_and(|limit| previous >= limit as usize) {
            open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self(Arc::clone(open)))
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves a connection whose handshakes are done until it ends (the driver hears of it with
/// its first packet).
pub(crate) async fn serve<S: Transport>(
    stream: S,
    conn: ConnId,
    peer: PeerInfo,
    shared: Arc<Shared>,
    slot: ConnectionSlot,
) {
    if shared.shards.stopped() {
        return;
    }
    Connection::new(stream, conn, peer, shared, slot).task().await;
}

/// What woke the task.
enum Step {
    /// The outbox had bytes, which were written as far as the socket took them without
    /// waiting (bytes written, and whether that was all), or the outbox was closed (`None`).
    Write(Option<std::io::Result<(usize, bool)>>),
    /// A read finished with this many bytes (0 = end of stream).
    Read(std::io::Result<usize>),
}

/// One connection's task state.
pub(crate) struct Connection<S> {
    stream: S,
    conn: ConnId,
    outbox: OutboxReceiver,
    shared: Arc<Shared>,
    /// This connection's place in its listener's `max_connections`.
    _slot: ConnectionSlot,
    /// Its buffers while it has bytes to decode or to write, or the driver has not heard of
    /// it yet; `None` while the client is quiet.
    buffers: Option<Box<Buffers>>,
    read_chunk: u32,
    max_packet_size: u32,
    /// Until the CONNECT says otherwise (the codec decodes a CONNECT by its own version).
    version: ProtocolVersion,
    /// False once the socket ended or a decode failed: only writing goes on.
    reading: bool,
    /// The input may hold more whole packets, left until the driver took the last event.
    undecoded: bool,
    /// Events on their way to the driver, waiting for credit or for room in its queue (boxed
    /// once more, so that the field is one word in every connection).
    handing: Option<Box<Wait>>,
    /// Alternates which side is looked at first, so that a client flooded with messages
    /// still has its PINGREQs and acknowledgements read, and a flooding client still gets
    /// its acknowledgements written.
    writes_first: bool,
    /// Nothing has been read yet.
    first_read: bool,
    /// The first byte read was not a CONNECT's: Mosquitto stops reading there and closes
    /// with the rest unread, so the client sees a reset; so does this connection's close.
    reset_on_close: bool,
    /// The driver shard that owns the connection, once its `Event::Open` went (chosen by
    /// its first packet).
    shard: u16,
}

impl<S: Transport> Connection<S> {
    /// A connection task's state. Its `Event::Open` waits (in its buffers) for the first
    /// packet, which says which shard owns the connection; the connection timeout counts from
    /// now.
    pub(crate) fn new(
        stream: S,
        conn: ConnId,
        peer: PeerInfo,
        shared: Arc<Shared>,
        slot: ConnectionSlot,
    ) -> Self {
        let (outbox_tx, outbox) = outbox();
        let max_packet_size = shared.packet_limit();
        let opening = Opening::new(peer, outbox_tx, &shared);
        let buffers = Buffers { opening: Some(Box::new(opening)), ..Buffers::default() };
        Self {
            stream,
            conn,
            outbox,
            shared,
            _slot: slot,
            buffers: Some(Box::new(buffers)),
            read_chunk: READ_CHUNK_FIRST,
            max_packet_size,
            version: ProtocolVersion::V3_1_1,
            reading: true,
            undecoded: false,
            handing: None,
            writes_first: false,
            first_read: true,
            reset_on_close: false,
            shard: 0,
        }
    }

    /// The task that serves the connection (see [`Self::run`]). Every open connection keeps
    /// one: tokio allocates it as a header and trailer of 96 bytes around this future, in
    /// steps of 128 bytes, so the future is kept within 160 bytes (one 256-byte allocation).
    #[expect(
        clippy::manual_async_fn,
        reason = "as an `async fn` its future keeps the connection twice (248 bytes, not 144)"
    )]
    pub(crate) fn task(mut self) -> impl Future<Output = ()> {
        async move { self.run().await }
    }

    /// Serves the connection until the driver drops its outbox or the socket fails.
    ///
    /// Every way out either was decided by the driver (outbox closed) or is reported to it
    /// (`Event::Closed`), so the core always learns that the connection is gone.
    #[expect(
        clippy::manual_async_fn,
        reason = "as an `async fn` its future keeps the reference twice (8 bytes more)"
    )]
    pub(crate) fn run(&mut self) -> impl Future<Output = ()> + Send + '_ {
        // Whatever must wait beyond the next step is one boxed future (`Rest`), so that the
        // loop keeps only a few words across its awaits: this future is part of every idle
        // connection's memory.
        async move {
            loop {
                self.writes_first = !self.writes_first;
                let step = poll_fn(|cx| self.poll_step(cx)).await;
                let Some(rest) = self.after_step(step) else { continue };
                if !rest.await {
                    return;
                }
            }
        }
    }

    /// Handles a step's outcome: what the driver queued went out whole, or a read was decoded
    /// and handed over. Otherwise returns what is left to do: the rest of a write that must
    /// wait, the wait for room in the driver's queue, or closing.
    fn after_step(&mut self, step: Step) -> Option<Rest<'_>> {
        match step {
            Step::Write(None) => Some(Box::pin(self.close())),
            // Most batches go out at once; only a write that must wait takes a box.
            Step::Write(Some(Ok((now, false)))) => Some(Box::pin(self.write_rest(now))),
            Step::Write(Some(written)) => self.after_write(written.map(|(now, _)| now)),
            Step::Read(read) => {
                self.after_read(read);
                None
            }
        }
    }

    /// Writes the rest of a batch of which `now` bytes went out at once.
    async fn write_rest(&mut self, now: usize) -> bool {
        let output = &mut self.buffers.get_or_insert_with(Box::default).output;
        let written = write_all(&mut self.stream, output, now, &self.shared.aborted).await;
        match self.after_write(written) {
            Some(rest) => rest.await,
            None => true,
        }
    }

    /// The driver closed the connection: shuts the socket down (or resets it, see
    /// `reset_on_close`) and drains what the client still sends. Always `false`: the task
    /// ends.
    async fn close(&mut self) -> bool {
        // The driver has forgotten this connection: what still waits for it is of no use.
        self.handing = None;
        if self.reset_on_close {
            let _ = self.stream.reset_on_drop();
            return false;
        }
        let _ = self.stream.shutdown().await;
        drain(&mut self.stream, self.shared.aborted.clone()).await;
        false
    }

    /// Frees the buffers of a written batch, or reports a failed write to the driver (unless
    /// the socket already ended) and ends the task.
    fn after_write(&mut self, written: std::io::Result<usize>) -> Option<Rest<'_>> {
        match written {
            Ok(written) => {
                let buffers = self.buffers.get_or_insert_with(Box::default);
                self.outbox.written(written, &mut buffers.output);
                self.release_idle_buffers();
                None
            }
            Err(err) => Some(Box::pin(self.write_failed(err))),
        }
    }

    /// After a failed write: hands the driver the rest of what was read, then tells it that
    /// the connection is gone (unless reading had ended, which it was told already). Always
    /// `false`: the task ends.
    async fn write_failed(&mut self, err: std::io::Error) -> bool {
        while let Some(wait) = self.handing.take() {
            wait.await;
            self.handing = if self.undecoded { self.hand_over().map(Box::new) } else { None };
        }
        if self.reading {
            let closed = Event::Closed { conn: self.conn, cause: CloseCause::Io(strerror(&err)) };
            if let Some(wait) = self.send(None, Some(closed)) {
                wait.await;
            }
        }
        false
    }

    /// Drops the buffers once neither holds anything (nor any capacity).
    fn release_idle_buffers(&mut self) {
        if self.buffers.as_ref().is_some_and(|buffers| buffers.is_idle()) {
            self.buffers = None;
        }
    }

    /// Decodes what a read brought and hands it to the driver (what must wait goes to
    /// `handing`); at the end of the stream or on a decode error, stops reading (writing goes
    /// on until the driver closes the outbox, after the core's Close, e.g. CONNACK 1 or a v5
    /// DISCONNECT, has gone out).
    fn after_read(&mut self, read: std::io::Result<usize>) {
        let cause = match read {
            Ok(0) => CloseCause::PeerClosed,
            Err(err) => CloseCause::Io(strerror(&err)),
            Ok(_) => {
                if std::mem::take(&mut self.first_read) {
                    // The core closes a connection that does not start with CONNECT.
                    let input = self.buffers.as_ref().map(|buffers| &buffers.input);
                    self.reset_on_close =
                        input.and_then(|input| input.first()).is_some_and(|byte| byte >> 4 != 1);
                }
                self.handing = self.hand_over().map(Box::new);
                return;
            }
        };
        self.reading = false;
        self.drop_input();
        self.handing =
            self.send(None, Some(Event::Closed { conn: self.conn, cause })).map(Box::new);
    }

    /// Decodes the whole packets the input holds and hands them to the driver, an event of up
    /// to [`PACKETS_PER_EVENT`] at a time, until one must wait (for credit or for room in the
    /// queue): that wait is returned, and what is left stays undecoded until it is over
    /// (`undecoded`), so a task never holds more than one decoded event the budget does not
    /// count. A decode error stops reading.
    fn hand_over(&mut self) -> Option<Wait> {
        loop {
            let input = &mut self.buffers.get_or_insert_with(Box::default).input;
            let before = input.len();
            let (packets, error) = decode_some(input, &mut self.version, self.max_packet_size);
            self.undecoded = packets.len() == PACKETS_PER_EVENT;
            let bytes = before - input.len();
            let input_empty = input.is_empty();
            let packets = (!packets.is_empty()).then_some((packets, bytes));
            let error = error.map(|(packet, error)| {
                self.reading = false;
                self.undecoded = false;
                Event::DecodeError { conn: self.conn, packet, error: Box::new(error) }
            });
            if !self.undecoded && (input_empty || !self.reading) {
                // A quiet client holds no read buffer between packets.
                self.drop_input();
            }
            let wait =
                if packets.is_some() || error.is_some() { self.send(packets, error) } else { None };
            if wait.is_some() || !self.undecoded {
                return wait;
            }
        }
    }

    /// Frees the read buffer (and the buffers' box, if the output is empty too).
    fn drop_input(&mut self) {
        if let Some(buffers) = &mut self.buffers {
            buffers.input = BytesMut::new();
            self.release_idle_buffers();
        }
    }

    /// Waits for the outbox or the socket, whichever is ready first (see `writes_first`).
    /// While events are `handing` over to the driver, the socket is not read; when they have
    /// gone, what the read left undecoded is handed over next.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        let opening = self.buffers.as_mut().and_then(|buffers| buffers.opening.as_mut());
        if let Some(Poll::Ready(timed_out)) = opening.map(|opening| opening.until.as_mut().poll(cx))
        {
            if timed_out {
                // The driver hears of it now, with its connection timeout due, and closes it.
                self.handing = self.send(None, None).map(Box::new);
            } else if let Some(buffers) = &mut self.buffers {
                // The drivers stopped: dropping the outbox's sender closes the connection.
                buffers.opening = None;
            }
        }
        while let Some(wait) = &mut self.handing {
            if wait.as_mut().as_mut().poll(cx).is_pending() {
                break;
            }
            self.handing = if self.undecoded { self.hand_over().map(Box::new) } else { None };
        }
        if self.writes_first {
            if let Poll::Ready(step) = self.poll_write(cx) {
                return Poll::Ready(step);
            }
        }
        if self.reading && self.handing.is_none() {
            if let Poll::Ready(read) = self.poll_read(cx) {
                return Poll::Ready(Step::Read(read));
            }
        }
        if !self.writes_first {
            if let Poll::Ready(step) = self.poll_write(cx) {
                return Poll::Ready(step);
            }
        }
        Poll::Pending
    }

    /// Takes what the outbox has and writes as much of it as the socket takes now.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        let more = match &mut self.buffers {
            Some(buffers) => std::task::ready!(self.outbox.poll_take(cx, &mut buffers.output)),
            None => {
                // Looked at with an empty vector, which allocates nothing: buffers are made
                // only for something to write.
                let mut taken = Chunks::new();
                let more = std::task::ready!(self.outbox.poll_take(cx, &mut taken));
                if more {
                    self.buffers = Some(Box::new(Buffers { output: taken, ..Buffers::default() }));
                }
                more
            }
        };
        if !more {
            return Poll::Ready(Step::Write(None));
        }
        let output = &mut self.buffers.get_or_insert_with(Box::default).output;
        Poll::Ready(Step::Write(Some(write_now(&mut self.stream, output, cx))))
    }

    /// Reads into `input` if the socket is readable, taking buffer space only then. When a
    /// read fills all the space it had, the growth step doubles (up to [`READ_CHUNK_MAX`]);
    /// after a small read it returns to [`READ_CHUNK_MIN`].
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        match self.stream.poll_read_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
            Poll::Pending => {
                self.shrink_input();
                return Poll::Pending;
            }
        }
        let chunk = self.read_chunk as usize;
        let input = &mut self.buffers.get_or_insert_with(Box::default).input;
        if input.capacity() - input.len() < chunk / 4 {
            input.reserve(chunk);
        }
        let space = input.capacity() - input.len();
        let read = {
            let read = self.stream.read_buf(input);
            let mut read = std::pin::pin!(read);
            read.as_mut().poll(cx)
        };
        let Poll::Ready(read) = read else {
            // Readiness was stale (or, on a WebSocket, no whole frame has come).
            self.shrink_input();
            return Poll::Pending;
        };
        if let Ok(read) = read {
            if read == space {
                self.read_chunk = (self.read_chunk * 2).min(READ_CHUNK_MAX);
            } else if read < chunk / 8 {
                self.read_chunk = READ_CHUNK_MIN;
            }
        }
        Poll::Ready(read)
    }

    /// While the socket has nothing more to read, holds no more buffer than the bytes of an
    /// incomplete packet need: none when there are none, and a copy of a few of them rather
    /// than the read buffer they came in (a client that stops in the middle of a packet,
    /// such as a stalled CONNECT, would keep a whole read chunk). Larger remains keep
    /// their buffer: the rest of their packet is usually on its way.
    fn shrink_input(&mut self) {
        let Some(buffers) = &mut self.buffers else { return };
        let input = &mut buffers.input;
        if input.is_empty() {
            *input = BytesMut::new();
            self.release_idle_buffers();
        } else if input.len() <= SHRINK_MAX && input.capacity() > 2 * input.len() {
            *input = BytesMut::from(&input[..]);
        }
    }

    /// Hands the driver `packets` (and the bytes they were decoded from), with their credit,
    /// then `then`, in order, after the connection's `Event::Open` if the driver has not
    /// heard of it yet; or returns the wait for credit or for room in its queue (boxed, so
    /// that the rare wait does not enlarge every connection's task). Nothing to do if the
    /// driver stopped: the outbox then closes too.
    fn send(&mut self, packets: Option<(Vec<Packet>, usize)>, then: Option<Event>) -> Option<Wait> {
        let conn = self.conn;
        let open = self.open(packets.as_ref().and_then(|(packets, _)| packets.first()));
        let shard = usize::from(self.shard);
        let inbox = self.shared.shards.get(shard);
        let packets = match packets {
            None => None,
            Some((packets, bytes)) => {
                let cost = Budget::cost(&packets, bytes);
                let Some(credit) = inbox.budget.try_take(cost) else {
                    let uncredited = Some((packets, bytes, cost));
                    let later =
                        send_later(Arc::clone(&self.shared), shard, conn, open, uncredited, then);
                    return Some(Box::pin(later));
                };
                Some(Event::Packets { conn, packets, bytes, credit })
            }
        };
        let mut events = open.into_iter().chain(packets).chain(then);
        while let Some(event) = events.next() {
            match inbox.events.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Closed(_)) => return None,
                Err(TrySendError::Full(event)) => {
                    let rest = std::iter::once(event).chain(events);
                    let shared = Arc::clone(&self.shared);
                    return Some(Box::pin(send_later(shared, shard, conn, None, None, rest)));
                }
            }
        }
        None
    }

    /// The connection's `Event::Open`, if the driver has not heard of it yet, and the choice
    /// of the shard that owns it: by the `first` packet's client id if it is a CONNECT (see
    /// `mqtt_core::shard_for_connect`), else by the connection id.
    fn open(&mut self, first: Option<&Packet>) -> Option<Event> {
        let Opening { peer, outbox, opened, .. } = *self.buffers.as_mut()?.opening.take()?;
        let count = self.shared.shards.count();
        let shard = match first {
            Some(Packet::Connect(connect)) => {
                mqtt_core::shard_for_connect(connect, &peer, &self.shared.core, self.conn, count)
            }
            // The remainder is below the count, a usize.
            _ => (self.conn.0 % count as u64) as usize,
        };
        // `run_controlled` starts at most `u16::MAX` shards.
        self.shard = u16::try_from(shard).unwrap_or_default();
        self.release_idle_buffers();
        let conn = self.conn;
        Some(Event::Open { conn, peer, outbox, opened: opened.into_std() })
    }
}

/// A connection the driver has not heard of yet (see [`Connection::open`]): what its
/// `Event::Open` carries, and the wait for its connection timeout.
struct Opening {
    peer: PeerInfo,
    /// The driver's end of the connection's outbox.
    outbox: OutboxSender,
    /// When the connection was accepted: its connection timeout counts from then.
    opened: tokio::time::Instant,
    /// Completes with `true` at the connection timeout, or `false` when the drivers stop
    /// (then dropping `outbox` closes the connection, as a stopping driver does).
    until: Pin<Box<dyn Future<Output = bool> + Send>>,
}

impl Opening {
    fn new(peer: PeerInfo, outbox: OutboxSender, shared: &Shared) -> Self {
        let opened = tokio::time::Instant::now();
        let timeout = tokio::time::sleep_until(opened + shared.core.connect_timeout);
        let events = shared.shards.get(0).events.clone();
        let until = async move {
            tokio::select! {
                () = timeout => true,
                () = events.closed() => false,
            }
        };
        Self { peer, outbox, opened, until: Box::pin(until) }
    }
}

/// A rare, boxed wait of a connection task: events on their way to the driver.
type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The wait of [`Connection::send`]: hands `shard`'s driver the connection's `open` event,
/// takes the credit of the `uncredited` packets (decoded from so many bytes, costing so much)
/// and hands them over, then the `rest`, each as soon as its queue has room.
async fn send_later(
    shared: Arc<Shared>,
    shard: usize,
    conn: ConnId,
    open: Option<Event>,
    uncredited: Option<(Vec<Packet>, usize, u32)>,
    rest: impl IntoIterator<Item = Event>,
) {
    let inbox = shared.shards.get(shard);
    if let Some(open) = open {
        if inbox.events.send(open).await.is_err() {
            return;
        }
    }
    let first = match uncredited {
        Some((packets, bytes, cost)) => {
            let credit = inbox.budget.clone().take(cost).await;
            Some(Event::Packets { conn, packets, bytes, credit })
        }
        None => None,
    };
    for event in first.into_iter().chain(rest) {
        if inbox.events.send(event).await.is_err() {
            return;
        }
    }
}

/// What is left of a step that cannot be done at once (see [`Connection::after_step`]);
/// `false` when the task ends after it. Boxed: the rare, large waits must not enlarge every
/// connection's task.
type Rest<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// A busy connection's buffers, and a new one's `Opening`. Boxed, and dropped whenever both
/// buffers are empty and the driver has heard of the connection: inline, their handles alone
/// would add 56 bytes to every idle connection's task.
#[derive(Default)]
struct Buffers {
    /// Bytes read and not yet decoded.
    input: BytesMut,
    /// Encoded bytes taken from the outbox and being written.
    output: Chunks,
    /// Until the first packet (or close) goes to the driver.
    opening: Option<Box<Opening>>,
}

impl Buffers {
    /// Neither buffer holds bytes or capacity, and the connection is open in a driver.
    fn is_idle(&self) -> bool {
        self.input.capacity() == 0 && self.output.capacity() == 0 && self.opening.is_none()
    }
}

/// Chunks handed to one vectored write by [`write_now`], from an array on the stack.
const NOW_SLICES: usize = 64;

/// Writes as much of `chunks` as the socket takes without waiting (vectored; the written
/// chunks are left empty). Returns the number of bytes and whether everything was written.
fn write_now<S: AsyncWrite + Unpin>(
    stream: &mut S,
    chunks: &mut [Bytes],
    cx: &mut Context<'_>,
) -> std::io::Result<(usize, bool)> {
    let mut total = 0;
    let mut first = 0;
    loop {
        while chunks.get(first).is_some_and(Bytes::is_empty) {
            first += 1;
        }
        if first == chunks.len() {
            return Ok((total, true));
        }
        let mut slices = [IoSlice::new(&[]); NOW_SLICES];
        let mut count = 0;
        for (slice, chunk) in slices.iter_mut().zip(&chunks[first..]) {
            *slice = IoSlice::new(chunk);
            count += 1;
        }
        let written = match Pin::new(&mut *stream).poll_write_vectored(cx, &slices[..count]) {
            Poll::Ready(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Poll::Ready(written) => written?,
            Poll::Pending => return Ok((total, false)),
        };
        total += written;
        first = consume(chunks, first, written);
    }
}

/// Marks `written` bytes of `chunks`, from `first` on, as written (advancing or emptying the
/// chunks); returns the index of the first chunk with bytes left.
fn consume(chunks: &mut [Bytes], mut first: usize, written: usize) -> usize {
    let mut left = written;
    while left > 0 {
        let Some(chunk) = chunks.get_mut(first) else { break };
        let step = left.min(chunk.len());
        chunk.advance(step);
        left -= step;
        if chunk.is_empty() {
            first += 1;
        }
    }
    first
}

/// Writes every chunk of `chunks` (vectored; the written ones are left empty) and returns
/// the number of bytes, counting the `already` written before. Fails when the peer accepts nothing for [`WRITE_STALL`] (it stopped
/// reading: without this the task would hold its memory until TCP gives up, which can take
/// hours) or when the broker aborts.
async fn write_all<S: AsyncWrite + Unpin>(
    stream: &mut S,
    chunks: &mut [Bytes],
    already: usize,
    abort: &watch::Receiver<bool>,
) -> std::io::Result<usize> {
    let mut total = already;
    let mut first = 0;
    while chunks.get(first).is_some_and(Bytes::is_empty) {
        first += 1;
    }
    while first < chunks.len() {
        let slices: Vec<IoSlice<'_>> =
            chunks[first..].iter().take(MAX_SLICES).map(|chunk| IoSlice::new(chunk)).collect();
        // Most writes go through at once: try without arming a timer first.
        let attempt =
            poll_fn(|cx| Poll::Ready(Pin::new(&mut *stream).poll_write_vectored(cx, &slices)))
                .await;
        let written = match attempt {
            Poll::Ready(written) => written?,
            Poll::Pending => tokio::select! {
                written = tokio::time::timeout(WRITE_STALL, stream.write_vectored(&slices)) => match written {
                    Ok(written) => written?,
                    Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "write timed out")),
                },
                () = aborted(abort.clone()) => {
                    return Err(std::io::Error::other("broker shutting down"));
                }
            },
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        total += written;
        first = consume(chunks, first, written);
        while chunks.get(first).is_some_and(Bytes::is_empty) {
            first += 1;
        }
    }
    Ok(total)
}

/// Completes once the abort flag is true; never if the broker is gone without setting it.
async fn aborted(mut abort: watch::Receiver<bool>) {
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

/// Decodes up to [`PACKETS_PER_EVENT`] whole packets from `input`. Returns them and, if
/// decoding failed, the error with the type the failing packet's first byte names. The protocol version switches to the CONNECT's as soon as one
/// is decoded. The vector is sized by a scan of the fixed headers: a `Packet` is 80 bytes,
/// so regrowing it (or over-allocating it) would cost more than the scan.
fn decode_some(
    input: &mut BytesMut,
    version: &mut ProtocolVersion,
    max_packet_size: u32,
) -> (Vec<Packet>, Option<(Option<PacketType>, DecodeError)>) {
    let mut packets = Vec::with_capacity(whole_packets(input, *version, PACKETS_PER_EVENT).max(1));
    while packets.len() < PACKETS_PER_EVENT {
        let packet_type = input.first().and_then(|byte| PacketType::from_u8(byte >> 4));
        match mqtt_codec::decode(input, *version, max_packet_size) {
            Ok(Some(packet)) => {
                if let Packet::Connect(connect) = &packet {
                    *version = connect.protocol;
                }
                packets.push(packet);
            }
            Ok(None) => break,
            Err(err) => return (packets, Some((packet_type, err))),
        }
    }
    (packets, None)
}

/// How many whole packets (up to `limit`) start `input`, judging by their fixed headers only
/// (a header the codec would refuse ends the count).
fn whole_packets(input: &[u8], version: ProtocolVersion, limit: usize) -> usize {
    let mut at = 0;
    let mut count = 0;
    while count < limit {
        let Some(rest) = input.get(at..) else { break };
        let Ok(Some(len)) = mqtt_codec::whole_packet_len(rest, version) else { break };
        at += len;
        count += 1;
    }
    count
}

/// Reads and discards what the client still sends after the broker closed the connection
/// (and shut down writing), until the client closes too, [`DRAIN_BYTES`] have come,
/// [`DRAIN_TIME`] has passed, or the broker stops waiting (`aborted`).
async fn drain<S: Transport>(stream: &mut S, mut aborted: watch::Receiver<bool>) {
    let mut scratch = vec![0; READ_CHUNK_MAX as usize];
    let reads = async {
        let mut left = DRAIN_BYTES;
        while left > 0 {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(read) => left = left.saturating_sub(read),
            }
        }
    };
    tokio::select! {
        () = reads => {}
        () = tokio::time::sleep(DRAIN_TIME) => {}
        _ = aborted.wait_for(|&aborted| aborted) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_slots_enforce_both_limits_and_free_on_drop() {
        let all = ConnectionCount::new(Some(3));
        let (one, other) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let first = ConnectionSlot::acquire(&all, &one, Some(2));
        let second = ConnectionSlot::acquire(&all, &one, Some(2));
        assert!(first.is_some() && second.is_some());
        assert!(ConnectionSlot::acquire(&all, &one, Some(2)).is_none(), "the listener's limit");
        let third = ConnectionSlot::acquire(&all, &other, None);
        assert!(third.is_some());
        assert!(ConnectionSlot::acquire(&all, &other, None).is_none(), "the broker's limit");
        drop(first);
        assert!(ConnectionSlot::acquire(&all, &one, Some(2)).is_some());
        all.set_limit(None);
        let more: Vec<_> = (0..3).map(|_| ConnectionSlot::acquire(&all, &other, None)).collect();
        assert!(more.iter().all(Option::is_some));
    }

    /// What a test keeps besides the connection: the client's end of its socket, the other
    /// ends of its shared state, and the driver's event queue.
    type Ends = (tokio::net::TcpStream, TestEnds, mpsc::Receiver<Event>);

    /// A connection task's state over a real socket, and the ends a test keeps.
    async fn connection() -> (Connection<tokio::net::TcpStream>, Ends) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let (events, queue) = mpsc::channel(16);
        let logger = Arc::new(Logger::new(crate::config::LogTypes::NONE, false, false));
        let (shared, ends) = Shared::for_tests(vec![events], logger);
        let slot = ConnectionSlot::acquire(&shared.connections, &Arc::default(), None).unwrap();
        let peer = PeerInfo {
            address: "127.0.0.1".into(),
            port: 1,
            listener: 0,
            certificate_username: None,
        };
        let connection = Connection::new(stream, ConnId(1), peer, shared, slot);
        (connection, (client, ends, queue))
    }

    /// Runs the connection's task for `millis` (it stays open).
    async fn run_for(connection: &mut Connection<tokio::net::TcpStream>, millis: u64) {
        let run = tokio::time::timeout(std::time::Duration::from_millis(millis), connection.run());
        assert!(run.await.is_err(), "the connection stays open");
    }

    #[tokio::test]
    async fn the_driver_hears_of_a_connection_with_its_first_packet_or_its_end() {
        let (mut connection, (mut client, _ends, mut queue)) = connection().await;
        run_for(&mut connection, 100).await;
        assert!(queue.try_recv().is_err(), "nothing before a packet");
        client.write_all(&[0xc0, 0x00]).await.unwrap();
        run_for(&mut connection, 100).await;
        assert!(matches!(queue.try_recv(), Ok(Event::Open { conn: ConnId(1), .. })));
        assert!(
            matches!(queue.try_recv(), Ok(Event::Packets { packets, .. }) if packets == [Packet::PingReq])
        );
        assert!(connection.buffers.is_none(), "nothing is kept once the driver knows");
        // A connection closed before its first packet: `Open`, then `Closed`.
        let (mut connection, (client, _ends, mut queue)) = self::connection().await;
        drop(client);
        run_for(&mut connection, 100).await;
        assert!(matches!(queue.try_recv(), Ok(Event::Open { .. })));
        let closed = queue.try_recv();
        assert!(matches!(closed, Ok(Event::Closed { cause: CloseCause::PeerClosed, .. })));
    }

    #[tokio::test]
    async fn a_connection_stalled_inside_a_packet_keeps_only_its_bytes() {
        let (mut connection, (mut client, _ends, _queue)) = connection().await;
        // The start of a CONNECT, then nothing (slowloris).
        client.write_all(&[0x10, 0x0d, 0x00]).await.unwrap();
        let stalled = tokio::time::timeout(std::time::Duration::from_millis(300), connection.run());
        assert!(stalled.await.is_err(), "the connection waits for the rest");
        let input = &connection.buffers.as_ref().expect("bytes are kept").input;
        assert_eq!(&input[..], [0x10, 0x0d, 0x00]);
        let capacity = input.capacity();
        assert!(capacity < 64, "a read chunk is kept: {capacity} bytes");
    }

    #[tokio::test]
    async fn a_quiet_connection_holds_no_buffers() {
        let (mut connection, (mut client, _ends, mut queue)) = connection().await;
        // A whole PINGREQ in, a PINGRESP out, then quiet.
        client.write_all(&[0xc0, 0x00]).await.unwrap();
        run_for(&mut connection, 100).await;
        let Ok(Event::Open { mut outbox, .. }) = queue.try_recv() else { panic!("no Open") };
        let mut batch = crate::outbox::Batch::default();
        outbox.push(&mut batch, &Packet::PingResp, ProtocolVersion::V3_1_1).unwrap();
        outbox.flush(&mut batch).unwrap();
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(300), connection.run());
        assert!(quiet.await.is_err(), "the connection stays open");
        let mut pingresp = [0; 2];
        client.read_exact(&mut pingresp).await.unwrap();
        assert_eq!(pingresp, [0xd0, 0x00]);
        assert!(connection.buffers.is_none(), "buffers are kept while quiet");
    }

    #[tokio::test]
    async fn an_idle_connection_task_stays_small() {
        let (connection, _ends) = connection().await;
        // Every idle connection pays for its state and its task's future: keep both small.
        let state = size_of_val(&connection);
        let task = size_of_val(&connection.task());
        assert!(state <= 112, "the connection state is {state} bytes");
        // tokio adds 96 bytes and rounds up to 128: at most 160 keeps the task in 256 bytes.
        assert!(task <= 160, "the connection task is {task} bytes");
    }
}
