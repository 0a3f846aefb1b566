//! Bridges (`connection` sections): one task per bridge. Its local side is an internal
//! connection of the core (opened with `INTERNAL_LISTENER`: no password, no ACL unless it
//! names a `local_username`), which the
//! driver feeds with packets instead of a socket: the task speaks MQTT 5 to it, subscribing
//! with "no local" and "retain as published" to the `out` topics, so messages that came in
//! over the bridge are never sent back. Its remote side is a `culex-client` connection,
//! re-opened after `restart_timeout` ([`backoff`]) whenever it is lost, to the next of its
//! addresses (and back to the main one when [`probe`] sees it answer, unless `round_robin`); a
//! lazy bridge connects when enough messages wait and leaves after `idle_timeout`, a `once`
//! bridge is never re-opened. The [`supervisor`] owns the set of bridges and sends each task
//! its new settings on SIGHUP ([`Command`]), which [`reconfigure`] applies.
//!
//! Store and forward: a QoS 1/2 message for an `out` topic is acknowledged to the core only
//! once the remote broker has acknowledged it (PUBACK, or PUBCOMP at QoS 2). Until then the
//! task holds it in [`Bridge::pending`], at most the core's in-flight window of them; the core
//! queues the rest in the bridge's local session like any client's (`max_queued_messages`,
//! `max_queued_bytes`, saved with `persistence`). While the remote is down nothing is
//! acknowledged, so everything waits; on each (re)connection the held messages are sent again
//! in order, then the core's queue drains behind them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use culex_client::{Client, ConnectOptions, Event as RemoteEvent};
use mqtt_codec::filter_matches;
use mqtt_codec::{
    Ack, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS, ReasonCode, RetainHandling,
    Subscribe, SubscriptionOptions, TopicFilter, TopicName, Will,
};
use mqtt_core::ConnId;
use tokio::sync::mpsc;

use crate::config::{BridgeConfig, BridgeProtocol, BridgeTopic, RestartTimeout, StartType};
use crate::event::{Credit, Event, Shards};
use crate::log;
use crate::log::Logger;

mod alias;
mod backoff;
mod forward;
mod probe;
mod reconfigure;
mod supervisor;
mod tls;

use backoff::Backoff;
use forward::Outgoing;
pub(crate) use supervisor::Supervisor;

/// What the [`Supervisor`] tells a running bridge.
#[derive(Debug)]
pub(crate) enum Command {
    /// New settings from a reload: with `now` (`bridge_reload_type immediate`) the bridge
    /// disconnects and reconnects with them at once, otherwise they apply at its next
    /// connection. `conn` is an unused connection id, for a new local session should its
    /// identity have changed.
    Reconfigure { config: Box<BridgeConfig>, conn: ConnId, now: bool },
    /// The section is gone from the file: disconnect and end the local session.
    Stop,
}

/// One bridge's task state.
struct Bridge {
    config: BridgeConfig,
    conn: ConnId,
    local_id: String,
    remote_id: String,
    notification_topic: String,
    /// Every driver shard's way in.
    shards: Shards,
    /// The way in of the shard that owns the local connection (that of its client id).
    events: mpsc::Sender<Event>,
    /// Packets the core sends to the bridge's local connection.
    from_core: mpsc::UnboundedReceiver<Packet>,
    logger: Arc<Logger>,
    /// How many held messages start a lazy bridge: `threshold`, but at most the core's
    /// in-flight window (the core queues the rest where the task cannot count them).
    threshold: usize,
    /// The core's in-flight window (`max_inflight_messages`; no limit: 65535).
    window: usize,
    /// The next packet id for messages published into the core.
    next_id: PacketId,
    /// State of the jittered restart back-off.
    backoff: Backoff,
    /// Commands from the supervisor; `None` once it is gone.
    commands: Option<mpsc::UnboundedReceiver<Command>>,
    /// Settings from a reload waiting for the next connection, with a spare connection id.
    next: Option<(BridgeConfig, ConnId)>,
    /// Remote filters of `in` topics a reload removed: unsubscribed at the next connection.
    stale_remote: Vec<String>,
    /// `out` messages at QoS 1/2 from the core, in the order it sent them, that the remote
    /// broker has not acknowledged yet.
    pending: VecDeque<Outgoing>,
    /// Topic aliases the remote broker uses on the current connection.
    inbound: alias::Inbound,
    /// Topic aliases the bridge uses on the current connection.
    outbound: alias::Outbound,
}

/// How a remote connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The broker stops (the core closed the local connection).
    Stop,
    /// The connection was lost.
    Lost,
    /// A lazy bridge stayed idle for `idle_timeout`.
    Idle,
    /// The main address answers again (without `round_robin`).
    Primary,
    /// Left to reconnect with new settings (`bridge_reload_type immediate`).
    Reconfigure,
    /// Left because the bridge was removed from the configuration.
    Removed,
}

/// Why a wait while not connected ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    /// The wait is over (its time passed, or the lazy threshold was reached).
    Ready,
    /// New settings to apply now (`bridge_reload_type immediate`).
    Reconfigured,
    /// The bridge was removed from the configuration.
    Removed,
    /// The broker stops.
    Stop,
}

/// Starts the task of `config`, whose local connection is `conn`; returns the channel of its
/// commands.
///
/// `window` is how many QoS 1/2 messages the core sends a client before it waits for
/// acknowledgements (`max_inflight_messages`, 0 for no limit).
fn spawn(
    config: BridgeConfig,
    conn: ConnId,
    window: u16,
    shards: Shards,
    logger: Arc<Logger>,
) -> mpsc::UnboundedSender<Command> {
    let window = if window == 0 { usize::from(u16::MAX) } else { usize::from(window) };
    let (commands, commands_in) = mpsc::unbounded_channel();
    let mut bridge = Bridge {
        local_id: String::new(),
        remote_id: String::new(),
        notification_topic: String::new(),
        config,
        conn,
        // Replaced when the local connection opens.
        events: shards.get(0).events.clone(),
        shards,
        // Replaced when the local connection opens.
        from_core: mpsc::unbounded_channel().1,
        logger,
        threshold: 0,
        window,
        next_id: PacketId::MIN,
        backoff: Backoff::default(),
        commands: Some(commands_in),
        next: None,
        stale_remote: Vec::new(),
        pending: VecDeque::new(),
        inbound: alias::Inbound::default(),
        outbound: alias::Outbound::default(),
    };
    bridge.derive_names();
    tokio::spawn(bridge.run());
    commands
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
    /// The names and numbers that follow from the settings.
    fn derive_names(&mut self) {
        let host = hostname();
        self.local_id = self.config.local_clientid(&host);
        self.remote_id = self.config.remote_clientid(&host);
        self.notification_topic = self.config.notification_topic(&host);
        self.threshold =
            usize::try_from(self.config.threshold).unwrap_or(usize::MAX).min(self.window);
    }

    async fn run(mut self) {
        if !self.open_local().await {
            return;
        }
        let mut address = 0;
        loop {
            if let Some(next) = self.next.take() {
                if !self.reconfigure(next).await {
                    return;
                }
                address = 0;
            }
            let lazy = self.config.start_type == StartType::Lazy;
            if lazy {
                match self.offline(None, true).await {
                    // This connection is the next one: settings that wait for it apply first.
                    Wake::Ready if self.next.is_none() => {}
                    Wake::Ready | Wake::Reconfigured => continue,
                    Wake::Removed => return self.remove().await,
                    Wake::Stop => return,
                }
            }
            let end = match self.connect(address).await {
                Some(mut client) => {
                    let end = if self.resend(&mut client).await {
                        self.serve(&mut client, address).await
                    } else {
                        End::Stop
                    };
                    for outgoing in &mut self.pending {
                        outgoing.remote = None;
                    }
                    if end == End::Stop {
                        return;
                    }
                    if self.config.notifications {
                        self.notify(b"0").await;
                    }
                    Some(end)
                }
                None => None,
            };
            match end {
                Some(End::Primary) => {
                    address = 0;
                    continue;
                }
                Some(End::Idle | End::Reconfigure) => continue,
                Some(End::Removed) => return self.remove().await,
                _ => address = (address + 1) % self.config.addresses.len().max(1),
            }
            let wait = if self.config.start_type == StartType::Once {
                // Not restarted: the core keeps queueing for the bridge's session.
                None
            } else {
                Some(self.restart_delay())
            };
            match self.offline(wait, false).await {
                Wake::Ready | Wake::Reconfigured => {}
                Wake::Removed => return self.remove().await,
                Wake::Stop => return,
            }
        }
    }

    /// Takes the core's packets while not connected: until `wait` has passed (never, if
    /// `None`) or, with `until_threshold`, until enough messages wait to start a lazy bridge.
    /// New settings wait for the next connection unless they are to apply now.
    async fn offline(&mut self, wait: Option<Duration>, until_threshold: bool) -> Wake {
        let sleep = tokio::time::sleep(wait.unwrap_or_default());
        tokio::pin!(sleep);
        loop {
            if until_threshold && self.pending.len() >= self.threshold {
                return Wake::Ready;
            }
            tokio::select! {
                () = &mut sleep, if wait.is_some() => return Wake::Ready,
                packet = self.from_core.recv() => match packet {
                    Some(packet) => {
                        if !self.on_local(packet, None).await {
                            return Wake::Stop;
                        }
                    }
                    None => return Wake::Stop,
                },
                command = next_command(&mut self.commands) => match command {
                    Command::Reconfigure { config, conn, now } => {
                        self.next = Some((*config, conn));
                        if now {
                            return Wake::Reconfigured;
                        }
                    }
                    Command::Stop => return Wake::Removed,
                },
            }
        }
    }

    /// The local SUBSCRIBE (packet id `id`) of `topics`' local filters, with "no local" and
    /// "retain as published"; `None` when there is none.
    fn local_subscribe<'t>(
        &self,
        id: PacketId,
        topics: impl Iterator<Item = &'t BridgeTopic>,
    ) -> Option<Packet> {
        let mut subscribe = Subscribe::new(id, Vec::new());
        for topic in topics {
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
        (!subscribe.filters.is_empty()).then_some(Packet::Subscribe(subscribe))
    }

    /// Hands packets to the core as if the local connection had sent them.
    async fn to_core(&self, packets: Vec<Packet>) -> bool {
        let credit = Credit::unbudgeted();
        self.events
            .send(Event::Packets { conn: self.conn, packets, bytes: 0, credit })
            .await
            .is_ok()
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

    /// Publishes the notification `payload` on the remote broker (retained, QoS 1), unless
    /// `notifications_local_only`.
    fn notify_remote(&self, client: &mut Client, payload: &'static [u8]) {
        if self.config.notifications_local_only {
            return;
        }
        if let Ok(topic) = TopicName::new(&self.notification_topic) {
            let payload = Bytes::from_static(payload);
            let _ = client.publish(topic, payload, QoS::AtLeastOnce, true, Properties::default());
        }
    }

    fn take_id(&mut self) -> PacketId {
        let id = self.next_id;
        self.next_id = id.next();
        id
    }

    /// The wait before the next connection attempt, logged when it is a back-off delay.
    fn restart_delay(&mut self) -> Duration {
        // Without the OS's random numbers the delay is the base, which is still a delay.
        let random = getrandom::u64().unwrap_or(0);
        let (delay, backoff) = self.backoff.next(self.config.restart_timeout, random);
        if backoff {
            log!(
                self.logger,
                NOTICE,
                "Bridge {} next backoff will be {} ms",
                self.config.name,
                delay.as_millis()
            );
        }
        delay
    }

    /// The stable-connection period of `restart_timeout`, if it has one.
    fn stable_period(&self) -> Option<Duration> {
        match self.config.restart_timeout {
            RestartTimeout::Backoff { stable, .. } if stable > 0 => {
                Some(Duration::from_secs(u64::from(stable)))
            }
            _ => None,
        }
    }

    /// Connects to address number `address` and subscribes to the `in` topics.
    async fn connect(&mut self, address: usize) -> Option<Client> {
        let (host, port) = self.config.addresses.get(address)?.clone();
        let name = &self.config.name;
        log!(self.logger, NOTICE, "Connecting bridge (step 1) {name} ({host}:{port})");
        log!(self.logger, NOTICE, "Connecting bridge (step 2) {name} ({host}:{port})");
        let protocol = match self.config.protocol {
            BridgeProtocol::V31 => ProtocolVersion::V3_1,
            BridgeProtocol::V311 => ProtocolVersion::V3_1_1,
            BridgeProtocol::V5 => ProtocolVersion::V5,
        };
        let will = if self.config.notifications && !self.config.notifications_local_only {
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
        let tls = match tls::tls_settings(&self.config.tls) {
            Ok(tls) => tls,
            Err(lines) => {
                for line in lines {
                    log!(self.logger, ERROR, "{line}");
                }
                return None;
            }
        };
        let mut connect_properties = Properties::default();
        let offered_aliases = if protocol == ProtocolVersion::V5 {
            connect_properties.maximum_packet_size = self.config.max_packet_size;
            connect_properties.receive_maximum = self.config.receive_maximum;
            connect_properties.session_expiry_interval =
                Some(self.config.session_expiry_interval).filter(|&interval| interval > 0);
            connect_properties.topic_alias_maximum =
                Some(self.config.max_topic_alias).filter(|&max| max > 0);
            self.config.max_topic_alias
        } else {
            0
        };
        let options = ConnectOptions {
            endpoint: culex_client::options::Endpoint::Tcp { host, port },
            bind_address: self.config.bind_address.clone(),
            nodelay: false,
            tcp: culex_client::tcp::TcpOptions {
                keepalive: self.config.tcp_keepalive,
                user_timeout: self.config.tcp_user_timeout,
            },
            proxy: None,
            websockets: false,
            tls,
            protocol,
            client_id: Some(self.remote_id.clone()),
            clean_start: self.config.cleansession,
            keep_alive: self.config.keepalive,
            username: self.config.remote_username.clone(),
            password: self.config.remote_password.clone().map(Bytes::from),
            will,
            connect_properties,
            max_inflight: 20,
            raw_properties: culex_client::args::RawProperties::default(),
            disconnect_on_refusal: false,
            bridge: self.config.try_private,
        };
        log!(self.logger, DEBUG, "Bridge {} sending CONNECT", self.remote_id);
        let mut client = match Client::connect(options, None).await {
            Ok((client, connected)) => {
                let remote_aliases = connected.properties.topic_alias_maximum.unwrap_or(0);
                self.inbound = alias::Inbound::new(offered_aliases);
                self.outbound = alias::Outbound::new(remote_aliases);
                client
            }
            Err(err) => {
                log!(self.logger, NOTICE, "Error connecting bridge {name}: {err}");
                return None;
            }
        };
        log!(self.logger, DEBUG, "Received CONNACK on connection {}.", self.local_id);
        if let Some(tcp) = client.tcp_options() {
            log_tcp_options(&self.logger, name, tcp);
        }
        if self.stable_period().is_none() {
            // Every connection is stable enough (Mosquitto 2.0's rule).
            self.backoff.reset();
        }
        let v5 = protocol == ProtocolVersion::V5;
        let stale = std::mem::take(&mut self.stale_remote);
        if self.config.attempt_unsubscribe {
            let out_only = self.config.topics.iter().filter(|t| !t.direction.inbound());
            let filters = out_only.map(|topic| topic.remote_topic.as_str());
            for filter in filters.chain(stale.iter().map(String::as_str)) {
                let Ok(filter) = TopicFilter::new(filter) else { continue };
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
            self.notify_remote(&mut client, b"1");
            self.notify(b"1").await;
        }
        Some(client)
    }

    /// Forwards in both directions until the connection to address number `address` ends:
    /// lost, idle (lazy bridges), or left for the main address once it answers again.
    async fn serve(&mut self, client: &mut Client, address: usize) -> End {
        let idle = (self.config.start_type == StartType::Lazy)
            .then(|| Duration::from_secs(u64::from(self.config.idle_timeout)));
        let idle_sleep = tokio::time::sleep(idle.unwrap_or_default());
        tokio::pin!(idle_sleep);
        let main = self.config.addresses.first().filter(|_| !self.config.round_robin);
        let mut primary = probe::Probe::start(main.filter(|_| address != 0));
        let primary_back = primary.answered();
        tokio::pin!(primary_back);
        let stable_period = self.stable_period();
        let stable = tokio::time::sleep(stable_period.unwrap_or_default());
        tokio::pin!(stable);
        let mut unstable = stable_period.is_some();
        loop {
            if let Some(idle) = idle {
                idle_sleep.as_mut().reset(tokio::time::Instant::now() + idle);
            }
            tokio::select! {
                event = client.next_event() => match event {
                    Ok(RemoteEvent::Message(message)) => {
                        if self.on_remote(message).await.is_err() {
                            log!(
                                self.logger,
                                NOTICE,
                                "Bridge {}: the remote broker used an invalid topic alias, \
                                 disconnecting.",
                                self.config.name
                            );
                            let reason = ReasonCode::TopicAliasInvalid;
                            let _ = client.disconnect(reason, Properties::default()).await;
                            return End::Lost;
                        }
                    }
                    Ok(RemoteEvent::PublishDone { mid, .. }) => {
                        if !self.remote_done(mid).await {
                            return End::Stop;
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
                        return End::Lost;
                    }
                },
                packet = self.from_core.recv() => match packet {
                    Some(packet) => {
                        if !self.on_local(packet, Some(client)).await {
                            return End::Stop;
                        }
                    }
                    None => return End::Stop,
                },
                () = &mut idle_sleep, if idle.is_some() && self.pending.is_empty() => {
                    log!(
                        self.logger,
                        NOTICE,
                        "Bridge connection {} has exceeded idle timeout, disconnecting.",
                        self.local_id
                    );
                    self.leave(client).await;
                    return End::Idle;
                }
                () = &mut stable, if unstable => {
                    unstable = false;
                    log!(
                        self.logger,
                        NOTICE,
                        "Bridge {} connection was stable enough, resetting backoff",
                        self.config.name
                    );
                    self.backoff.reset();
                }
                command = next_command(&mut self.commands) => match command {
                    Command::Reconfigure { config, conn, now } => {
                        self.next = Some((*config, conn));
                        if now {
                            self.leave(client).await;
                            return End::Reconfigure;
                        }
                    }
                    Command::Stop => {
                        self.leave(client).await;
                        return End::Removed;
                    }
                },
                () = &mut primary_back => {
                    log!(
                        self.logger,
                        NOTICE,
                        "Bridge {}: the main address answers again, reconnecting to it.",
                        self.config.name
                    );
                    self.leave(client).await;
                    return End::Primary;
                }
            }
        }
    }

    /// Ends a remote connection on purpose: the state `0` first (a clean DISCONNECT sends
    /// no will), then DISCONNECT.
    async fn leave(&self, client: &mut Client) {
        if self.config.notifications {
            self.notify_remote(client, b"0");
        }
        let _ = client.disconnect(ReasonCode::Success, Properties::default()).await;
    }

    /// A message from the remote broker (its topic alias resolved): published locally if an
    /// `in` topic matches.
    async fn on_remote(
        &mut self,
        message: culex_client::Message,
    ) -> Result<(), alias::InvalidAlias> {
        let name = self.inbound.resolve(&message.topic, &message.properties)?;
        let Some(topic) = self
            .config
            .topics
            .iter()
            .find(|t| t.direction.inbound() && filter_matches(&t.remote_topic, &name))
        else {
            return Ok(());
        };
        let Ok(local) = TopicName::new(&topic.to_local(&name)) else { return Ok(()) };
        let mut publish = Publish::new(local, message.payload);
        publish.qos = QoS::from_u8(message.qos).unwrap_or(QoS::AtMostOnce);
        publish.retain = message.retain;
        if publish.qos != QoS::AtMostOnce {
            publish.packet_id = Some(self.take_id());
        }
        self.to_core(vec![Packet::Publish(publish)]).await;
        Ok(())
    }

    /// A packet from the core to the local connection: messages go to the remote broker (QoS 0
    /// ones are dropped while it is not connected), acknowledgements are answered.
    async fn on_local(&mut self, packet: Packet, client: Option<&mut Client>) -> bool {
        let reply = match packet {
            Packet::Publish(publish) => return self.on_local_publish(publish, client).await,
            Packet::PubRel(rel) => Packet::PubComp(Ack::new(rel.packet_id)),
            Packet::PubRec(rec) => Packet::PubRel(Ack::new(rec.packet_id)),
            Packet::Disconnect(_) => return false,
            Packet::ConnAck(ack) if ack.reason.is_error() => {
                log!(
                    self.logger,
                    ERROR,
                    "Error: Bridge {} was refused by this broker ({}): check local_username and \
                     local_password.",
                    self.config.name,
                    ack.reason
                );
                return false;
            }
            _ => return true,
        };
        self.to_core(vec![reply]).await
    }
}

/// The supervisor's next command; never ready once it is gone.
async fn next_command(commands: &mut Option<mpsc::UnboundedReceiver<Command>>) -> Command {
    if let Some(receiver) = commands {
        if let Some(command) = receiver.recv().await {
            return command;
        }
        *commands = None;
    }
    std::future::pending().await
}

/// Logs the TCP options the bridge's socket carries, as read back from the kernel.
fn log_tcp_options(logger: &Logger, name: &str, tcp: culex_client::tcp::TcpOptions) {
    if let Some(k) = tcp.keepalive {
        log!(
            logger,
            DEBUG,
            "Bridge {name} TCP keepalive: idle {} s, interval {} s, count {}.",
            k.idle,
            k.interval,
            k.count
        );
    }
    if let Some(millis) = tcp.user_timeout {
        log!(logger, DEBUG, "Bridge {name} TCP user timeout: {millis} ms.");
    }
}
