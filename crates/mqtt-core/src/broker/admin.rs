//! What the HTTP API asks of the broker: read-only views of its state as plain data (connected
//! clients, subscriptions, retained messages, offline sessions), paged and sorted here so that
//! only one page is copied, and the administrative disconnect of a client.

use std::time::{Duration, Instant};

use bytes::Bytes;
use mqtt_codec::{ProtocolVersion, QoS};

use super::Broker;
use crate::conn::Conn;
use crate::event::{DisconnectReason, INTERNAL_LISTENER};
use crate::session::{EXPIRY_NEVER, Session};

/// How many payload bytes a retained message's preview holds.
pub const PREVIEW_BYTES: usize = 64;

/// Which part of a sorted list to return: `offset` items skipped, at most `limit` kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Items before the page.
    pub offset: usize,
    /// Most items in the page.
    pub limit: usize,
}

/// One page of a sorted list and the length of the whole list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of the page, in order.
    pub items: Vec<T>,
    /// Items in the whole list.
    pub total: usize,
}

/// One connected client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    /// Client id.
    pub id: String,
    /// Username, if it gave (or its certificate gave) one.
    pub username: Option<String>,
    /// Remote address without the port, or the Unix socket path.
    pub address: String,
    /// Remote port (0 for Unix sockets).
    pub port: u16,
    /// The listener it came through (its index, as in [`crate::PeerInfo::listener`]).
    pub listener: usize,
    /// Protocol version of its CONNECT.
    pub protocol: ProtocolVersion,
    /// Effective keep alive in seconds (0 = none).
    pub keep_alive: u16,
    /// Clean Start (v5) or Clean Session (v3).
    pub clean_start: bool,
    /// Session Expiry Interval in seconds (`u32::MAX` = never).
    pub session_expiry_interval: u32,
    /// How long it has been connected (from the opening of its socket).
    pub connected_for: Duration,
    /// Its subscriptions.
    pub subscriptions: usize,
    /// Messages waiting in its queue.
    pub queued: usize,
    /// Messages in flight to it (QoS 1/2, not yet acknowledged).
    pub inflight: usize,
}

/// One subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionInfo {
    /// The subscribing client.
    pub client_id: String,
    /// The filter, with its `$share/<group>/` prefix if shared.
    pub filter: String,
    /// Granted QoS.
    pub qos: QoS,
}

/// One retained message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetainedInfo {
    /// Its topic.
    pub topic: String,
    /// Payload bytes.
    pub bytes: usize,
    /// QoS it was published with.
    pub qos: QoS,
    /// The first [`PREVIEW_BYTES`] bytes of its payload.
    pub preview: Bytes,
}

/// One persistent session whose client is not connected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// Client id.
    pub id: String,
    /// Username of its last connection.
    pub username: Option<String>,
    /// Messages waiting for it.
    pub queued: usize,
    /// Payload bytes of those messages.
    pub queued_bytes: usize,
    /// Time left before it expires; `None` = never.
    pub expires_in: Option<Duration>,
}

/// `items` sorted by `key`, paged: only the page's items are turned into `T`.
fn paged<'a, S, T>(
    mut items: Vec<&'a S>,
    key: impl Fn(&S) -> &str,
    page: PageRequest,
    make: impl Fn(&'a S) -> T,
) -> Page<T> {
    items.sort_by(|a, b| key(a).cmp(key(b)));
    let total = items.len();
    let items = items.into_iter().skip(page.offset).take(page.limit).map(make).collect();
    Page { items, total }
}

impl Broker {
    /// Connected clients whose id or username contains `search` (all with `None`), by id.
    /// Bridges' internal connections are not listed.
    #[must_use]
    pub fn clients(
        &self,
        search: Option<&str>,
        page: PageRequest,
        now: Instant,
    ) -> Page<ClientInfo> {
        let matches = |session: &Session| {
            search.is_none_or(|text| {
                session.client_id.contains(text)
                    || session.username.as_deref().is_some_and(|name| name.contains(text))
            })
        };
        let connected: Vec<(&Session, &Conn)> = self
            .sessions
            .iter()
            .filter(|session| matches(session))
            .filter_map(|session| Some((session, self.conns.get(&session.conn?)?.as_ref())))
            .filter(|(_, conn)| conn.peer.listener != INTERNAL_LISTENER)
            .collect();
        paged(
            connected.iter().collect(),
            |(s, _)| &s.client_id,
            page,
            |(s, c)| client_info(s, c, now),
        )
    }

    /// The connected client `id` and its subscriptions (in filter order).
    #[must_use]
    pub fn client(&self, id: &str, now: Instant) -> Option<(ClientInfo, Vec<SubscriptionInfo>)> {
        let session = self.sessions.get(self.sessions.find(id)?)?;
        let conn = self.conns.get(&session.conn?)?;
        if conn.peer.listener == INTERNAL_LISTENER {
            return None;
        }
        Some((client_info(session, conn, now), subscriptions_of(session).collect()))
    }

    /// Subscriptions whose filter starts with `prefix` (all with `None`), by client id, then
    /// filter.
    #[must_use]
    pub fn subscriptions(&self, prefix: Option<&str>, page: PageRequest) -> Page<SubscriptionInfo> {
        let mut all: Vec<SubscriptionInfo> = self
            .sessions
            .iter()
            .flat_map(subscriptions_of)
            .filter(|sub| prefix.is_none_or(|prefix| sub.filter.starts_with(prefix)))
            .collect();
        all.sort_by(|a, b| (&a.client_id, &a.filter).cmp(&(&b.client_id, &b.filter)));
        let total = all.len();
        Page { items: all.into_iter().skip(page.offset).take(page.limit).collect(), total }
    }

    /// Retained messages whose topic starts with `prefix` (all with `None`), by topic;
    /// expired ones are left out.
    #[must_use]
    pub fn retained_messages(
        &self,
        prefix: Option<&str>,
        page: PageRequest,
        now: Instant,
    ) -> Page<RetainedInfo> {
        let found: Vec<_> = self
            .retained
            .messages()
            .filter(|message| {
                prefix.is_none_or(|prefix| message.topic.as_str().starts_with(prefix))
            })
            .filter(|message| !message.is_expired(now))
            .collect();
        // The store is in topic order already; `paged` keeps it.
        paged(
            found.iter().collect(),
            |message| message.topic.as_str(),
            page,
            |message| RetainedInfo {
                topic: message.topic.as_str().to_owned(),
                bytes: message.payload.len(),
                qos: message.qos,
                preview: message.payload.slice(..message.payload.len().min(PREVIEW_BYTES)),
            },
        )
    }

    /// Sessions kept for clients that are not connected, by client id.
    #[must_use]
    pub fn offline_sessions(&self, page: PageRequest, now: Instant) -> Page<SessionInfo> {
        let offline: Vec<&Session> =
            self.sessions.iter().filter(|session| session.conn.is_none()).collect();
        paged(
            offline,
            |session| &session.client_id,
            page,
            |session| {
                let queued = session.outgoing.queued();
                SessionInfo {
                    id: session.client_id.to_string(),
                    username: session.username.as_deref().map(str::to_owned),
                    queued: session.outgoing.queued_len(),
                    queued_bytes: queued.map(|delivery| delivery.message.payload.len()).sum(),
                    expires_in: match session.expires_at {
                        Some(at) => Some(at.saturating_duration_since(now)),
                        None if session.expiry_secs == EXPIRY_NEVER => None,
                        None => Some(Duration::from_secs(u64::from(session.expiry_secs))),
                    },
                }
            },
        )
    }

    /// Disconnects the connected client `id` as an administrator asked: a v5 client gets
    /// DISCONNECT 0x98 (Administrative action), a v3 client's socket is closed; its will is
    /// published and its session lives on as its expiry says. False when no such client is
    /// connected.
    pub fn disconnect_client(&mut self, id: &str, now: Instant) -> bool {
        let Some(conn) = self.sessions.find(id).and_then(|key| self.sessions.get(key)?.conn) else {
            return false;
        };
        if self.conns.get(&conn).is_none_or(|state| state.peer.listener == INTERNAL_LISTENER) {
            return false;
        }
        self.drop_conn(conn, DisconnectReason::Administrative, None, now);
        true
    }
}

/// What the API shows of a connected client.
fn client_info(session: &Session, conn: &Conn, now: Instant) -> ClientInfo {
    ClientInfo {
        id: session.client_id.to_string(),
        username: session.username.as_deref().map(str::to_owned),
        address: conn.peer.address.to_string(),
        port: conn.peer.port,
        listener: conn.peer.listener,
        protocol: conn.protocol,
        keep_alive: conn.keep_alive,
        clean_start: conn.clean_start,
        session_expiry_interval: session.expiry_secs,
        connected_for: now.saturating_duration_since(conn.opened_at),
        subscriptions: session.subscriptions.len(),
        queued: session.outgoing.queued_len(),
        inflight: session.outgoing.inflight_len(),
    }
}

/// `session`'s subscriptions, in filter order.
fn subscriptions_of(session: &Session) -> impl Iterator<Item = SubscriptionInfo> + '_ {
    session.subscriptions.iter().map(|(filter, opts)| SubscriptionInfo {
        client_id: session.client_id.to_string(),
        filter: filter.clone(),
        qos: opts.qos,
    })
}
