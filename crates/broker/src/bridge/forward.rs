//! Store and forward of `out` messages: a QoS 1/2 message from the core is held until the
//! remote broker acknowledges it, and only then acknowledged to the core, so the core's
//! in-flight window and queue for the bridge's session keep the rest (see the parent
//! module); on each new remote connection the held ones are sent again, in order. Topics go
//! out by alias where the remote takes them ([`super::alias`]).

use culex_client::Client;
use mqtt_codec::{
    Ack, Packet, PacketId, Properties, PropertyValues, Publish, QoS, TopicName, filter_matches,
};

use super::Bridge;
use super::alias::Outbound;

/// A QoS 1/2 message on its way to the remote broker.
pub(super) struct Outgoing {
    /// Its packet id on the local connection (acknowledged when the remote finished it).
    pub(super) local: PacketId,
    /// The message as the remote broker gets it (remote topic, outgoing retain applied).
    pub(super) publish: Publish,
    /// Its message id on the current remote connection; `None` while not sent on it.
    pub(super) remote: Option<u16>,
}

impl Bridge {
    /// A message for the `out` topics: QoS 0 is sent if connected; QoS 1/2 is held in
    /// [`Self::pending`] until the remote broker acknowledges it.
    pub(super) async fn on_local_publish(
        &mut self,
        publish: Publish,
        client: Option<&mut Client>,
    ) -> bool {
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
                let _ = send(client, &mut self.outbound, &remote, self.config.max_packet_size);
            }
            return true;
        };
        let mut outgoing = Outgoing { local, publish: remote, remote: None };
        if let Some(client) = client {
            let limit = self.config.max_packet_size;
            match send(client, &mut self.outbound, &outgoing.publish, limit) {
                Some(mid) => outgoing.remote = Some(mid),
                None => return self.to_core(vec![local_ack(local, qos)]).await,
            }
        }
        self.pending.push_back(outgoing);
        true
    }

    /// Sends every held message on a new remote connection, in order. One the remote cannot
    /// take (larger than its or `bridge_max_packet_size`) is acknowledged locally and dropped.
    pub(super) async fn resend(&mut self, client: &mut Client) -> bool {
        let mut refused = Vec::new();
        let limit = self.config.max_packet_size;
        let aliases = &mut self.outbound;
        self.pending.retain_mut(|outgoing| {
            outgoing.remote = send(client, aliases, &outgoing.publish, limit);
            if outgoing.remote.is_none() {
                refused.push(local_ack(outgoing.local, outgoing.publish.qos));
            }
            outgoing.remote.is_some()
        });
        refused.is_empty() || self.to_core(refused).await
    }

    /// The remote broker finished message `mid`: its local copy is acknowledged.
    pub(super) async fn remote_done(&mut self, mid: u16) -> bool {
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

/// Publishes `message` on the remote connection, naming its topic by alias where `aliases`
/// allow: its message id, `None` if it cannot be sent (`bridge_max_packet_size` is `limit`).
fn send(
    client: &mut Client,
    aliases: &mut Outbound,
    message: &Publish,
    limit: Option<u32>,
) -> Option<u16> {
    let named = aliases.name(&message.topic);
    let properties =
        Properties::from(PropertyValues { topic_alias: named.alias, ..PropertyValues::default() });
    if let Some(limit) = limit {
        let mut sized = message.clone();
        sized.topic = named.topic.clone();
        sized.properties = properties.clone();
        // The packet id the client will give it takes two bytes, whatever its value.
        sized.packet_id = (message.qos != QoS::AtMostOnce).then_some(PacketId::MIN);
        let packet = Packet::Publish(sized);
        let size = mqtt_codec::encoded_len(&packet, client.protocol()).ok()?;
        if u32::try_from(size).map_or(true, |size| size > limit) {
            return None;
        }
    }
    let mid = client
        .publish(
            named.topic.clone(),
            message.payload.clone(),
            message.qos,
            message.retain,
            properties,
        )
        .ok()?;
    aliases.commit(&message.topic, &named);
    Some(mid)
}

/// The local acknowledgement of a message the remote broker finished (or can never take).
pub(super) fn local_ack(id: PacketId, qos: QoS) -> Packet {
    match qos {
        QoS::ExactlyOnce => Packet::PubRec(Ack::new(id)),
        _ => Packet::PubAck(Ack::new(id)),
    }
}
