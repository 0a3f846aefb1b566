//! Snapshot and restore: the broker's durable state copied out as a [`Snapshot`] and put back
//! into a fresh broker at startup. The runtime encodes and writes the copy away from the
//! driver; see `crate::snapshot` for what is stored and how time is handled (message expiry
//! as an absolute time by the broker's [`WallClock`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqtt_codec::{PacketId, QoS};

use super::Broker;
use crate::event::{INTERNAL_LISTENER, LogEvent};
use crate::message::{Delivery, Message, SharedMessage, Source};
use crate::qos::{OutState, QueueLimits};
use crate::session::{EXPIRY_NEVER, Session};
use crate::snapshot::{
    FlowState, LastIds, Snapshot, StoredDelivery, StoredInFlight, StoredIncoming, StoredMessage,
    StoredSession, StoredSource, StoredSubscription,
};
use crate::timers::Timer;
use crate::topic;
use crate::topic_tree::SubOpts;
use crate::wall_clock::WallClock;

/// Seconds from `now` to `at`, rounded up (0 once passed).
fn secs_left(at: Instant, now: Instant) -> u32 {
    let left = at.saturating_duration_since(now);
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// `message` as plain data, its expiry as the Unix time it ends at by `clock`, or without a
/// clock as what is left of it at `now`.
pub(super) fn stored_message(
    message: &Message,
    now: Instant,
    clock: Option<WallClock>,
) -> StoredMessage {
    let mut properties = message.properties.clone();
    let mut expires_at_ms = None;
    if let Some(at) = message.expires_at {
        match clock {
            Some(clock) => expires_at_ms = Some(clock.unix_millis(at)),
            None => properties.message_expiry_interval = Some(secs_left(at, now)),
        }
    }
    StoredMessage {
        id: message.id,
        topic: message.topic.clone(),
        payload: message.payload.clone(),
        qos: message.qos,
        retain: message.retain,
        properties,
        source: message.source.as_deref().map(|source| StoredSource {
            client_id: source.client_id.clone(),
            username: source.username.clone(),
            listener: stored_listener(source.listener),
        }),
        expires_at_ms,
    }
}

/// How long a stored message has left at `now`: `None` when it has expired, `Some(None)` when
/// it never does. An expiry time is placed by `clock`; without one it cannot be, and the
/// message counts as expired. Seconds left (files from before format version 4, a broker
/// without a clock) count from `now`; 0 left is expired.
fn time_left(
    stored: &StoredMessage,
    clock: Option<WallClock>,
    now: Instant,
) -> Option<Option<Duration>> {
    match (stored.expires_at_ms, stored.properties.message_expiry_interval) {
        (Some(at), _) => Some(Some(clock?.until(at, now)?)),
        (None, Some(0)) => None,
        (None, secs) => Some(secs.map(|secs| Duration::from_secs(u64::from(secs)))),
    }
}

/// A listener index as snapshots and the journal store it: the server's own listener (a
/// bridge's local side), the one index that does not fit in u32, is stored as `u32::MAX`.
pub(super) fn stored_listener(listener: usize) -> u32 {
    match listener {
        INTERNAL_LISTENER => u32::MAX,
        index => u32::try_from(index).unwrap_or(u32::MAX),
    }
}

/// A stored listener index back as the broker keeps it: the inverse of [`stored_listener`].
fn listener_of(stored: u32) -> usize {
    match stored {
        u32::MAX => INTERNAL_LISTENER,
        index => usize::try_from(index).unwrap_or(INTERNAL_LISTENER),
    }
}

/// A session's stored deliveries as the restore puts them back: in flight in the order they
/// were first sent, then the queue.
///
/// The journal does not record QoS 1 flows, so a state replayed from it has the journaled
/// QoS 2 flows in flight and the QoS 1 deliveries sent before them in the queue. Deliveries go
/// out in queue order (their ids grow in it), so a QoS 1 delivery queued before one in flight
/// went out too: it goes back in flight in its place, under a packet id no flow uses, so the
/// resend after a restart keeps the first send's order (MQTT 3.1.1 §4.6) and its DUP flag.
fn in_send_order(
    mut inflight: Vec<StoredInFlight>,
    queued: Vec<StoredDelivery>,
) -> (Vec<StoredInFlight>, Vec<StoredDelivery>) {
    let Some(last_sent) = inflight.iter().map(|flight| flight.delivery.id).max() else {
        return (inflight, queued);
    };
    let used: HashSet<u16> = inflight.iter().map(|flight| flight.packet_id).collect();
    let mut spare_ids = (1..=u16::MAX).filter(|id| !used.contains(id));
    let mut still_queued = Vec::with_capacity(queued.len());
    for delivery in queued {
        let sent = delivery.id < last_sent && delivery.qos == QoS::AtLeastOnce;
        match sent.then(|| spare_ids.next()).flatten() {
            Some(packet_id) => {
                let state = FlowState::AwaitingPubAck;
                inflight.push(StoredInFlight { packet_id, delivery, state });
            }
            None => still_queued.push(delivery),
        }
    }
    inflight.sort_by_key(|flight| flight.delivery.id);
    (inflight, still_queued)
}

/// The source `stored` names, back as the broker keeps it.
fn source_of(stored: StoredSource) -> Box<Source> {
    let listener = listener_of(stored.listener);
    Box::new(Source { client_id: stored.client_id, username: stored.username, listener })
}

/// Builds the message table of a snapshot, storing each shared message once (by its id).
struct MessageTable {
    messages: Vec<StoredMessage>,
    stored: HashSet<u64>,
    clock: Option<WallClock>,
}

impl MessageTable {
    fn intern(&mut self, message: &SharedMessage, now: Instant) -> u64 {
        if self.stored.insert(message.id) {
            self.messages.push(stored_message(message, now, self.clock));
        }
        message.id
    }

    fn delivery(&mut self, delivery: &Delivery, now: Instant) -> StoredDelivery {
        StoredDelivery {
            id: delivery.id,
            message: self.intern(&delivery.message, now),
            qos: delivery.qos,
            retain: delivery.retain,
            sub_ids: delivery.sub_ids.clone(),
        }
    }
}

impl Broker {
    /// How many changes of durable state (retained messages, sessions, subscriptions, queued
    /// and in-flight messages) the broker has seen, roughly one per change: the runtime's
    /// `autosave_on_changes` compares it with its value at the last save.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Copies the durable state out: retained messages and every session that outlives its
    /// connection, connected or not. Message and detached session expiry are stored as the
    /// Unix time they end at (with a [`WallClock`]; without one as what is left at `now`). Messages that expired but were not met yet are copied too, as the
    /// journal has them: the restore drops them. A copy of maps and lists; payloads are shared.
    #[must_use]
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let mut table =
            MessageTable { messages: Vec::new(), stored: HashSet::new(), clock: self.wall_clock };
        let retained = self.retained.messages().map(|message| table.intern(message, now)).collect();
        let mut sessions = Vec::new();
        for session in self.sessions.iter().filter(|session| session.expiry_secs != 0) {
            let subscriptions = session
                .subscriptions
                .iter()
                .map(|(filter, opts)| StoredSubscription {
                    filter: filter.clone(),
                    qos: opts.qos,
                    no_local: opts.no_local,
                    retain_as_published: opts.retain_as_published,
                    id: opts.id,
                })
                .collect();
            let inflight = session
                .outgoing
                .inflight_in_order()
                .into_iter()
                .map(|(id, flight)| StoredInFlight {
                    packet_id: id.get(),
                    delivery: table.delivery(&flight.delivery, now),
                    state: match flight.state {
                        OutState::Qos1Sent => FlowState::AwaitingPubAck,
                        OutState::Qos2Sent => FlowState::AwaitingPubRec,
                        OutState::Released => FlowState::AwaitingPubComp,
                    },
                })
                .collect();
            let queued =
                session.outgoing.queued().map(|delivery| table.delivery(delivery, now)).collect();
            let incoming = session
                .incoming
                .iter()
                .map(|(&packet_id, message)| StoredIncoming {
                    packet_id,
                    message: message.as_ref().map(|message| table.intern(message, now)),
                })
                .collect();
            let (expires_in, expires_at_ms) = match (session.expires_at, self.wall_clock) {
                (Some(at), Some(clock)) => (None, Some(clock.unix_millis(at))),
                (at, None) => (at.map(|at| secs_left(at, now)), None),
                (None, Some(_)) => (None, None),
            };
            sessions.push(StoredSession {
                client_id: session.client_id.to_string(),
                username: session.username.as_deref().map(str::to_owned),
                listener: stored_listener(session.listener),
                protocol: session.protocol,
                expiry_secs: session.expiry_secs,
                expires_in,
                expires_at_ms,
                subscriptions,
                inflight,
                queued,
                incoming,
            });
        }
        // Deterministic output whatever the slab order.
        sessions.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Snapshot { messages: table.messages, retained, sessions }
    }

    /// Puts a snapshot back, before any connection is opened (and after
    /// [`Broker::set_wall_clock`]). A message that expired meanwhile is dropped, with the
    /// retained entries and deliveries that refer to it (an incoming QoS 2 flow still
    /// completes), as Mosquitto drops it at load; so is a session whose expiry time passed
    /// meanwhile, with everything it held. Every other session comes back detached: its
    /// expiry counts from `now` (the rest of its countdown if it was detached when saved, else
    /// its full interval; `persistent_client_expiration` still caps it), and its in-flight
    /// messages are re-sent when its client reconnects. A session whose client id already
    /// exists, a subscription with an invalid filter and an index out of range are skipped.
    pub fn restore(&mut self, snapshot: Snapshot, now: Instant) {
        let last_message = snapshot.messages.iter().map(|stored| stored.id).max();
        let mut expired = HashSet::new();
        let mut messages: HashMap<u64, SharedMessage> = HashMap::new();
        for mut stored in snapshot.messages {
            let Some(left) = time_left(&stored, self.wall_clock, now) else {
                expired.insert(stored.id);
                continue;
            };
            if let Some(properties) = stored.properties.get_mut() {
                properties.message_expiry_interval = None;
            }
            let mut message = self.charged(Message::from_publish(
                stored.id,
                stored.topic,
                stored.payload,
                stored.qos,
                stored.retain,
                stored.properties,
                now,
            ));
            message.expires_at = left.map(|left| now + left);
            message.source = stored.source.map(source_of);
            // This shard's checkpoint holds it: its journal records may refer to it.
            message.mark_journaled(self.shard.index);
            messages.insert(stored.id, Arc::new(message));
        }
        let get = |id: u64| messages.get(&id).cloned();
        for id in snapshot.retained {
            if let Some(message) = get(id) {
                self.retained.store(message);
            }
        }
        let mut last_delivery = 0;
        let mut delivery = |stored: StoredDelivery| {
            last_delivery = last_delivery.max(stored.id);
            Some(Delivery {
                id: stored.id,
                message: get(stored.message)?,
                qos: stored.qos,
                retain: stored.retain,
                sub_ids: stored.sub_ids,
            })
        };
        let unlimited = QueueLimits { messages: 0, bytes: 0 };
        for stored in snapshot.sessions {
            if self.sessions.find(&stored.client_id).is_some() {
                continue;
            }
            let Some(mut expires_in) = self.restored_expiry(&stored, now) else {
                // Expired while the broker was down: gone with what it held (its will was
                // never stored), as its expiry timer would have ended it.
                self.log(LogEvent::SessionExpired { client_id: stored.client_id });
                self.stats.clients_expired += 1;
                continue;
            };
            let mut session = Session::new(stored.client_id, stored.protocol);
            session.username = stored.username.map(Box::from);
            session.listener = listener_of(stored.listener);
            session.expiry_secs = stored.expiry_secs;
            // The checkpoint holds it; whether it goes on being journaled is the config's call.
            session.durable = self.config.journal;
            let (inflight, queued) = in_send_order(stored.inflight, stored.queued);
            for flight in inflight {
                let state = match flight.state {
                    FlowState::AwaitingPubAck => OutState::Qos1Sent,
                    FlowState::AwaitingPubRec => OutState::Qos2Sent,
                    FlowState::AwaitingPubComp => OutState::Released,
                };
                if let (Some(id), Some(delivery)) =
                    (PacketId::new(flight.packet_id), delivery(flight.delivery))
                {
                    session.outgoing.restore(id, delivery, state);
                }
            }
            for queued in queued {
                if let Some(delivery) = delivery(queued) {
                    session.outgoing.enqueue(delivery, unlimited);
                }
            }
            for incoming in stored.incoming {
                let message = match incoming.message {
                    Some(id) if expired.contains(&id) => None,
                    Some(id) => match get(id) {
                        Some(message) => Some(message),
                        None => continue,
                    },
                    None => None,
                };
                session.incoming.insert(incoming.packet_id, message);
            }
            if let Some(max) = self.config.persistent_client_expiration {
                expires_in = Some(expires_in.map_or(max, |e| e.min(max)));
            }
            let expires_at = expires_in.map(|after| now + after);
            session.expires_at = expires_at;
            let key = self.sessions.insert(session);
            if let Some(at) = expires_at {
                self.timers.set(at, Timer::SessionExpiry(key));
            }
            for sub in stored.subscriptions {
                if mqtt_codec::TopicFilter::new(&sub.filter).is_err() {
                    continue;
                }
                let Ok(split) = topic::split_shared(&sub.filter) else { continue };
                let opts = SubOpts {
                    qos: sub.qos,
                    no_local: sub.no_local,
                    retain_as_published: sub.retain_as_published,
                    id: sub.id,
                };
                if !self.tree.insert(split.group, split.filter, key, opts) {
                    // The other shards count it for their v5 "No matching subscribers".
                    self.announce_interest(&sub.filter, true, None);
                }
                if let Some(session) = self.sessions.get_mut(key) {
                    session.subscriptions.insert(sub.filter, opts);
                }
            }
        }
        self.durable.restored(last_message.unwrap_or(0), last_delivery);
    }

    /// Moves the durable id counters past `last` (the highest ids of a whole snapshot): a
    /// shard that restores one part of a split snapshot ([`Snapshot::split`]) must not hand
    /// out an id that another shard's part holds.
    pub fn reserve_ids(&mut self, last: LastIds) {
        self.durable.restored(last.message, last.delivery);
    }

    /// How long a stored session has left from `now` before `persistent_client_expiration`
    /// caps it: `None` when its expiry time has passed, `Some(None)` when it never expires.
    /// An expiry time is placed by the wall clock (without one the countdown starts again
    /// with the full interval); seconds left, and a session that was connected, count from
    /// `now`.
    fn restored_expiry(&self, stored: &StoredSession, now: Instant) -> Option<Option<Duration>> {
        let full = (stored.expiry_secs != EXPIRY_NEVER)
            .then(|| Duration::from_secs(u64::from(stored.expiry_secs)));
        Some(match (stored.expires_at_ms, stored.expires_in, self.wall_clock) {
            (Some(at), _, Some(clock)) => Some(clock.until(at, now)?),
            (None, Some(secs), _) => Some(Duration::from_secs(u64::from(secs))),
            _ => full,
        })
    }
}
