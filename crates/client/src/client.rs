//! `Client`: the thin tokio loop around [`ClientSession`] — one task, one socket, reads and
//! writes interleaved with `select!`, every packet logged through the `-d` hook in the order
//! Mosquitto logs it.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use mqtt_codec::{
    ConnAck, Connect, MqttString, Packet, Properties, ProtocolVersion, Publish, QoS, ReasonCode,
    SubscriptionOptions, TopicFilter, TopicName,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

use crate::debug::{DebugHook, received_line, sending_lines};
use crate::error::{ClientError, ConnectError};
use crate::options::ConnectOptions;
use crate::session::{ClientSession, Event, SessionConfig, SessionError};
use crate::tcp::TcpOptions;
use crate::transport::{self, Io};

/// What a successful CONNACK said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connected {
    /// The broker kept a session for this client id.
    pub session_present: bool,
    /// CONNACK properties (v5).
    pub properties: Properties,
}

/// The socket halves of a live connection.
struct Link {
    reader: ReadHalf<Box<dyn Io>>,
    writer: WriteHalf<Box<dyn Io>>,
    /// The TCP options its socket carries, as read back from the kernel.
    tcp: Option<TcpOptions>,
}

/// An MQTT connection to one broker.
///
/// Requests (`publish`, `subscribe`, `unsubscribe`) queue packets and return at once; the
/// packets go out while [`next_event`](Self::next_event), [`flush`](Self::flush) or
/// [`disconnect`](Self::disconnect) run. `next_event` is cancel-safe, so it can sit in a
/// `tokio::select!` next to signals and timers.
pub struct Client {
    options: ConnectOptions,
    session: ClientSession,
    link: Option<Link>,
    read_buf: BytesMut,
    write_buf: BytesMut,
    debug: Option<DebugHook>,
    broker_max_packet: u32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("session", &self.session).finish_non_exhaustive()
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Result of one turn of the I/O loop.
enum Step {
    Wrote(std::io::Result<usize>),
    Read(std::io::Result<usize>),
    Timer,
}

impl Client {
    /// Connects, sends CONNECT and waits for CONNACK.
    ///
    /// # Errors
    /// The connection could not be opened, or the broker refused it (see
    /// [`ConnectError::exit_code`]).
    pub async fn connect(
        options: ConnectOptions,
        debug: Option<DebugHook>,
    ) -> Result<(Self, Connected), ConnectError> {
        let config = SessionConfig {
            protocol: options.protocol,
            keep_alive: options.keep_alive,
            max_inflight: options.max_inflight,
            client_id: options.client_id.clone(),
        };
        let mut client = Self {
            session: ClientSession::new(config, now()),
            options,
            link: None,
            read_buf: BytesMut::with_capacity(4096),
            write_buf: BytesMut::with_capacity(4096),
            debug,
            broker_max_packet: u32::MAX,
        };
        let connected = client.establish().await?;
        Ok((client, connected))
    }

    /// Opens a new connection with the same options after the old one was lost. Message ids
    /// keep counting; in-flight state of the old connection is dropped.
    ///
    /// # Errors
    /// As for [`connect`](Self::connect).
    pub async fn reconnect(&mut self) -> Result<Connected, ConnectError> {
        if let Some(mut link) = self.link.take() {
            let _ = link.writer.shutdown().await;
        }
        self.session.reset_for_reconnect(now());
        self.read_buf.clear();
        self.write_buf.clear();
        self.broker_max_packet = u32::MAX;
        self.establish().await
    }

    fn connect_packet(&self) -> Result<Connect, ConnectError> {
        let options = &self.options;
        let invalid = |what: &str| ConnectError::Protocol(format!("invalid {what}"));
        let client_id = match &options.client_id {
            Some(id) => MqttString::new(id).map_err(|_| invalid("client id"))?,
            None => MqttString::from_static(""),
        };
        let username = match &options.username {
            Some(name) => Some(MqttString::new(name).map_err(|_| invalid("user name"))?),
            None => None,
        };
        Ok(Connect {
            protocol: options.protocol,
            clean_start: options.clean_start,
            keep_alive: options.keep_alive,
            client_id,
            will: options.will.clone(),
            username,
            password: options.password.clone(),
            properties: options.connect_properties.clone(),
            bridge: options.bridge,
        })
    }

    async fn establish(&mut self) -> Result<Connected, ConnectError> {
        let connect = self.connect_packet()?;
        let (stream, tcp) = match transport::open(&self.options).await {
            Ok(opened) => opened,
            Err(err @ ConnectError::TlsHandshake(_)) => {
                // libmosquitto queues CONNECT before its handshake fails, so -d shows it.
                let id = self.session.client_id().map(str::to_owned);
                self.log(&format!("Client {} sending CONNECT", id.as_deref().unwrap_or("(null)")));
                return Err(err);
            }
            Err(err) => return Err(err),
        };
        let (reader, writer) = tokio::io::split(stream);
        self.link = Some(Link { reader, writer, tcp });
        self.session.connect(connect, now());
        self.encode_pending().map_err(|err| ConnectError::Protocol(err.to_string()))?;
        loop {
            if let Some(event) = self.session.poll_event() {
                if let Event::ConnAck { code, session_present, properties } = event {
                    if code != 0 {
                        if self.options.disconnect_on_refusal {
                            // Best effort, as mosquitto_sub: the broker closes the connection.
                            self.session.disconnect(
                                ReasonCode::Success,
                                Properties::default(),
                                now(),
                            );
                            if self.encode_pending().is_ok() {
                                let _ = self.flush().await;
                            }
                        }
                        return Err(ConnectError::Refused {
                            code,
                            v5: self.options.protocol == ProtocolVersion::V5,
                        });
                    }
                    if let Some(max) = properties.maximum_packet_size {
                        self.broker_max_packet = max;
                    }
                    return Ok(Connected { session_present, properties });
                }
                continue;
            }
            // One packet at a time: whatever follows CONNACK waits for next_event().
            match self.decode_one() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(ClientError::Protocol(text)) => return Err(ConnectError::Protocol(text)),
                Err(_) => return Err(ConnectError::Lost),
            }
            self.turn().await.map_err(|err| match err {
                ClientError::Protocol(text) => ConnectError::Protocol(text),
                ClientError::Io(err) => ConnectError::Io(err),
                _ => ConnectError::Lost,
            })?;
        }
    }

    /// The client id as currently known (`None` until a v5 broker assigns one, if not given).
    pub fn client_id(&self) -> Option<&str> {
        self.session.client_id()
    }

    /// The protocol version in use.
    pub fn protocol(&self) -> ProtocolVersion {
        self.options.protocol
    }

    /// The options this client connects with.
    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    /// The TCP options the current connection's socket carries, as the kernel reports them
    /// (getsockopt once connected); `None` when [`ConnectOptions::tcp`] sets none.
    pub fn tcp_options(&self) -> Option<TcpOptions> {
        self.link.as_ref().and_then(|link| link.tcp)
    }

    /// Outgoing QoS 1/2 messages not finished yet.
    pub fn pending_publishes(&self) -> usize {
        self.session.pending_publishes()
    }

    /// Encoded bytes waiting to be written to the socket.
    pub fn buffered_bytes(&self) -> usize {
        self.write_buf.len()
    }

    fn log(&mut self, line: &str) {
        if let Some(hook) = &mut self.debug {
            hook(line);
        }
    }

    /// Encodes every packet the session queued, logging each as it goes.
    fn encode_pending(&mut self) -> Result<(), ClientError> {
        let protocol = self.options.protocol;
        while let Some(transmit) = self.session.poll_transmit() {
            if self.debug.is_some() {
                for line in sending_lines(self.session.client_id(), protocol, &transmit) {
                    self.log(&line);
                }
            }
            mqtt_codec::encode(
                &transmit.packet,
                protocol,
                self.broker_max_packet,
                &mut self.write_buf,
            )
            .map_err(|err| ClientError::Encode(err.to_string()))?;
        }
        Ok(())
    }

    /// Queues a PUBLISH; returns its message id. Completion arrives as
    /// [`Event::PublishDone`] (at once for QoS 0).
    ///
    /// # Errors
    /// The packet cannot be encoded (e.g. larger than the broker's maximum packet size).
    pub fn publish(
        &mut self,
        topic: TopicName,
        payload: Bytes,
        qos: QoS,
        retain: bool,
        properties: Properties,
    ) -> Result<u16, ClientError> {
        let publish = Publish { qos, retain, properties, ..Publish::new(topic, payload) };
        let mid = self.session.publish(publish, now());
        self.encode_pending()?;
        Ok(mid)
    }

    /// Queues one SUBSCRIBE with every filter; returns its message id. The answer arrives as
    /// [`Event::SubAck`].
    ///
    /// # Errors
    /// The packet cannot be encoded.
    pub fn subscribe(
        &mut self,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: Properties,
    ) -> Result<u16, ClientError> {
        let mid = self.session.subscribe(filters, properties, now());
        self.encode_pending()?;
        Ok(mid)
    }

    /// Queues one UNSUBSCRIBE; returns its message id ([`Event::UnsubAck`] follows).
    ///
    /// # Errors
    /// The packet cannot be encoded.
    pub fn unsubscribe(
        &mut self,
        filters: Vec<TopicFilter>,
        properties: Properties,
    ) -> Result<u16, ClientError> {
        let mid = self.session.unsubscribe(filters, properties, now());
        self.encode_pending()?;
        Ok(mid)
    }

    /// Waits for the next event, meanwhile writing queued packets, reading and acknowledging
    /// incoming ones and sending keep-alive pings. Cancel-safe.
    ///
    /// # Errors
    /// The connection was lost or the broker broke the protocol.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            if let Some(event) = self.session.poll_event() {
                return Ok(event);
            }
            if self.decode_one()? {
                continue;
            }
            self.turn().await?;
        }
    }

    /// Like [`next_event`](Self::next_event), but also returns `Ok(None)` as soon as every
    /// queued byte has been written, so a producer can wait for room without needing an
    /// event (QoS 0 publishes produce none on the wire). Cancel-safe.
    ///
    /// # Errors
    /// The connection was lost or the broker broke the protocol.
    pub async fn next_event_or_drained(&mut self) -> Result<Option<Event>, ClientError> {
        loop {
            if let Some(event) = self.session.poll_event() {
                return Ok(Some(event));
            }
            if self.decode_one()? {
                continue;
            }
            if self.write_buf.is_empty() {
                return Ok(None);
            }
            self.turn().await?;
        }
    }

    /// Writes everything queued so far.
    ///
    /// # Errors
    /// Writing failed.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        let link = self.link.as_mut().ok_or(ClientError::ConnectionLost)?;
        link.writer.write_all_buf(&mut self.write_buf).await.map_err(ClientError::Io)?;
        link.writer.flush().await.map_err(ClientError::Io)
    }

    /// Sends DISCONNECT (reason code and properties only on v5), writes everything queued and
    /// closes the connection.
    ///
    /// # Errors
    /// Writing failed.
    pub async fn disconnect(
        &mut self,
        reason: ReasonCode,
        properties: Properties,
    ) -> Result<(), ClientError> {
        self.session.disconnect(reason, properties, now());
        self.encode_pending()?;
        self.flush().await?;
        if let Some(mut link) = self.link.take() {
            let _ = link.writer.shutdown().await;
        }
        Ok(())
    }

    /// One round of I/O: write some queued bytes, read some bytes, or fire the keep-alive timer.
    async fn turn(&mut self) -> Result<(), ClientError> {
        let deadline = self.session.poll_timeout();
        let link = self.link.as_mut().ok_or(ClientError::ConnectionLost)?;
        let writing = !self.write_buf.is_empty();
        let step = tokio::select! {
            result = link.writer.write_buf(&mut self.write_buf), if writing => Step::Wrote(result),
            result = link.reader.read_buf(&mut self.read_buf) => Step::Read(result),
            () = sleep_until(deadline) => Step::Timer,
        };
        match step {
            Step::Wrote(Ok(0)) => Err(ClientError::ConnectionLost),
            Step::Wrote(Ok(_)) => {
                if self.write_buf.is_empty() {
                    link.writer.flush().await.map_err(ClientError::Io)?;
                }
                Ok(())
            }
            Step::Wrote(Err(err)) => Err(ClientError::Io(err)),
            Step::Read(Ok(0)) | Step::Read(Err(_)) => Err(ClientError::ConnectionLost),
            // Packets are decoded one at a time by the callers, between events, so that the
            // application acts on each (and its -d line) before the next one is logged, as
            // libmosquitto's callbacks do.
            Step::Read(Ok(_)) => Ok(()),
            Step::Timer => {
                self.session.handle_timeout(now()).map_err(|err| match err {
                    SessionError::KeepaliveTimeout => ClientError::KeepaliveTimeout,
                    SessionError::Protocol(text) => ClientError::Protocol(text.to_owned()),
                })?;
                self.encode_pending()
            }
        }
    }

    /// Decodes and handles the first complete packet in the read buffer; `Ok(false)` when
    /// no whole packet is buffered.
    fn decode_one(&mut self) -> Result<bool, ClientError> {
        let protocol = self.options.protocol;
        let limit = self.options.connect_properties.maximum_packet_size.unwrap_or(u32::MAX);
        if protocol == ProtocolVersion::V5 && self.read_buf.starts_with(V3_PROTOCOL_REFUSAL) {
            // An MQTT v3 broker refusing our v5 CONNECT: libmosquitto reads it as reason 132.
            let _ = self.read_buf.split_to(V3_PROTOCOL_REFUSAL.len());
            let refusal = ConnAck::new(ReasonCode::UnsupportedProtocolVersion);
            self.handle_incoming(Packet::ConnAck(refusal))?;
            return Ok(true);
        }
        let packet = match mqtt_codec::decode(&mut self.read_buf, protocol, limit) {
            Ok(Some(packet)) => packet,
            Ok(None) => return Ok(false),
            Err(err) => return Err(ClientError::Protocol(err.to_string())),
        };
        self.handle_incoming(packet)?;
        Ok(true)
    }

    fn handle_incoming(&mut self, packet: Packet) -> Result<(), ClientError> {
        let connack = matches!(packet, Packet::ConnAck(_));
        // CONNACK is logged with the id it may assign; everything else before its answers.
        let late_line = if connack && self.debug.is_some() { Some(packet.clone()) } else { None };
        if !connack && self.debug.is_some() {
            let line = received_line(self.session.client_id(), self.options.protocol, &packet);
            self.log(&line);
        }
        let result = self.session.handle_packet(packet, now());
        if let Some(packet) = late_line {
            let line = received_line(self.session.client_id(), self.options.protocol, &packet);
            self.log(&line);
        }
        while let Some(warning) = self.session.poll_warning() {
            self.log(&warning);
        }
        result.map_err(|err| ClientError::Protocol(err.to_string()))?;
        self.encode_pending()
    }
}

/// The CONNACK an MQTT v3 broker answers a v5 CONNECT with: no properties, return code 1
/// (unacceptable protocol version), no session.
const V3_PROTOCOL_REFUSAL: &[u8] = &[0x20, 0x02, 0x00, 0x01];

/// Sleeps until `deadline`, or forever when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
