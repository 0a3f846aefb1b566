//! Routing: from one message to its subscribers (one copy per client, merged over overlapping
//! subscriptions; one per `$share` group), and delivery through each session's in-flight
//! window and queue, with the client's packet size limit and the topic aliases set up towards
//! it (`max_topic_alias_broker`).

use std::time::Instant;

use mqtt_codec::{Packet, PacketId, QoS, TopicName};

use super::{Broker, DropCause};
use crate::alias::{OutgoingAlias, OutgoingAliases};
use crate::conn::SessionKey;
use crate::event::{ConnId, LogEvent};
use crate::message::{Delivery, SharedMessage};
use crate::mount;
use crate::qos::{Enqueued, OutState, QueueLimits};
use crate::retained::RetainVersion;
use crate::topic_tree::Matched;

/// Who picks the members of the `$share` groups a message matches ([`Broker::route_here`]).
#[derive(Clone, Copy, Debug)]
pub(super) enum Picks {
    /// This shard, for a message published here: one member of each group, on any shard.
    Here,
    /// The origin shard did (the groups whose pick fell here come named in the forwarded
    /// item): only plain subscribers match. `cache_slot` stands for the origin's publisher in
    /// the match cache.
    Origin {
        /// The match cache's slot for the origin's publisher, if a client published it.
        cache_slot: Option<usize>,
    },
}

impl Broker {
    /// Routes a message published by `publisher` (its session), storing it first if retained,
    /// and forwards it to the other shards that need it. Returns how many subscribers it matched (whether
    /// or not their queues had room, or they may read it), which decides the v5 "No matching
    /// subscribers" PUBACK.
    pub(super) fn route(
        &mut self,
        message: SharedMessage,
        publisher: Option<SessionKey>,
        now: Instant,
    ) -> usize {
        if self.shard.count == 1 {
            return self.route_here(message, publisher, None, Picks::Here, now);
        }
        self.route_and_forward(message, publisher, None, now).0
    }

    /// Routes a message to this shard's subscribers only (see [`Broker::route`]). A retained
    /// one replaces the stored one unless that has a newer `version` (sharded brokers only;
    /// `None` always replaces). What the walk found on other shards is left in
    /// `self.elsewhere`.
    // Inlined into its three callers: unsharded, `route` is then the code it was before shards
    // (callgrind: 50 instructions a QoS 1 message fewer than an out-of-line call).
    #[inline(always)]
    pub(super) fn route_here(
        &mut self,
        message: SharedMessage,
        publisher: Option<SessionKey>,
        version: Option<RetainVersion>,
        picks: Picks,
        now: Instant,
    ) -> usize {
        if message.retain {
            self.keep_retained(&message, version, now);
        }
        let mut matches = std::mem::take(&mut self.scratch);
        matches.clear();
        if let Picks::Origin { cache_slot } = picks {
            self.tree.plain_matches(message.topic.as_str(), cache_slot, &mut matches);
        } else {
            let sessions = &self.sessions;
            self.tree.matches(
                message.topic.as_str(),
                publisher,
                &|key| sessions.get(key).is_some_and(|s| s.conn.is_some()),
                &mut matches,
                &mut self.elsewhere,
            );
        }
        // Plain matches first, grouped by session (stable: subscription order inside a group).
        matches.sort_by_key(|m| (m.shared, m.session));
        let mut matched = 0;
        let mut rest = matches.as_slice();
        while let Some(first) = rest.first() {
            let len = if first.shared || self.config.allow_duplicate_messages {
                1
            } else {
                rest.iter().take_while(|m| !m.shared && m.session == first.session).count()
            };
            let (group, tail) = rest.split_at(len);
            rest = tail;
            // A subscriber counts even when no-local or its read access (an ACL changed by a
            // reload) keeps the message from it, as in Mosquitto.
            matched += 1;
            if let Some(delivery) = self.merge(&message, group, publisher) {
                self.deliver(group[0].session, delivery, now);
            }
        }
        self.scratch = matches;
        matched
    }

    /// Stores a retained message (an empty payload deletes), unless the one stored has a newer
    /// `version` (see [`Broker::route_here`]).
    pub(super) fn keep_retained(
        &mut self,
        message: &SharedMessage,
        version: Option<RetainVersion>,
        now: Instant,
    ) {
        if self.retained.admits(&message.topic, version, now) {
            self.changes += 1;
            let kept = (!message.payload.is_empty()).then_some(message);
            self.record_retained(&message.topic, kept, now);
            self.retained.store(message.clone());
        }
    }

    /// One delivery for one session out of all its matching subscriptions: the highest QoS,
    /// every subscription identifier, no-local and retain-as-published applied.
    // Inlined into `route_here` as when it was its only caller (see there).
    #[inline(always)]
    pub(super) fn merge(
        &self,
        message: &SharedMessage,
        group: &[Matched],
        publisher: Option<SessionKey>,
    ) -> Option<Delivery> {
        let session_key = group.first()?.session;
        let session = self.sessions.get(session_key)?;
        let own = publisher == Some(session_key);
        let mut qos = None::<QoS>;
        let mut retain = false;
        let mut sub_ids = Vec::new();
        for matched in group {
            let opts = matched.opts;
            if own && opts.no_local {
                // [v5 MQTT-3.8.3-3] No Local: not to the publishing client.
                continue;
            }
            qos = Some(qos.map_or(opts.qos, |q| q.max(opts.qos)));
            retain |= opts.retain_as_published && message.retain;
            sub_ids.extend(opts.id);
        }
        let granted = qos?;
        if !self.may_read(session, message.topic.as_str()) {
            return None;
        }
        let qos = if self.config.upgrade_outgoing_qos { granted } else { granted.min(message.qos) };
        sub_ids.sort_unstable();
        Some(Delivery { id: 0, message: message.clone(), qos, retain, sub_ids })
    }

    /// Hands one delivery to a session: sent now if its window allows, else queued (bounded).
    /// Returns false if it was dropped.
    pub(super) fn deliver(
        &mut self,
        key: SessionKey,
        mut delivery: Delivery,
        now: Instant,
    ) -> bool {
        delivery.id = self.durable.delivery();
        let limits = QueueLimits {
            messages: self.config.max_queued_messages,
            bytes: self.config.max_queued_bytes,
        };
        let queue_qos0 = self.config.queue_qos0_messages;
        if delivery.qos != QoS::AtMostOnce {
            self.changes += 1;
        }
        let Some(session) = self.sessions.get_mut(key) else { return false };
        let online = session.conn;
        if delivery.qos == QoS::AtMostOnce {
            if let Some(conn) = online {
                return self.send_publish(conn, key, &delivery, None, false, now);
            }
            if !queue_qos0 {
                return false;
            }
        }
        let window_open = online.is_some() && session.outgoing.queued_len() == 0;
        if window_open && delivery.qos != QoS::AtMostOnce && self.room_in_flight(key) {
            return self.start_flight(key, delivery, true, now);
        }
        let Some(session) = self.sessions.get_mut(key) else { return false };
        match session.outgoing.enqueue(delivery.clone(), limits) {
            Enqueued::Yes => {
                self.record_queued(key, &delivery, now);
                true
            }
            Enqueued::Dropped { first } => {
                self.stats.dropped(DropCause::QueueFull);
                if first {
                    let client_id = session.client_id.to_string();
                    self.log(LogEvent::QueueFull { client_id });
                }
                false
            }
        }
    }

    /// How many QoS 1/2 messages may be in flight to the session's client.
    fn window(&self, key: SessionKey) -> usize {
        let ours = match self.config.max_inflight_messages {
            0 => usize::from(u16::MAX),
            max => usize::from(max),
        };
        let theirs = self
            .sessions
            .get(key)
            .and_then(|s| s.conn)
            .and_then(|conn| self.conns.get(&conn))
            .map_or(usize::from(u16::MAX), |c| usize::from(c.receive_max_out));
        ours.min(theirs)
    }

    /// Whether another message may go in flight to `key`: fewer than [`Self::window`]
    /// messages and, with `max_inflight_bytes`, fewer payload bytes than that in flight
    /// (Mosquitto's test: one message may take the total past the limit).
    fn room_in_flight(&self, key: SessionKey) -> bool {
        let Some(session) = self.sessions.get(key) else { return false };
        let limit = self.config.max_inflight_bytes;
        session.outgoing.inflight_len() < self.window(key)
            && (limit == 0 || session.outgoing.inflight_bytes() < limit)
    }

    /// Starts a QoS 1/2 flow for a connected session and sends the PUBLISH. `fresh`: the
    /// delivery is new (not taken from the session's queue, where the journal has it already).
    fn start_flight(
        &mut self,
        key: SessionKey,
        delivery: Delivery,
        fresh: bool,
        now: Instant,
    ) -> bool {
        let Some(session) = self.sessions.get_mut(key) else { return false };
        let Some(conn) = session.conn else { return false };
        if delivery.message.is_expired(now) {
            self.stats.dropped(DropCause::Expired);
            if !fresh {
                self.record_delivered(key, Some(delivery.id));
            }
            return false;
        }
        let Ok(id) = session.outgoing.start(delivery.clone()) else {
            // Every packet id is in use: keep it for later.
            session.outgoing.enqueue(delivery.clone(), QueueLimits { messages: 0, bytes: 0 });
            if fresh {
                self.record_queued(key, &delivery, now);
            }
            return true;
        };
        if fresh {
            self.record_queued(key, &delivery, now);
        }
        let state =
            if delivery.qos == QoS::ExactlyOnce { OutState::Qos2Sent } else { OutState::Qos1Sent };
        self.record_in_flight(key, delivery.id, id.get(), state);
        if !self.send_publish(conn, key, &delivery, Some(id), false, now) {
            // Too large for the client or expired: as if delivered ([v5 MQTT-3.1.2-25]).
            let abandoned = self.sessions.get_mut(key).and_then(|s| s.outgoing.abandon(id));
            self.record_delivered(key, abandoned);
            return false;
        }
        true
    }

    /// Moves queued messages into the window while it has room.
    pub(super) fn pump(&mut self, key: SessionKey, now: Instant) {
        loop {
            // The queue first: usually empty, and cheaper to look at than the window.
            let queued = self.sessions.get(key).is_some_and(|s| s.outgoing.queued_len() > 0);
            if !queued || !self.room_in_flight(key) {
                return;
            }
            let Some(session) = self.sessions.get_mut(key) else { return };
            if session.conn.is_none() {
                return;
            }
            let Some(delivery) = session.outgoing.dequeue() else { return };
            if delivery.qos == QoS::AtMostOnce {
                if let Some(conn) = session.conn {
                    self.send_publish(conn, key, &delivery, None, false, now);
                }
                self.record_delivered(key, Some(delivery.id));
                continue;
            }
            self.start_flight(key, delivery, false, now);
        }
    }

    /// After a reconnect with a session present: re-send unacknowledged PUBLISHes with DUP and
    /// PUBRELs, in their original order ([v5 MQTT-4.4.0-1]).
    pub(super) fn resend_inflight(&mut self, conn: ConnId, key: SessionKey, now: Instant) {
        let Some(session) = self.sessions.get(key) else { return };
        let flights: Vec<(PacketId, OutState, Delivery)> = session
            .outgoing
            .inflight_in_order()
            .into_iter()
            .map(|(id, flight)| (id, flight.state, flight.delivery.clone()))
            .collect();
        for (id, state, delivery) in flights {
            match state {
                OutState::Released => {
                    self.send(
                        conn,
                        Packet::PubRel(super::publish::ack(id, mqtt_codec::ReasonCode::Success)),
                    );
                }
                OutState::Qos1Sent | OutState::Qos2Sent => {
                    if !self.send_publish(conn, key, &delivery, Some(id), true, now) {
                        let abandoned =
                            self.sessions.get_mut(key).and_then(|s| s.outgoing.abandon(id));
                        self.record_delivered(key, abandoned);
                    }
                }
            }
        }
    }

    /// Builds and sends one PUBLISH to `conn`, applying the listener's mount point, the topic
    /// aliases set up towards the client and its Maximum Packet Size. Returns false if nothing
    /// was sent (expired or too large).
    fn send_publish(
        &mut self,
        conn: ConnId,
        key: SessionKey,
        delivery: &Delivery,
        packet_id: Option<PacketId>,
        dup: bool,
        now: Instant,
    ) -> bool {
        let Some(state) = self.conns.get_mut(&conn) else { return false };
        let version = state.protocol;
        let Some(mut publish) = delivery.to_publish(packet_id, dup, version, now) else {
            self.stats.dropped(DropCause::Expired);
            return false;
        };
        // `mount_point`: the client sees topics without its listener's prefix.
        if let Some(mount) = &self.config.options_of(state.peer.listener).mount_point {
            let shown = mount::strip(mount, publish.topic.as_str());
            if shown.len() != publish.topic.as_str().len() {
                if let Ok(topic) = TopicName::new(shown) {
                    publish.topic = topic;
                }
            }
        }
        // Only the lookup when the client and the listener allow aliases: nothing else to do.
        let alias = if state.alias_max_out == 0 {
            OutgoingAlias::Topic
        } else {
            let aliases = state.aliases.as_deref().map(|a| &a.outgoing);
            OutgoingAliases::choose(aliases, publish.topic.as_str(), state.alias_max_out)
        };
        let assigned = match alias {
            OutgoingAlias::Topic => None,
            OutgoingAlias::Assign(alias) => {
                publish.properties.topic_alias = Some(alias);
                Some((publish.topic.clone(), alias))
            }
            OutgoingAlias::Reuse(alias) => {
                publish.properties.topic_alias = Some(alias);
                publish.topic = TopicName::empty();
                None
            }
        };
        let payload_len = publish.payload.len();
        let packet = Packet::Publish(publish);
        if let Some(max) = state.max_packet_out {
            let size = mqtt_codec::encoded_len(&packet, version).unwrap_or(usize::MAX);
            if size > max.get() as usize {
                // [v5 MQTT-3.1.2-24] never send a packet larger than the client accepts.
                self.stats.dropped(DropCause::ReceiverMaximumPacketSize);
                let client_id =
                    self.sessions.get(key).map(|s| s.client_id.to_string()).unwrap_or_default();
                self.log(LogEvent::OutgoingTooLarge { client_id, size });
                return false;
            }
        }
        if let Some((topic, alias)) = assigned {
            // Only once the PUBLISH that sets it up goes out.
            state.aliases.get_or_insert_with(Box::default).outgoing.record(topic.as_str(), alias);
        }
        self.stats.publish_sent += 1;
        self.stats.publish_bytes_sent += payload_len as u64;
        self.send(conn, packet);
        true
    }
}
