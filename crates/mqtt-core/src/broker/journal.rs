//! Journaling: with [`Config::journal`](crate::Config::journal) on, every change of durable
//! state becomes an [`Output::Journal`] record as the broker makes it. A session is in the
//! journal while `Session::durable` is set (it outlives its connection); only its changes,
//! retained messages and the messages they refer to are recorded. A message is recorded once
//! per shard, in that shard's journal, before the shard's first record that refers to it (a
//! message forwarded to another shard is recorded there too).

use std::time::Instant;

use mqtt_codec::TopicName;

use super::Broker;
use super::persist::{stored_listener, stored_message};
use crate::conn::SessionKey;
use crate::event::{ConnId, Output};
use crate::message::{Delivery, SharedMessage};
use crate::qos::OutState;
use crate::short_str::ShortStr;
use crate::snapshot::journal::Change;
use crate::snapshot::{FlowState, StoredDelivery, StoredSubscription};
use crate::topic_tree::SubOpts;

impl Broker {
    fn record(&mut self, change: Change) {
        self.outputs.push_back(Output::Journal(change));
    }

    /// The client id of `key` when its changes are journaled.
    fn durable_client(&self, key: SessionKey) -> Option<ShortStr> {
        let session = self.sessions.get(key)?;
        session.durable.then(|| session.client_id.clone())
    }

    /// Records `message` unless this shard's journal already holds it.
    pub(super) fn record_message(&mut self, message: &SharedMessage, now: Instant) {
        if !message.mark_journaled(self.shard.index) {
            let stored = stored_message(message, now, self.wall_clock);
            self.record(Change::Message(Box::new(stored)));
        }
    }

    /// A retained message was set (`Some`) or cleared on `topic`.
    pub(super) fn record_retained(
        &mut self,
        topic: &TopicName,
        message: Option<&SharedMessage>,
        now: Instant,
    ) {
        if !self.config.journal {
            return;
        }
        if let Some(message) = message {
            self.record_message(message, now);
        }
        let message = message.map(|message| message.id);
        self.record(Change::Retained { topic: topic.clone(), message });
    }

    /// A connection took `key` over (its owner, protocol and expiry were just set): the
    /// session enters the journal whole if it now outlives its connection, or leaves it.
    pub(super) fn record_session_owner(&mut self, key: SessionKey, now: Instant) {
        if !self.config.journal {
            return;
        }
        let Some(session) = self.sessions.get_mut(key) else { return };
        let persistent = session.expiry_secs != 0;
        let was_durable = std::mem::replace(&mut session.durable, persistent);
        let client_id = session.client_id.clone();
        if !persistent {
            if was_durable {
                self.record(Change::SessionGone { client_id });
            }
            return;
        }
        let owner = Change::Session {
            client_id: client_id.clone(),
            username: session.username.as_deref().map(str::to_owned),
            listener: stored_listener(session.listener),
            protocol: session.protocol,
            expiry_secs: session.expiry_secs,
        };
        self.record(owner);
        if was_durable {
            return;
        }
        // New to the journal: everything it already holds.
        let Some(session) = self.sessions.get(key) else { return };
        let subscriptions: Vec<(String, SubOpts)> =
            session.subscriptions.iter().map(|(f, o)| (f.clone(), *o)).collect();
        let flights: Vec<(u16, OutState, Delivery)> = session
            .outgoing
            .inflight_in_order()
            .into_iter()
            .map(|(id, flight)| (id.get(), flight.state, flight.delivery.clone()))
            .collect();
        let queued: Vec<Delivery> = session.outgoing.queued().cloned().collect();
        let incoming: Vec<(u16, Option<SharedMessage>)> =
            session.incoming.iter().map(|(&id, m)| (id, m.clone())).collect();
        for (filter, opts) in subscriptions {
            self.record(subscribed(&client_id, filter, opts));
        }
        for (packet_id, state, delivery) in flights {
            self.record_queued_for(&client_id, &delivery, now);
            self.record_in_flight(key, delivery.id, packet_id, state);
        }
        for delivery in queued {
            self.record_queued_for(&client_id, &delivery, now);
        }
        for (packet_id, message) in incoming {
            self.record_incoming_for(&client_id, packet_id, message.as_ref(), now);
        }
    }

    /// `key` was detached and expires at `at`: recorded as a Unix time when the broker has a
    /// wall clock (without one, the countdown starts again at a restore).
    pub(super) fn record_detached(&mut self, key: SessionKey, at: Instant) {
        let Some(clock) = self.wall_clock else { return };
        if let Some(client_id) = self.durable_client(key) {
            self.record(Change::Detached { client_id, expires_at_ms: clock.unix_millis(at) });
        }
    }

    /// The session of `key` ends.
    pub(super) fn record_session_gone(&mut self, key: SessionKey) {
        if let Some(client_id) = self.durable_client(key) {
            self.record(Change::SessionGone { client_id });
        }
    }

    /// `key` subscribed to `filter` (or changed its options).
    pub(super) fn record_subscribed(&mut self, key: SessionKey, filter: &str, opts: SubOpts) {
        if let Some(client_id) = self.durable_client(key) {
            self.record(subscribed(&client_id, filter.to_owned(), opts));
        }
    }

    /// `key` unsubscribed from `filter`.
    pub(super) fn record_unsubscribed(&mut self, key: SessionKey, filter: &str) {
        if let Some(client_id) = self.durable_client(key) {
            self.record(Change::Unsubscribed { client_id, filter: filter.to_owned() });
        }
    }

    /// `delivery` was queued for `key` (or goes in flight at once: see
    /// [`Broker::record_in_flight`]).
    pub(super) fn record_queued(&mut self, key: SessionKey, delivery: &Delivery, now: Instant) {
        if let Some(client_id) = self.durable_client(key) {
            self.record_queued_for(&client_id, delivery, now);
        }
    }

    fn record_queued_for(&mut self, client_id: &ShortStr, delivery: &Delivery, now: Instant) {
        self.record_message(&delivery.message, now);
        self.record(Change::Queued {
            client_id: client_id.clone(),
            delivery: StoredDelivery {
                id: delivery.id,
                message: delivery.message.id,
                qos: delivery.qos,
                retain: delivery.retain,
                sub_ids: delivery.sub_ids.clone(),
            },
        });
    }

    /// A QoS 2 delivery of `key` went out as `packet_id`, or its flow moved on. QoS 1 flows
    /// are not recorded: after a crash the message is simply sent again with a new id.
    pub(super) fn record_in_flight(
        &mut self,
        key: SessionKey,
        delivery: u64,
        packet_id: u16,
        state: OutState,
    ) {
        if state == OutState::Qos1Sent {
            return;
        }
        if let Some(client_id) = self.durable_client(key) {
            let state = flow_state(state);
            self.record(Change::InFlight { client_id, delivery, packet_id, state });
        }
    }

    /// The delivery `id` of `key` is finished: acknowledged, sent at QoS 0, expired or dropped.
    pub(super) fn record_delivered(&mut self, key: SessionKey, id: Option<u64>) {
        let Some(id) = id else { return };
        if let Some(client_id) = self.durable_client(key) {
            self.record(Change::Delivered { client_id, delivery: id });
        }
    }

    /// An incoming QoS 2 message of `key` waits for PUBREL.
    pub(super) fn record_incoming(
        &mut self,
        key: SessionKey,
        packet_id: u16,
        message: &SharedMessage,
        now: Instant,
    ) {
        if let Some(client_id) = self.durable_client(key) {
            self.record_incoming_for(&client_id, packet_id, Some(message), now);
        }
    }

    /// An incoming QoS 2 message of `key` was dropped, but its flow goes on to PUBREL.
    pub(super) fn record_incoming_dropped(&mut self, key: SessionKey, packet_id: u16) {
        if let Some(client_id) = self.durable_client(key) {
            let change = Change::Incoming { client_id, packet_id, message: None };
            self.record(change);
        }
    }

    fn record_incoming_for(
        &mut self,
        client_id: &ShortStr,
        packet_id: u16,
        message: Option<&SharedMessage>,
        now: Instant,
    ) {
        if let Some(message) = message {
            self.record_message(message, now);
        }
        self.record(Change::Incoming {
            client_id: client_id.to_owned(),
            packet_id,
            message: message.map(|message| message.id),
        });
    }

    /// The PUBREL of `key`'s incoming `packet_id` arrived on `conn`. Recorded only once the
    /// other shards' records of the message are durable (it waits with the PUBCOMP, see
    /// `held`): a crash between the two would otherwise lose a message the client was told
    /// is stored, since its PUBREL sent again would find nothing to route.
    pub(super) fn record_released(&mut self, conn: ConnId, key: SessionKey, packet_id: u16) {
        if let Some(client_id) = self.durable_client(key) {
            self.output_for(conn, Output::Journal(Change::Released { client_id, packet_id }));
        }
    }
}

fn subscribed(client_id: &ShortStr, filter: String, opts: SubOpts) -> Change {
    Change::Subscribed {
        client_id: client_id.clone(),
        subscription: StoredSubscription {
            filter,
            qos: opts.qos,
            no_local: opts.no_local,
            retain_as_published: opts.retain_as_published,
            id: opts.id,
        },
    }
}

fn flow_state(state: OutState) -> FlowState {
    match state {
        OutState::Qos1Sent => FlowState::AwaitingPubAck,
        OutState::Qos2Sent => FlowState::AwaitingPubRec,
        OutState::Released => FlowState::AwaitingPubComp,
    }
}
