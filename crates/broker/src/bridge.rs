//! Bridges (`connection` sections): one task per bridge. Its local side is an internal
//! connection of the core (opened with `INTERNAL_LISTENER`: no password, no ACL), which the
//! driver feeds with packets instead of a socket: the task speaks MQTT 5 to it, subscribing
//! with "no local" and "retain as published" to the `out` topics, so messages that came in
//! over the bridge are never sent back. Its remote side is a `culex-client` connection,
//! re-opened after `restart_timeout` whenever it is lost.
//!
//! Store and forward: a QoS 1/2 message for an `out` topic is acknowledged to the core only
//! once the remote broker has acknowledged it (PUBACK, or PUBCOMP at QoS 2). Until then the
//! task holds it in [`Bridge::pending`], at most the core's in-flight window of them; the core
//! queues the rest in the bridge's local session like any client's (`max_queued_messages`,
//! `max_queued_bytes`, saved with `persistence`). While the remote is down nothing is
//! acknowledged, so everything waits; on each (re)connection the held messages are sent again
//! in order, then the core's queue drains behind them.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use culex_client::options::{TlsSettings, TlsVersions};
use culex_client::{Client, ConnectOptions, Event as RemoteEvent};
use mqtt_codec::filter_matches;
use mqtt_codec::{
    Ack, Connect, MqttString, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS,
    RetainHandling, Subscribe, SubscriptionOptions, TopicFilter, TopicName, Will,
};
use mqtt_core::{ConnId, INTERNAL_LISTENER, PeerInfo};
use tokio::sync::mpsc;

use crate::config::{BridgeConfig, BridgeProtocol, BridgeTls, RestartTimeout};
use crate::event::Event;
use crate::log;
use crate::log::Logger;

/// One bridge's task state.
struct Bridge {
    config: BridgeConfig,
    conn: ConnId,
    local_id: String,
    remote_id: String,
    notification_topic: String,
    events: mpsc::Sender<Event>,
    /// Packets the core sends to the bridge's local connection.
    from_core: mpsc::UnboundedReceiver<Packet>,
    logger: Arc<Logger>,
    /// The next packet id for messages published into the core.
    next_id: PacketId,
    /// State of the jittered restart back-off, seconds.
    backoff: u32,
    /// `out` messages at QoS 1/2 from the core, in the order it sent them, that the remote
    /// broker has not acknowledged yet.
    pending: VecDeque<Outgoing>,
}

/// A QoS 1/2 message on its way to the remote broker.
struct Outgoing {
    /// Its packet id on the local connection (acknowledged when the remote finished it).
    local: PacketId,
    /// The message as the remote broker gets it (remote topic, outgoing retain applied).
    publish: Publish,
    /// Its message id on the current remote connection; `None` while not sent on it.
    remote: Option<u16>,
}

/// Starts the task of `config`, whose local connection is `conn`.
pub(crate) fn spawn(
    config: BridgeConfig,
    conn: ConnId,
    events: mpsc::Sender<Event>,
    logger: Arc<Logger>,
) {
    let host = hostname();
    let (to_bridge, from_core) = mpsc::unbounded_channel();
    let bridge = Bridge {
        local_id: config.local_clientid(&host),
        remote_id: config.remote_clientid(&host),
        notification_topic: config.notification_topic(&host),
        config,
        conn,
        events,
        from_core,
        logger,
        next_id: PacketId::MIN,
        backoff: 0,
        pending: VecDeque::new(),
    };
    tokio::spawn(bridge.run(to_bridge));
}

/// The machine's host name, for the default remote client id.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl Bridge {
    async fn run(mut self, to_bridge: mpsc::UnboundedSender<Packet>) {
        let peer = PeerInfo {
            address: "bridge".to_owned(),
            port: 0,
            listener: INTERNAL_LISTENER,
            certificate_username: None,
        };
        let open = Event::Bridge { conn: self.conn, peer, to_bridge };
        if self.events.send(open).await.is_err() {
            return;
        }
        let Some(local) = self.local_session() else { return };
        if !self.to_core(local).await {
            return;
        }
        if self.config.notifications {
            // As Mosquitto: "not connected" until the first CONNACK.
            self.notify(b"0").await;
        }
        loop {
            let connected = self.connect().await;
            if let Some(mut client) = connected {
                if !self.resend(&mut client).await || !self.serve(&mut client).await {
                    return;
                }
                for outgoing in &mut self.pending {
                    outgoing.remote = None;
                }
                if self.config.notifications {
                    self.notify(b"0").await;
                }
            }
            let wait = self.restart_delay();
            let sleep = tokio::time::sleep(wait);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    packet = self.from_core.recv() => match packet {
                        Some(packet) => {
                            if !self.on_local(packet, None).await {
                                return;
                            }
                        }
                        None => return,
                    },
                }
            }
        }
    }

    /// The local CONNECT and the SUBSCRIBE of the `out` topics.
    fn local_session(&self) -> Option<Vec<Packet>> {
        let client_id = MqttString::new(&self.local_id).ok()?;
        let mut connect = Connect::new(ProtocolVersion::V5, client_id);
        // Mosquitto's local_cleansession (default: cleansession). A kept session never
        // expires, so it is saved with persistence and its subscriptions and queued
        // messages survive a restart, as Mosquitto's do.
        let clean = self.config.local_cleansession();
        connect.clean_start = clean;
        if !clean {
            connect.properties.session_expiry_interval = Some(u32::MAX);
        }
        connect.keep_alive = 0;
        let mut packets = vec![Packet::Connect(Box::new(connect))];
        let mut subscribe = Subscribe::new(PacketId::MIN, Vec::new());
        for topic in self.config.topics.iter().filter(|t| t.direction.outbound()) {
            log!(
                self.logger,
                DEBUG,
                "Bridge {} doing local SUBSCRIBE on topic {}",
                self.local_id,
                topic.local_topic
            );
            let Ok(filter) = TopicFilter::new(&topic.local_topic) else { continue };
            let options = SubscriptionOptions {
                qos: QoS::from_u8(topic.qos).unwrap_or(QoS::AtMostOnce),
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::SendAtSubscribe,
            };
            subscribe.filters.push((filter, options));
        }
        if !subscribe.filters.is_empty() {
            packets.push(Packet::Subscribe(subscribe));
        }
        Some(packets)
    }

    /// Hands packets to the core as if the local connection had sent them.
    async fn to_core(&self, packets: Vec<Packet>) -> bool {
        self.events.send(Event::Packets { conn: self.conn, packets, bytes: 0 }).await.is_ok()
    }

    /// Publishes the notification `payload` locally (retained, QoS 1).
    async fn notify(&mut self, payload: &'static [u8]) {
        let Ok(topic) = TopicName::new(&self.notification_topic) else { return };
        let mut publish = Publish::new(topic, Bytes::from_static(payload));
        publish.qos = QoS::AtLeastOnce;
        publish.retain = true;
        publish.packet_id = Some(self.take_id());
        self.to_core(vec![Packet::Publish(publish)]).await;
    }

    fn take_id(&mut self) -> PacketId {
        let id = self.next_id;
        self.next_id = id.next();
        id
    }

    fn restart_delay(&mut self) -> Duration {
        let seconds = match self.config.restart_timeout {
            RestartTimeout::Constant(seconds) => seconds,
            RestartTimeout::Backoff { base, cap } => {
                // Mosquitto's "decorrelated jitter": random between base and 3 × the last.
                let high = (self.backoff.max(base)).saturating_mul(3);
                let spread = u64::from(high.saturating_sub(base).max(1));
                let jitter = u64::from(std::process::id())
                    ^ std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| u64::from(d.subsec_nanos()));
                let pick = base.saturating_add(u32::try_from(jitter % spread).unwrap_or(0));
                self.backoff = pick.min(cap);
                self.backoff
            }
        };
        Duration::from_secs(u64::from(seconds))
    }

    /// Connects to the first address and subscribes to the `in` topics.
    async fn connect(&mut self) -> Option<Client> {
        let (host, port) = self.config.addresses.first()?.clone();
        let name = &self.config.name;
        log!(self.logger, NOTICE, "Connecting bridge (step 1) {name} ({host}:{port})");
        log!(self.logger, NOTICE, "Connecting bridge (step 2) {name} ({host}:{port})");
        let protocol = match self.config.protocol {
            BridgeProtocol::V31 => ProtocolVersion::V3_1,
            BridgeProtocol::V311 => ProtocolVersion::V3_1_1,
            BridgeProtocol::V5 => ProtocolVersion::V5,
        };
        let will = if self.config.notifications {
            TopicName::new(&self.notification_topic).ok().map(|topic| Will {
                topic,
                payload: Bytes::from_static(b"0"),
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: Properties::default(),
            })
        } else {
            None
        };
        let tls = match tls_settings(&self.config.tls) {
            Ok(tls) => tls,
            Err(lines) => {
                for line in lines {
                    log!(self.logger, ERROR, "{line}");
                }
                return None;
            }
        };
        let options = ConnectOptions {
            endpoint: culex_client::options::Endpoint::Tcp { host, port },
            bind_address: None,
            nodelay: false,
            proxy: None,
            tls,
            protocol,
            client_id: Some(self.remote_id.clone()),
            clean_start: self.config.cleansession,
            keep_alive: self.config.keepalive,
            username: self.config.remote_username.clone(),
            password: self.config.remote_password.clone().map(Bytes::from),
            will,
            connect_properties: Properties::default(),
            max_inflight: 20,
            raw_properties: culex_client::args::RawProperties::default(),
            disconnect_on_refusal: false,
            bridge: self.config.try_private,
        };
        log!(self.logger, DEBUG, "Bridge {} sending CONNECT", self.remote_id);
        let mut client = match Client::connect(options, None).await {
            Ok((client, _)) => client,
            Err(err) => {
                log!(self.logger, NOTICE, "Error connecting bridge {name}: {err}");
                return None;
            }
        };
        log!(self.logger, DEBUG, "Received CONNACK on connection {}.", self.local_id);
        self.backoff = 0;
        let v5 = protocol == ProtocolVersion::V5;
        if self.config.attempt_unsubscribe {
            for topic in self.config.topics.iter().filter(|t| !t.direction.inbound()) {
                let Ok(filter) = TopicFilter::new(&topic.remote_topic) else { continue };
                let _ = client.unsubscribe(vec![filter], Properties::default());
            }
        }
        for topic in self.config.topics.iter().filter(|t| t.direction.inbound()) {
            let Ok(filter) = TopicFilter::new(&topic.remote_topic) else { continue };
            let mut options =
                SubscriptionOptions::new(QoS::from_u8(topic.qos).unwrap_or(QoS::AtMostOnce));
            options.no_local = v5;
            options.retain_as_published = v5;
            let flags = if v5 { 0x0c } else { 0 };
            if let Ok(mid) = client.subscribe(vec![(filter, options)], Properties::default()) {
                log!(
                    self.logger,
                    DEBUG,
                    "Bridge {} sending SUBSCRIBE (Mid: {mid}, Topic: {}, QoS: {}, Options: \
                     0x{flags:02x})",
                    self.local_id,
                    topic.remote_topic,
                    topic.qos
                );
            }
        }
        if self.config.notifications {
            if let Ok(topic) = TopicName::new(&self.notification_topic) {
                let _ = client.publish(
                    topic,
                    Bytes::from_static(b"1"),
                    QoS::AtLeastOnce,
                    true,
                    Properties::default(),
                );
            }
            self.notify(b"1").await;
        }
        Some(client)
    }

    /// Forwards in both directions until the remote connection is lost (`true`) or the
    /// broker stops (`false`).
    async fn serve(&mut self, client: &mut Client) -> bool {
        loop {
            tokio::select! {
                event = client.next_event() => match event {
                    Ok(RemoteEvent::Message(message)) => self.on_remote(message).await,
                    Ok(RemoteEvent::PublishDone { mid, .. }) => {
                        if !self.remote_done(mid).await {
                            return false;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        log!(
                            self.logger,
                            NOTICE,
                            "Connection to bridge {} lost, reconnecting.",
                            self.config.name
                        );
                        return true;
                    }
                },
                packet = self.from_core.recv() => match packet {
                    Some(packet) => {
                        if !self.on_local(packet, Some(client)).await {
                            return false;
                        }
                    }
                    None => return false,
                },
            }
        }
    }

    /// A message from the remote broker: published locally if an `in` topic matches.
    async fn on_remote(&mut self, message: culex_client::Message) {
        let Some(topic) = self
            .config
            .topics
            .iter()
            .find(|t| t.direction.inbound() && filter_matches(&t.remote_topic, &message.topic))
        else {
            return;
        };
        let Ok(local) = TopicName::new(&topic.to_local(&message.topic)) else { return };
        let mut publish = Publish::new(local, message.payload);
        publish.qos = QoS::from_u8(message.qos).unwrap_or(QoS::AtMostOnce);
        publish.retain = message.retain;
        if publish.qos != QoS::AtMostOnce {
            publish.packet_id = Some(self.take_id());
        }
        self.to_core(vec![Packet::Publish(publish)]).await;
    }

    /// A packet from the core to the local connection: messages go to the remote broker (QoS 0
    /// ones are dropped while it is not connected), acknowledgements are answered.
    async fn on_local(&mut self, packet: Packet, client: Option<&mut Client>) -> bool {
        let reply = match packet {
            Packet::Publish(publish) => return self.on_local_publish(publish, client).await,
            Packet::PubRel(rel) => Packet::PubComp(Ack::new(rel.packet_id)),
            Packet::PubRec(rec) => Packet::PubRel(Ack::new(rec.packet_id)),
            Packet::Disconnect(_) => return false,
            _ => return true,
        };
        self.to_core(vec![reply]).await
    }

    /// A message for the `out` topics: QoS 0 is sent if connected; QoS 1/2 is held in
    /// [`Self::pending`] until the remote broker acknowledges it.
    async fn on_local_publish(&mut self, publish: Publish, client: Option<&mut Client>) -> bool {
        let local = publish.packet_id;
        let qos = publish.qos;
        let Some(remote) = self.to_remote(publish) else {
            return match local {
                Some(id) => self.to_core(vec![local_ack(id, qos)]).await,
                None => true,
            };
        };
        let Some(local) = local else {
            if let Some(client) = client {
                let _ = send(client, &remote);
            }
            return true;
        };
        let mut outgoing = Outgoing { local, publish: remote, remote: None };
        if let Some(client) = client {
            match send(client, &outgoing.publish) {
                Some(mid) => outgoing.remote = Some(mid),
                None => return self.to_core(vec![local_ack(local, qos)]).await,
            }
        }
        self.pending.push_back(outgoing);
        true
    }

    /// Sends every held message on a new remote connection, in order. One the remote cannot
    /// take (larger than its maximum packet size) is acknowledged locally and dropped.
    async fn resend(&mut self, client: &mut Client) -> bool {
        let mut refused = Vec::new();
        self.pending.retain_mut(|outgoing| {
            outgoing.remote = send(client, &outgoing.publish);
            if outgoing.remote.is_none() {
                refused.push(local_ack(outgoing.local, outgoing.publish.qos));
            }
            outgoing.remote.is_some()
        });
        refused.is_empty() || self.to_core(refused).await
    }

    /// The remote broker finished message `mid`: its local copy is acknowledged.
    async fn remote_done(&mut self, mid: u16) -> bool {
        let Some(index) = self.pending.iter().position(|o| o.remote == Some(mid)) else {
            return true;
        };
        let Some(done) = self.pending.remove(index) else { return true };
        self.to_core(vec![local_ack(done.local, done.publish.qos)]).await
    }

    /// The message as the remote broker gets it, if an `out` topic matches.
    fn to_remote(&self, publish: Publish) -> Option<Publish> {
        let topic = self.config.topics.iter().find(|t| {
            t.direction.outbound() && filter_matches(&t.local_topic, publish.topic.as_str())
        })?;
        let remote = TopicName::new(&topic.to_remote(publish.topic.as_str())).ok()?;
        let mut message = Publish::new(remote, publish.payload);
        message.qos = publish.qos;
        message.retain = publish.retain && self.config.outgoing_retain;
        Some(message)
    }
}

/// The rustls settings of the `bridge_*` TLS options (`None`: plain TCP), checked by building
/// them once: an error is Mosquitto's log line for it, then rustls's reason.
fn tls_settings(tls: &BridgeTls) -> Result<Option<TlsSettings>, Vec<String>> {
    if !tls.enabled() {
        return Ok(None);
    }
    let versions = match tls.version.as_deref() {
        None | Some("tlsv1.2" | "tlsv1.1") => TlsVersions::Tls12AndUp,
        Some("tlsv1.3") => TlsVersions::Tls13Only,
        Some(other) => return Err(vec![format!("Error: Protocol {other} not supported.")]),
    };
    let mut settings = TlsSettings {
        cafile: tls.cafile.as_ref().map(PathBuf::from),
        capath: tls.capath.as_ref().map(PathBuf::from),
        use_os_certs: false,
        client_auth: None,
        insecure: tls.insecure,
        alpn: tls.alpn.clone(),
        versions,
        ciphers: None,
    };
    if let Err(err) = culex_client::tls::client_config(&settings) {
        let check = match (&tls.cafile, &tls.capath) {
            (Some(file), Some(path)) => {
                format!("bridge_cafile \"{file}\" and bridge_capath \"{path}\"")
            }
            (Some(file), None) => format!("bridge_cafile \"{file}\""),
            (None, path) => format!("bridge_capath \"{}\"", path.as_deref().unwrap_or_default()),
        };
        return Err(vec![
            format!("Error: Unable to load CA certificates, check {check}."),
            err.to_string(),
        ]);
    }
    if let (Some(cert), Some(key)) = (&tls.certfile, &tls.keyfile) {
        settings.client_auth = Some((PathBuf::from(cert), PathBuf::from(key)));
        if let Err(err) = culex_client::tls::client_config(&settings) {
            return Err(vec![
                format!("Error: Unable to load client certificate \"{cert}\" or key \"{key}\"."),
                err.to_string(),
            ]);
        }
    }
    Ok(Some(settings))
}

/// Publishes `message` on the remote connection: its message id, `None` if it cannot be sent.
fn send(client: &mut Client, message: &Publish) -> Option<u16> {
    client
        .publish(
            message.topic.clone(),
            message.payload.clone(),
            message.qos,
            message.retain,
            Properties::default(),
        )
        .ok()
}

/// The local acknowledgement of a message the remote broker finished (or can never take).
fn local_ack(id: PacketId, qos: QoS) -> Packet {
    match qos {
        QoS::ExactlyOnce => Packet::PubRec(Ack::new(id)),
        _ => Packet::PubAck(Ack::new(id)),
    }
}
