//! A fake broker for one client connection: it answers every packet the same way whichever
//! client connects (CONNACK, SUBACK granting what was asked, PUBACK/PUBREC/PUBCOMP, PUBREL,
//! PINGRESP; no UNSUBACK, see `answer`), delivers a row's messages after the first SUBACK,
//! and records every byte the client sends until it closes the connection.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mqtt_codec::{
    Ack, ConnAck, MAX_PACKET_SIZE, Packet, PacketId, ProtocolVersion, Publish, QoS, ReasonCode,
    SubAck, TopicName, decode, encode, whole_packet_len,
};

/// How long the fake broker waits for the client to connect and to close.
const DEADLINE: Duration = Duration::from_secs(15);

/// A message the fake broker sends the client after the first SUBACK.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delivery {
    /// Its topic.
    pub(crate) topic: &'static str,
    /// Its QoS (its packet identifier, when it has one, is its index in the list plus one).
    pub(crate) qos: u8,
    /// Its retain flag.
    pub(crate) retain: bool,
}

/// What the client sent: every byte in order, and the protocol version its CONNECT asked for.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    /// Every byte the client wrote, until it closed the connection.
    pub(crate) bytes: Vec<u8>,
    /// The version of the client's CONNECT (3.1.1 until one arrives).
    pub(crate) version: Option<ProtocolVersion>,
}

/// A fake broker listening on a loopback port the OS picked, serving one connection.
pub(crate) struct FakeBroker {
    /// The port the client must connect to.
    pub(crate) port: u16,
    serving: JoinHandle<Recorded>,
    /// Set once the client has exited: a client that never connected never will.
    client_gone: Arc<AtomicBool>,
}

impl FakeBroker {
    /// Starts listening; the first connection is served, and `deliveries` are sent to it
    /// after its first SUBACK.
    ///
    /// # Panics
    /// If loopback cannot be bound.
    pub(crate) fn start(deliveries: &'static [Delivery]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        let port = listener.local_addr().expect("bound socket has an address").port();
        let client_gone = Arc::new(AtomicBool::new(false));
        let gone = Arc::clone(&client_gone);
        let serving = std::thread::spawn(move || serve(&listener, &gone, deliveries));
        Self { port, serving, client_gone }
    }

    /// What the client sent, called once the client has exited: everything it wrote before
    /// it closed the connection (nothing, if it never connected).
    ///
    /// # Panics
    /// If the serving thread panicked.
    pub(crate) fn recorded(self) -> Recorded {
        self.client_gone.store(true, Ordering::Relaxed);
        self.serving.join().expect("the fake broker does not panic")
    }
}

/// Accepts one connection (unless the client exits first) and serves it until the client
/// closes it or the deadline.
fn serve(listener: &TcpListener, client_gone: &AtomicBool, deliveries: &[Delivery]) -> Recorded {
    let start = Instant::now();
    listener.set_nonblocking(true).expect("non-blocking listener");
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(err)
                if err.kind() == ErrorKind::WouldBlock
                    && start.elapsed() < DEADLINE
                    && !client_gone.load(Ordering::Relaxed) =>
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => return Recorded::default(),
        }
    };
    stream.set_nonblocking(false).expect("blocking stream");
    stream.set_read_timeout(Some(Duration::from_millis(50))).expect("read timeout");
    let mut recorded = Recorded::default();
    let mut pending = BytesMut::new();
    let mut delivered = false;
    while start.elapsed() < DEADLINE {
        let Some(read) = read_available(&mut stream, &mut pending) else { break };
        if read == 0 {
            continue;
        }
        recorded.bytes.extend_from_slice(&pending[pending.len() - read..]);
        while let Some(packet) = next_packet(&mut pending, &mut recorded) {
            let version = recorded.version.unwrap_or(ProtocolVersion::V3_1_1);
            let subscribed = matches!(packet, Packet::Subscribe(_));
            let mut replies: Vec<Packet> = answer(packet).into_iter().collect();
            if subscribed && !delivered {
                delivered = true;
                replies
                    .extend(deliveries.iter().zip(1..).map(|(delivery, id)| deliver(delivery, id)));
            }
            // A client that has gone cannot take the answer; what it sent is still recorded.
            send(&mut stream, &replies, version);
        }
    }
    recorded
}

/// Reads what `stream` has (waiting at most its read timeout) onto the end of `pending`:
/// how many bytes came (0 when none did in time), `None` once it is closed or failed.
pub(crate) fn read_available(stream: &mut TcpStream, pending: &mut BytesMut) -> Option<usize> {
    let mut chunk = [0_u8; 4096];
    match stream.read(&mut chunk) {
        Ok(0) => None,
        Ok(read) => {
            pending.extend_from_slice(&chunk[..read]);
            Some(read)
        }
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Some(0),
        Err(_) => None,
    }
}

/// The next whole packet in `pending`, decoded for the version of the client's CONNECT
/// (which this call learns from the CONNECT itself); `None` when no whole packet is buffered
/// or the bytes do not decode (the record still holds them).
fn next_packet(pending: &mut BytesMut, recorded: &mut Recorded) -> Option<Packet> {
    if recorded.version.is_none() {
        recorded.version = Some(connect_version(pending)?);
    }
    let version = recorded.version.unwrap_or(ProtocolVersion::V3_1_1);
    whole_packet_len(pending, version).ok()??;
    match decode(pending, version, MAX_PACKET_SIZE) {
        Ok(packet) => packet,
        Err(_) => {
            pending.clear();
            None
        }
    }
}

/// The protocol version a whole CONNECT at the start of `bytes` asks for (with or without
/// the bridge bit of a 3.x bridge's CONNECT).
pub(crate) fn connect_version(bytes: &[u8]) -> Option<ProtocolVersion> {
    whole_packet_len(bytes, ProtocolVersion::V5).ok()??;
    // The fixed header: the type byte, then the remaining length's bytes (all but the last
    // have their top bit set).
    let header = 2 + bytes.get(1..)?.iter().take_while(|byte| *byte & 0x80 != 0).count();
    let name_len = usize::from(u16::from_be_bytes([*bytes.get(header)?, *bytes.get(header + 1)?]));
    ProtocolVersion::from_level(*bytes.get(header + 2 + name_len)? & 0x7f)
}

/// The fake broker's answer to one client packet: what a permissive broker says.
pub(crate) fn answer(packet: Packet) -> Option<Packet> {
    match packet {
        Packet::Connect(_) => Some(Packet::ConnAck(ConnAck::new(ReasonCode::Success))),
        Packet::Subscribe(subscribe) => {
            let granted =
                subscribe.filters.iter().map(|(_, options)| ReasonCode::granted(options.qos));
            Some(Packet::SubAck(SubAck::new(subscribe.packet_id, granted.collect())))
        }
        // No UNSUBACK: the tools never wait for one, and one still unread when a tool closes
        // its socket makes the kernel reset the connection, which can drop the tool's last
        // bytes (its DISCONNECT) before the record reads them.
        Packet::Publish(publish) => match (publish.qos, publish.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => Some(Packet::PubAck(Ack::new(id))),
            (QoS::ExactlyOnce, Some(id)) => Some(Packet::PubRec(Ack::new(id))),
            _ => None,
        },
        Packet::PubRec(ack) => Some(Packet::PubRel(Ack::new(ack.packet_id))),
        Packet::PubRel(ack) => Some(Packet::PubComp(Ack::new(ack.packet_id))),
        Packet::PingReq => Some(Packet::PingResp),
        _ => None,
    }
}

/// The PUBLISH for `delivery`, the `id`th of the row.
fn deliver(delivery: &Delivery, id: u16) -> Packet {
    let topic = TopicName::new(delivery.topic).expect("a row's delivery topic is valid");
    let mut publish = Publish::new(topic, Bytes::from_static(b"payload"));
    publish.qos = QoS::from_u8(delivery.qos).expect("a row's delivery QoS is 0, 1 or 2");
    publish.retain = delivery.retain;
    publish.packet_id = (publish.qos != QoS::AtMostOnce).then(|| PacketId::new(id)).flatten();
    Packet::Publish(publish)
}

/// Writes `packets`, if the client is still there to take them.
fn send(stream: &mut TcpStream, packets: &[Packet], version: ProtocolVersion) {
    let mut out = BytesMut::new();
    for packet in packets {
        encode(packet, version, MAX_PACKET_SIZE, &mut out)
            .expect("the fake broker's packets encode");
    }
    let _ = stream.write_all(&out);
}
