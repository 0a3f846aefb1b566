//! SUBSCRIBE and UNSUBSCRIBE: validation, the topic tree and the session's list, SUBACK /
//! UNSUBACK codes per version, and retained messages sent for new subscriptions.

use std::time::Instant;

use mqtt_codec::{
    Packet, Properties, ProtocolVersion, QoS, ReasonCode, RetainHandling, SubAck, Subscribe,
    SubscriptionOptions, TopicFilter, UnsubAck, Unsubscribe,
};

use super::Broker;
use super::held::Wait;
use crate::access::Access;
use crate::conn::SessionKey;
use crate::event::ConnId;
use crate::message::Delivery;
use crate::mount;
use crate::topic::{self, SplitFilter};
use crate::topic_tree::SubOpts;

/// Who subscribes, and what applies to every filter of one SUBSCRIBE.
#[derive(Clone, Debug)]
struct Subscriber {
    client_id: String,
    username: Option<String>,
    listener: usize,
    /// The listener's `max_qos`.
    max_qos: QoS,
    /// The listener's `mount_point`.
    mount_point: Option<String>,
    v5: bool,
    /// A 3.x bridge (the CONNECT's bridge bit).
    bridge: bool,
    /// The SUBSCRIBE's Subscription Identifier.
    sub_id: Option<u32>,
}

impl Subscriber {
    /// The options a granted subscription gets.
    fn opts(&self, options: &SubscriptionOptions) -> SubOpts {
        SubOpts {
            // `max_qos`: granted at most the listener's maximum.
            qos: options.qos.min(self.max_qos),
            // Mosquitto's rule for bridges: nothing they publish comes back to them, and
            // retained flags pass through unchanged.
            no_local: self.bridge || self.v5 && options.no_local,
            retain_as_published: self.bridge || self.v5 && options.retain_as_published,
            id: self.sub_id,
        }
    }
}

/// What one filter of a SUBSCRIBE came to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// Subscribed with `opts`; `retained` is the filter (without a share prefix) whose
    /// retained messages to send after the SUBACK, if any; `acks`, the other shards'
    /// acknowledgements of the new subscription that the SUBACK waits for.
    Granted { opts: SubOpts, retained: Option<String>, acks: usize },
    /// Refused with this SUBACK code.
    Refused(ReasonCode),
    /// A protocol violation that ends the connection (no SUBACK).
    Violation(&'static str),
}

impl Broker {
    /// SUBSCRIBE: answer SUBACK, then send retained messages for the new subscriptions.
    pub(super) fn on_subscribe(
        &mut self,
        conn: ConnId,
        key: SessionKey,
        subscribe: Subscribe,
        now: Instant,
    ) {
        let Some((version, bridge)) = self.conns.get(&conn).map(|c| (c.protocol, c.bridge)) else {
            return;
        };
        self.changes += 1;
        let sub_id = subscribe.properties.subscription_identifiers.first().copied();
        if subscribe.properties.subscription_identifiers.len() > 1 || sub_id == Some(0) {
            // Mosquitto answers 0x81 (malformed), as for every bad SUBSCRIBE.
            self.violation(
                conn,
                ReasonCode::MalformedPacket,
                "[v5 3.8.2.1.2] SUBSCRIBE with more than one or a zero Subscription Identifier",
                now,
            );
            return;
        }
        let Some(subscriber) = self.subscriber(key, version, bridge, sub_id) else { return };
        let mut reasons = Vec::with_capacity(subscribe.filters.len());
        let mut retained_for = Vec::new();
        let mut acks = 0;
        let token = self.held.issue();
        for (filter, options) in &subscribe.filters {
            match self.subscribe_one((conn, token), key, &subscriber, filter, options) {
                Outcome::Granted { opts, retained, acks: waits } => {
                    acks += waits;
                    reasons.push(granted(opts.qos));
                    retained_for.extend(retained.map(|filter| (filter, opts)));
                }
                Outcome::Refused(code) => reasons.push(code),
                Outcome::Violation(text) => {
                    self.violation(conn, ReasonCode::ProtocolError, text, now);
                    return;
                }
            }
        }
        // Sharded: the SUBACK (and the retained messages after it) waits until every other
        // shard forwards what matches the new subscriptions.
        self.hold(conn, token, acks, Wait::Interest);
        self.send(
            conn,
            Packet::SubAck(SubAck {
                packet_id: subscribe.packet_id,
                reasons,
                properties: Properties::default(),
            }),
        );
        self.send_retained(key, retained_for, now);
    }

    /// The subscribing session and its listener's rules.
    fn subscriber(
        &self,
        key: SessionKey,
        version: ProtocolVersion,
        bridge: bool,
        sub_id: Option<u32>,
    ) -> Option<Subscriber> {
        let session = self.sessions.get(key)?;
        let options = self.config.options_of(session.listener);
        Some(Subscriber {
            client_id: session.client_id.to_string(),
            username: session.username.as_deref().map(str::to_owned),
            listener: session.listener,
            max_qos: options.max_qos,
            mount_point: options.mount_point.clone(),
            v5: version == ProtocolVersion::V5,
            bridge,
            sub_id,
        })
    }

    /// One filter of a SUBSCRIBE: mounted, checked (share syntax, No Local, access), then
    /// granted; `ack` is the subscribing connection and the token its SUBACK waits behind.
    fn subscribe_one(
        &mut self,
        ack: (ConnId, u64),
        key: SessionKey,
        subscriber: &Subscriber,
        filter: &TopicFilter,
        options: &SubscriptionOptions,
    ) -> Outcome {
        let v5 = subscriber.v5;
        let failure =
            if v5 { ReasonCode::TopicFilterInvalid } else { ReasonCode::UnspecifiedError };
        let mounted =
            subscriber.mount_point.as_deref().map(|mount| mount::filter(mount, filter.as_str()));
        if mounted.as_deref().is_some_and(|full| TopicFilter::new(full).is_err()) {
            return Outcome::Refused(failure);
        }
        let full = mounted.as_deref().unwrap_or(filter.as_str());
        let Ok(split) = topic::split_shared(full) else { return Outcome::Refused(failure) };
        if split.group.is_some() && options.no_local && v5 {
            return Outcome::Violation("[v5 MQTT-3.8.3-4] No Local set on a shared subscription");
        }
        if !self.allowed(
            subscriber.listener,
            &subscriber.client_id,
            subscriber.username.as_deref(),
            full,
            Access::Subscribe,
        ) {
            return Outcome::Refused(if v5 {
                ReasonCode::NotAuthorized
            } else {
                ReasonCode::UnspecifiedError
            });
        }
        let opts = subscriber.opts(options);
        let existed = self.grant_subscription(key, split, full, opts);
        let acks = if existed { 0 } else { self.announce_interest(full, true, Some(ack)) };
        let send = wants_retained(split.group.is_some(), v5, options.retain_handling, existed);
        Outcome::Granted { opts, retained: send.then(|| split.filter.to_owned()), acks }
    }

    /// Records the subscription in the topic tree and the session's list; whether it existed
    /// (if not, the caller announces it to the other shards).
    fn grant_subscription(
        &mut self,
        key: SessionKey,
        split: SplitFilter<'_>,
        full: &str,
        opts: SubOpts,
    ) -> bool {
        let existed = self.tree.insert(split.group, split.filter, key, opts);
        if let Some(session) = self.sessions.get_mut(key) {
            session.subscriptions.insert(full.to_owned(), opts);
        }
        self.record_subscribed(key, full, opts);
        existed
    }

    /// Sends the retained messages matching each new subscription that the client may read.
    fn send_retained(
        &mut self,
        key: SessionKey,
        retained_for: Vec<(String, SubOpts)>,
        now: Instant,
    ) {
        for (filter, opts) in retained_for {
            let found = self.retained.matching(&filter, now);
            // A retained message that expired is gone: the journal must say so, or a replay
            // would bring it back (found by the `broker` fuzz target).
            for expired in self.retained.take_expired() {
                self.record_retained(&expired.topic, None, now);
            }
            for message in found {
                let Some(session) = self.sessions.get(key) else { return };
                if !self.may_read(session, message.topic.as_str())
                    || !self.source_may_write(&message)
                {
                    continue;
                }
                let qos = if self.config.upgrade_outgoing_qos {
                    opts.qos
                } else {
                    opts.qos.min(message.qos)
                };
                let sub_ids = opts.id.into_iter().collect();
                let delivery = Delivery { id: 0, message, qos, retain: true, sub_ids };
                self.deliver(key, delivery, now);
            }
        }
    }

    /// UNSUBSCRIBE: remove what exists, answer UNSUBACK.
    pub(super) fn on_unsubscribe(
        &mut self,
        conn: ConnId,
        key: SessionKey,
        unsubscribe: Unsubscribe,
        _now: Instant,
    ) {
        let Some(version) = self.conns.get(&conn).map(|c| c.protocol) else { return };
        self.changes += 1;
        let mut reasons = Vec::with_capacity(unsubscribe.filters.len());
        let listener = self.sessions.get(key).map_or(0, |session| session.listener);
        let mount_point = self.config.options_of(listener).mount_point.clone();
        for filter in &unsubscribe.filters {
            let mounted = mount_point.as_deref().map(|mount| mount::filter(mount, filter.as_str()));
            let full = mounted.as_deref().unwrap_or(filter.as_str());
            let existed =
                self.sessions.get_mut(key).is_some_and(|s| s.subscriptions.remove(full).is_some());
            if existed {
                self.unsubscribe_in_tree(full, key);
                self.record_unsubscribed(key, full);
            }
            reasons.push(if existed {
                ReasonCode::Success
            } else {
                ReasonCode::NoSubscriptionExisted
            });
        }
        if version != ProtocolVersion::V5 {
            reasons.clear();
        }
        self.send(
            conn,
            Packet::UnsubAck(UnsubAck {
                packet_id: unsubscribe.packet_id,
                reasons,
                properties: Properties::default(),
            }),
        );
    }

    /// Removes one subscription (full filter text) of `key` from the tree.
    pub(super) fn unsubscribe_in_tree(&mut self, full: &str, key: SessionKey) {
        if let Ok(split) = topic::split_shared(full) {
            if self.tree.remove(split.group, split.filter, key) {
                self.announce_interest(full, false, None);
            }
        }
    }
}

/// Whether a new subscription gets the retained messages: never a shared one; v5 per Retain
/// Handling.
fn wants_retained(shared: bool, v5: bool, handling: RetainHandling, existed: bool) -> bool {
    !shared
        && (!v5
            || match handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendIfNew => !existed,
                RetainHandling::DoNotSend => false,
            })
}

/// SUBACK code granting `qos`.
fn granted(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::Success,
        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ListenerOptions};
    use crate::tests::harness::{Harness, options, topic_filter};

    fn subscriber(v5: bool, bridge: bool) -> Subscriber {
        Subscriber {
            client_id: "c".into(),
            username: None,
            listener: 0,
            max_qos: QoS::AtLeastOnce,
            mount_point: None,
            v5,
            bridge,
            sub_id: Some(7),
        }
    }

    #[test]
    fn granted_options_are_capped_and_bridges_never_get_their_own_messages() {
        let mut asked = options(QoS::ExactlyOnce);
        asked.no_local = true;
        asked.retain_as_published = true;
        let v5 = subscriber(true, false).opts(&asked);
        assert_eq!(
            v5,
            SubOpts {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                id: Some(7)
            }
        );
        let v3 = subscriber(false, false).opts(&asked);
        assert!(!v3.no_local && !v3.retain_as_published);
        let bridge = subscriber(false, true).opts(&options(QoS::AtMostOnce));
        assert!(bridge.no_local && bridge.retain_as_published);
    }

    #[test]
    fn retained_messages_follow_retain_handling_and_skip_shared_subscriptions() {
        use RetainHandling::{DoNotSend, SendAtSubscribe, SendIfNew};
        assert!(wants_retained(false, true, SendAtSubscribe, true));
        assert!(wants_retained(false, true, SendIfNew, false));
        assert!(!wants_retained(false, true, SendIfNew, true));
        assert!(!wants_retained(false, true, DoNotSend, false));
        assert!(wants_retained(false, false, DoNotSend, true), "3.x always gets them");
        assert!(!wants_retained(true, false, SendAtSubscribe, false));
    }

    #[test]
    fn one_filter_is_mounted_checked_and_granted() {
        let config = Config {
            listener_options: vec![ListenerOptions {
                mount_point: Some("m/".into()),
                ..Default::default()
            }],
            ..Config::default()
        };
        let mut h = Harness::new(config);
        h.connect_with("c", |c| c.v5());
        let key = h.broker.sessions.find("c").expect("c's session");
        let conn = h.broker.sessions.get(key).and_then(|s| s.conn).expect("c is connected");
        let mut sub = h.broker.subscriber(key, ProtocolVersion::V5, false, None).expect("session");
        assert_eq!(sub.mount_point.as_deref(), Some("m/"));
        let outcome = h.broker.subscribe_one(
            (conn, 0),
            key,
            &sub,
            &topic_filter("a/#"),
            &options(QoS::AtMostOnce),
        );
        let Outcome::Granted { opts, retained, acks } = outcome else { panic!("{outcome:?}") };
        assert_eq!(acks, 0, "unsharded: no other shard to wait for");
        assert_eq!(opts.qos, QoS::AtMostOnce);
        assert_eq!(retained.as_deref(), Some("m/a/#"));
        let listed = h.broker.sessions.get(key).map(|s| s.subscriptions.contains_key("m/a/#"));
        assert_eq!(listed, Some(true));

        let mut no_local = options(QoS::AtMostOnce);
        no_local.no_local = true;
        let shared = topic_filter("$share/g/a");
        assert!(matches!(
            h.broker.subscribe_one((conn, 0), key, &sub, &shared, &no_local),
            Outcome::Violation(_)
        ));
        sub.mount_point = Some("x".repeat(65535));
        assert_eq!(
            h.broker.subscribe_one(
                (conn, 0),
                key,
                &sub,
                &topic_filter("a"),
                &options(QoS::AtMostOnce)
            ),
            Outcome::Refused(ReasonCode::TopicFilterInvalid)
        );
    }
}
