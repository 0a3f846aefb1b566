//! Opening benchmark connections: a loopback source address per client (connecting thousands
//! of sockets from one address is ten times slower here), CONNECT/CONNACK and
//! SUBSCRIBE/SUBACK with deadlines, and reading whole packets with mqtt-codec.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use bytes::BytesMut;
use mqtt_codec::{
    Connect, MqttString, Packet, PacketId, ProtocolVersion, QoS, ReasonCode, Subscribe,
    SubscriptionOptions, TopicFilter,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

/// Every handshake step must finish within this.
pub(crate) const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// Loopback source addresses used, 127.0.0.2 onwards.
const SOURCE_ADDRESSES: usize = 32;
/// Protocol of every benchmark client.
pub(crate) const VERSION: ProtocolVersion = ProtocolVersion::V3_1_1;

/// The loopback source address of client number `index`.
pub(crate) fn source_address(index: usize) -> Ipv4Addr {
    let last = 2 + (index % SOURCE_ADDRESSES) as u8;
    Ipv4Addr::new(127, 0, 0, last)
}

/// Opens a TCP connection to `broker` from client `index`'s source address.
pub(crate) async fn open(broker: SocketAddr, index: usize) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4().context("creating a socket")?;
    let source = SocketAddr::from((source_address(index), 0));
    socket.bind(source).with_context(|| format!("binding {source}"))?;
    timeout(HANDSHAKE_DEADLINE, socket.connect(broker))
        .await
        .with_context(|| format!("connecting to {broker}: timed out"))?
        .with_context(|| format!("connecting to {broker}"))
}

/// Connects client `index` to `broker` with a clean session and `client_id`, and waits for a
/// successful CONNACK. Returns the stream and any bytes read past the CONNACK.
pub(crate) async fn connect(
    broker: SocketAddr,
    index: usize,
    client_id: &str,
    keep_alive: u16,
) -> Result<(TcpStream, BytesMut)> {
    connect_session(broker, index, client_id, keep_alive, true).await
}

/// [`connect`] with the clean-session flag given: `false` makes (or resumes) a persistent
/// session, which outlives the connection and whose queue a broker with persistence keeps.
pub(crate) async fn connect_session(
    broker: SocketAddr,
    index: usize,
    client_id: &str,
    keep_alive: u16,
    clean_session: bool,
) -> Result<(TcpStream, BytesMut)> {
    let mut stream = open(broker, index).await?;
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    let client_id = MqttString::new(client_id).context("client id")?;
    let mut connect = Connect::new(VERSION, client_id);
    connect.keep_alive = keep_alive;
    connect.clean_start = clean_session;
    let mut input = BytesMut::with_capacity(256);
    match exchange(&mut stream, &Packet::Connect(Box::new(connect)), &mut input).await? {
        Packet::ConnAck(ack) if ack.reason == ReasonCode::Success => Ok((stream, input)),
        other => bail!("CONNECT refused: {other:?}"),
    }
}

/// Subscribes to `filter` at `qos` and waits for a SUBACK granting exactly that.
pub(crate) async fn subscribe(
    stream: &mut TcpStream,
    input: &mut BytesMut,
    filter: &str,
    qos: QoS,
) -> Result<()> {
    let filter = TopicFilter::new(filter).with_context(|| format!("filter {filter:?}"))?;
    let subscribe = Subscribe::new(PacketId::MIN, vec![(filter, SubscriptionOptions::new(qos))]);
    match exchange(stream, &Packet::Subscribe(subscribe), input).await? {
        Packet::SubAck(ack) if ack.reasons == [ReasonCode::granted(qos)] => Ok(()),
        other => bail!("SUBSCRIBE at {qos:?} not granted: {other:?}"),
    }
}

/// Sends `packet` and returns the next packet that arrives.
async fn exchange(stream: &mut TcpStream, packet: &Packet, input: &mut BytesMut) -> Result<Packet> {
    let mut out = BytesMut::new();
    mqtt_codec::encode(packet, VERSION, u32::MAX, &mut out).context("encoding")?;
    timeout(HANDSHAKE_DEADLINE, stream.write_all(&out))
        .await
        .context("sending: timed out")?
        .context("sending")?;
    timeout(HANDSHAKE_DEADLINE, read_packet(stream, input))
        .await
        .context("waiting for the answer: timed out")?
}

/// Reads until `input` holds a whole packet and decodes it.
pub(crate) async fn read_packet(stream: &mut TcpStream, input: &mut BytesMut) -> Result<Packet> {
    loop {
        if let Some(packet) =
            mqtt_codec::decode(input, VERSION, u32::MAX).context("decoding the answer")?
        {
            return Ok(packet);
        }
        if stream.read_buf(input).await.context("reading")? == 0 {
            bail!("the broker closed the connection");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_cycle_over_loopback_without_the_broker_address() {
        assert_eq!(source_address(0), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_address(31), Ipv4Addr::new(127, 0, 0, 33));
        assert_eq!(source_address(32), Ipv4Addr::new(127, 0, 0, 2));
        assert!((0..1000).all(|i| source_address(i).is_loopback()));
    }
}
