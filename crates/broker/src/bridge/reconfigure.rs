//! A bridge's local connection over its life: opened when the task starts, changed when a
//! reload's new settings are applied (before the next remote connection), and ended when the
//! bridge is removed from the configuration.
//!
//! New settings keep the local session when its identity (client id, clean session, local
//! username and password) is the same: only the `out` subscriptions that changed are
//! unsubscribed or subscribed, so the messages it queues and holds are kept. Otherwise, and
//! when the bridge is removed, the session ends as a removed Mosquitto bridge's does: a
//! DISCONNECT that sets its expiry to 0 makes the core drop it with its queue (the retained
//! state topic says `0`).

use bytes::Bytes;
use mqtt_codec::{
    Disconnect, MqttString, Packet, PacketId, ProtocolVersion, ReasonCode, TopicFilter, Unsubscribe,
};
use mqtt_core::{ConnId, INTERNAL_LISTENER, PeerInfo};
use tokio::sync::mpsc;

use super::Bridge;
use crate::config::BridgeConfig;
use crate::event::Event;

impl Bridge {
    /// Opens the local connection `self.conn`: registers it with the driver of its client
    /// id's shard, sends its
    /// CONNECT and SUBSCRIBE, and publishes the state `0` (as Mosquitto: "not connected"
    /// until the first CONNACK). False when the broker stops.
    pub(super) async fn open_local(&mut self) -> bool {
        let (to_bridge, from_core) = mpsc::unbounded_channel();
        self.from_core = from_core;
        let peer = PeerInfo {
            address: "bridge".into(),
            port: 0,
            listener: INTERNAL_LISTENER,
            certificate_username: None,
        };
        let open = Event::Bridge { conn: self.conn, peer, to_bridge };
        self.events = self.shards.of_client(&self.local_id).events.clone();
        if self.events.send(open).await.is_err() {
            return false;
        }
        let Some(local) = self.local_session() else { return false };
        if !self.to_core(local).await {
            return false;
        }
        if self.config.notifications {
            self.notify(b"0").await;
        }
        true
    }

    /// Applies new settings (`conn`: an unused id, should the local session change). False
    /// when the broker stops.
    pub(super) async fn reconfigure(&mut self, (config, conn): (BridgeConfig, ConnId)) -> bool {
        let old = std::mem::replace(&mut self.config, config);
        let old_id = std::mem::take(&mut self.local_id);
        self.derive_names();
        let inbound = |config: &BridgeConfig| -> Vec<String> {
            let topics = config.topics.iter().filter(|t| t.direction.inbound());
            topics.map(|t| t.remote_topic.clone()).collect()
        };
        let wanted = inbound(&self.config);
        self.stale_remote.extend(inbound(&old));
        self.stale_remote.retain(|filter| !wanted.contains(filter));
        let same_session = old_id == self.local_id
            && old.local_cleansession() == self.config.local_cleansession()
            && old.local_username == self.config.local_username
            && old.local_password == self.config.local_password;
        if !same_session {
            if !self.end_local().await {
                return false;
            }
            self.conn = conn;
            return self.open_local().await;
        }
        let outbound = |config: &BridgeConfig| -> Vec<(String, u8)> {
            let topics = config.topics.iter().filter(|t| t.direction.outbound());
            topics.map(|t| (t.local_topic.clone(), t.qos)).collect()
        };
        let (before, after) = (outbound(&old), outbound(&self.config));
        let gone: Vec<TopicFilter> = before
            .iter()
            .filter(|(filter, _)| !after.iter().any(|(kept, _)| kept == filter))
            .filter_map(|(filter, _)| TopicFilter::new(filter).ok())
            .collect();
        let mut packets = Vec::new();
        if !gone.is_empty() {
            packets.push(Packet::Unsubscribe(Unsubscribe::new(self.take_id(), gone)));
        }
        let id = self.take_id();
        let added = self.config.topics.iter().filter(|t| {
            t.direction.outbound() && !before.contains(&(t.local_topic.clone(), t.qos))
        });
        packets.extend(self.local_subscribe(id, added));
        packets.is_empty() || self.to_core(packets).await
    }

    /// The bridge was removed from the configuration: its local session ends.
    pub(super) async fn remove(mut self) {
        self.end_local().await;
    }

    /// Ends the local session (its expiry set to 0, so the core drops it and its queue) and
    /// forgets the messages held for it. False when the broker stops.
    async fn end_local(&mut self) -> bool {
        self.pending.clear();
        let mut disconnect = Disconnect::new(ReasonCode::Success);
        disconnect.properties.session_expiry_interval = Some(0);
        self.to_core(vec![Packet::Disconnect(disconnect)]).await
    }

    /// The local CONNECT and the SUBSCRIBE of the `out` topics.
    pub(super) fn local_session(&self) -> Option<Vec<Packet>> {
        let client_id = MqttString::new(&self.local_id).ok()?;
        let mut connect = mqtt_codec::Connect::new(ProtocolVersion::V5, client_id);
        // Mosquitto's local_cleansession (default: cleansession). A kept session never
        // expires, so it is saved with persistence and its subscriptions and queued
        // messages survive a restart, as Mosquitto's do.
        let clean = self.config.local_cleansession();
        connect.clean_start = clean;
        if !clean {
            connect.properties.session_expiry_interval = Some(u32::MAX);
        }
        connect.keep_alive = 0;
        connect.username =
            self.config.local_username.as_deref().and_then(|name| MqttString::new(name).ok());
        connect.password = self.config.local_password.clone().map(Bytes::from);
        let mut packets = vec![Packet::Connect(Box::new(connect))];
        let outbound = self.config.topics.iter().filter(|t| t.direction.outbound());
        packets.extend(self.local_subscribe(PacketId::MIN, outbound));
        Some(packets)
    }
}
