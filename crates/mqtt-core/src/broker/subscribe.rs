//! SUBSCRIBE and UNSUBSCRIBE: validation, the topic tree and the session's list, SUBACK /
//! UNSUBACK codes per version, and retained messages sent for new subscriptions.

use std::time::Instant;

use mqtt_codec::{
    Packet, Properties, ProtocolVersion, QoS, ReasonCode, RetainHandling, SubAck, Subscribe,
    TopicFilter, UnsubAck, Unsubscribe,
};

use super::Broker;
use crate::access::Access;
use crate::conn::SessionKey;
use crate::event::ConnId;
use crate::message::Delivery;
use crate::mount;
use crate::topic;
use crate::topic_tree::SubOpts;

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
        let v5 = version == ProtocolVersion::V5;
        let sub_id = subscribe.properties.subscription_identifiers.first().copied();
        if subscribe.properties.subscription_identifiers.len() > 1 || sub_id == Some(0) {
            self.violation(
                conn,
                ReasonCode::ProtocolError,
                "[v5 3.8.2.1.2] SUBSCRIBE with more than one or a zero Subscription Identifier",
                now,
            );
            return;
        }
        let Some(session) = self.sessions.get(key) else { return };
        let client_id = session.client_id.clone();
        let username = session.username.clone();
        let listener = session.listener;
        let max_qos = self.config.options_of(listener).max_qos;
        let failure =
            if v5 { ReasonCode::TopicFilterInvalid } else { ReasonCode::UnspecifiedError };

        let mut reasons = Vec::with_capacity(subscribe.filters.len());
        let mut retained_for = Vec::new();
        let mount_point = self.config.options_of(listener).mount_point.clone();
        for (filter, options) in &subscribe.filters {
            let mounted = mount_point.as_deref().map(|mount| mount::filter(mount, filter.as_str()));
            if mounted.as_deref().is_some_and(|full| TopicFilter::new(full).is_err()) {
                reasons.push(failure);
                continue;
            }
            let full = mounted.as_deref().unwrap_or(filter.as_str());
            let Ok(split) = topic::split_shared(full) else {
                reasons.push(failure);
                continue;
            };
            if split.group.is_some() && options.no_local && v5 {
                self.violation(
                    conn,
                    ReasonCode::ProtocolError,
                    "[v5 MQTT-3.8.3-4] No Local set on a shared subscription",
                    now,
                );
                return;
            }
            if !self.allowed(listener, &client_id, username.as_deref(), full, Access::Subscribe) {
                reasons.push(if v5 {
                    ReasonCode::NotAuthorized
                } else {
                    ReasonCode::UnspecifiedError
                });
                continue;
            }
            let opts = SubOpts {
                // `max_qos`: granted at most the listener's maximum.
                qos: options.qos.min(max_qos),
                // Mosquitto's rule for bridges: nothing they publish comes back to them, and
                // retained flags pass through unchanged.
                no_local: bridge || v5 && options.no_local,
                retain_as_published: bridge || v5 && options.retain_as_published,
                id: sub_id,
            };
            let existed = self.tree.insert(split.group, split.filter, key, opts);
            if let Some(session) = self.sessions.get_mut(key) {
                session.subscriptions.insert(full.to_owned(), opts);
            }
            reasons.push(granted(opts.qos));
            // Retained messages: never for shared subscriptions; v5 per Retain Handling.
            let send_retained = split.group.is_none()
                && (!v5
                    || match options.retain_handling {
                        RetainHandling::SendAtSubscribe => true,
                        RetainHandling::SendIfNew => !existed,
                        RetainHandling::DoNotSend => false,
                    });
            if send_retained {
                retained_for.push((split.filter.to_owned(), opts));
            }
        }
        self.send(
            conn,
            Packet::SubAck(SubAck {
                packet_id: subscribe.packet_id,
                reasons,
                properties: Properties::default(),
            }),
        );
        for (filter, opts) in retained_for {
            for message in self.retained.matching(&filter, now) {
                let Some(session) = self.sessions.get(key) else { return };
                if !self.allowed(
                    session.listener,
                    &session.client_id,
                    session.username.as_deref(),
                    message.topic.as_str(),
                    Access::Read,
                ) {
                    continue;
                }
                let qos = if self.config.upgrade_outgoing_qos {
                    opts.qos
                } else {
                    opts.qos.min(message.qos)
                };
                let delivery =
                    Delivery { message, qos, retain: true, sub_ids: opts.id.into_iter().collect() };
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
            self.tree.remove(split.group, split.filter, key);
        }
    }
}

/// SUBACK code granting `qos`.
fn granted(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::Success,
        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
    }
}
