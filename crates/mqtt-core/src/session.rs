//! Sessions: what the broker keeps per client id across connections (subscriptions, QoS
//! state, the queue, the will and the expiry), stored in a slab addressed by [`SessionKey`](crate::conn::SessionKey).

mod incoming;

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher as _, BuildHasherDefault};
use std::time::Instant;

use bytes::Bytes;
use mqtt_codec::{Properties, ProtocolVersion, QoS, TopicName};

use crate::conn::{ConnIdHasher, SessionKey};
use crate::event::ConnId;
use crate::qos::Outgoing;
use crate::shared::Counter;
use crate::short_str::ShortStr;
use crate::topic_tree::SubOpts;
use incoming::Incoming;

pub(crate) use crate::snapshot::EXPIRY_NEVER;

/// A will waiting for its connection to end badly (or for its delay to run out). The message
/// is built when it is published, so its expiry counts from then.
#[derive(Clone, Debug)]
pub(crate) struct PendingWill {
    /// Will topic.
    pub(crate) topic: TopicName,
    /// Will payload.
    pub(crate) payload: Bytes,
    /// Will QoS.
    pub(crate) qos: QoS,
    /// Will retain flag.
    pub(crate) retain: bool,
    /// Will properties (without the delay).
    pub(crate) properties: Properties,
    /// v5 Will Delay Interval in seconds.
    pub(crate) delay_secs: u32,
    /// When a delayed will is due (set once the connection ended). Kept here rather than in
    /// the session: only a session with a will needs it, and every session is kept small.
    pub(crate) due: Option<Instant>,
}

/// What one session is counted for on the memory gauge (`memory_limit`): its struct (its
/// strings, subscriptions and queue entries are left out; the messages its queues hold are
/// counted once, on their own).
pub(crate) const SESSION_BYTES: usize = size_of::<Session>();

/// One client's session.
#[derive(Debug)]
pub(crate) struct Session {
    /// Client id (inline when short, as most are: no heap block of its own).
    pub(crate) client_id: ShortStr,
    /// Username of the connection that last owned it.
    pub(crate) username: Option<Box<str>>,
    /// Listener of the connection that last owned it: whose access rules apply, also while
    /// the client is offline.
    pub(crate) listener: usize,
    /// The connection attached now, if any.
    pub(crate) conn: Option<ConnId>,
    /// Protocol version of the last connection.
    pub(crate) protocol: ProtocolVersion,
    /// Subscriptions by full filter text (including any `$share/{group}/` prefix).
    pub(crate) subscriptions: BTreeMap<String, SubOpts>,
    /// Outgoing QoS 1/2 state and the queue.
    pub(crate) outgoing: Outgoing,
    /// Incoming QoS 2 packet ids waiting for PUBREL, with the message to route on PUBREL
    /// (`None` when it was dropped but the flow must still complete).
    pub(crate) incoming: Incoming,
    /// Session Expiry Interval in seconds ([`EXPIRY_NEVER`] = never, 0 = ends with the connection).
    pub(crate) expiry_secs: u32,
    /// When the detached session expires.
    pub(crate) expires_at: Option<Instant>,
    /// The will of the current (or last) connection, and when it is due once delayed.
    /// Boxed: its properties are large and most sessions have no will, so an idle session
    /// stays small.
    pub(crate) will: Option<Box<PendingWill>>,
    /// The journal holds this session: it outlives its connection and every change to it is
    /// recorded (see `broker::journal`).
    pub(crate) durable: bool,
}

impl Session {
    /// A fresh session for `client_id`.
    pub(crate) fn new(client_id: String, protocol: ProtocolVersion) -> Self {
        Self {
            client_id: ShortStr::from(client_id),
            username: None,
            listener: 0,
            conn: None,
            protocol,
            subscriptions: BTreeMap::new(),
            outgoing: Outgoing::default(),
            incoming: Incoming::default(),
            expiry_secs: 0,
            expires_at: None,
            will: None,
            durable: false,
        }
    }
}

/// Sessions per page of the slab: a page of about 9 KiB.
const PAGE: usize = 64;

/// All sessions: a slab plus an index by client id (used only for lookups, never iterated,
/// so its hash order cannot leak into outputs).
///
/// The slab grows a page of [`PAGE`] slots at a time: one vector of slots would double its
/// capacity (and copy every session) as it grows, so that up to half of it held no session,
/// and every connected client has a session.
///
/// The index holds no copy of the ids: it maps a keyed 32-bit hash of the id to the slot (8
/// bytes a bucket, where a 64-bit hash would take 16), and the slot's own id confirms the
/// match. The rare id whose hash is taken by another id goes to `collided`, keyed by the id
/// itself.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    pages: Vec<Vec<Option<Session>>>,
    free: Vec<u32>,
    by_hash: HashMap<u32, SessionKey, BuildHasherDefault<ConnIdHasher>>,
    collided: HashMap<Box<str>, SessionKey>,
    /// Keyed with OS randomness, so peers cannot choose ids that collide.
    hasher: RandomState,
    /// Every shard's sessions, this one's included.
    everywhere: Counter,
}

impl Sessions {
    /// The index's key for `client_id`: its keyed hash, folded to 32 bits.
    fn hash(&self, client_id: &str) -> u32 {
        let hash = self.hasher.hash_one(client_id);
        // Folding keeps every bit of the hash; the cast keeps the low 32 bits of the fold.
        (hash ^ (hash >> 32)) as u32
    }

    /// Looks a session up by client id.
    pub(crate) fn find(&self, client_id: &str) -> Option<SessionKey> {
        let hash = self.hash(client_id);
        match self.by_hash.get(&hash) {
            Some(&key) if self.get(key).is_some_and(|s| &*s.client_id == client_id) => Some(key),
            _ => self.collided.get(client_id).copied(),
        }
    }

    /// The session at `key`.
    pub(crate) fn get(&self, key: SessionKey) -> Option<&Session> {
        let index = key.0 as usize;
        self.pages.get(index / PAGE)?.get(index % PAGE)?.as_ref()
    }

    /// The session at `key`, mutably.
    pub(crate) fn get_mut(&mut self, key: SessionKey) -> Option<&mut Session> {
        self.slot(key)?.as_mut()
    }

    /// The slot at `key`, taken or free.
    fn slot(&mut self, key: SessionKey) -> Option<&mut Option<Session>> {
        let index = key.0 as usize;
        self.pages.get_mut(index / PAGE)?.get_mut(index % PAGE)
    }

    /// Puts `session` in a free slot, or in a new one (on a new page when the last is full),
    /// and returns its key.
    fn place(&mut self, session: Session) -> SessionKey {
        if let Some(index) = self.free.pop() {
            let key = SessionKey(index);
            if let Some(slot) = self.slot(key) {
                *slot = Some(session);
                return key;
            }
        }
        let pages = self.pages.len();
        let index = match self.pages.last_mut() {
            Some(page) if page.len() < PAGE => {
                page.push(Some(session));
                (pages - 1) * PAGE + page.len() - 1
            }
            _ => {
                let mut page = Vec::with_capacity(PAGE);
                page.push(Some(session));
                self.pages.push(page);
                pages * PAGE
            }
        };
        let index = u32::try_from(index).expect("fewer than 2^32 sessions");
        SessionKey(index)
    }

    /// Stores a new session (its client id must not be in use).
    pub(crate) fn insert(&mut self, session: Session) -> SessionKey {
        let hash = self.hash(&session.client_id);
        let collided = self.by_hash.contains_key(&hash).then(|| Box::from(&*session.client_id));
        let key = self.place(session);
        self.everywhere.add(1);
        match collided {
            Some(id) => self.collided.insert(id, key),
            None => self.by_hash.insert(hash, key),
        };
        key
    }

    /// Removes a session and returns it.
    pub(crate) fn remove(&mut self, key: SessionKey) -> Option<Session> {
        let session = self.slot(key)?.take()?;
        let hash = self.hash(&session.client_id);
        if self.by_hash.get(&hash) == Some(&key) {
            self.by_hash.remove(&hash);
        } else {
            self.collided.remove(&*session.client_id);
        }
        self.free.push(key.0);
        self.everywhere.sub(1);
        Some(session)
    }

    /// Counts sessions in `counter` from now on (the ones here now included).
    pub(crate) fn count_in(&mut self, counter: Counter) {
        counter.add(self.len());
        self.everywhere.sub(self.len());
        self.everywhere = counter;
    }

    /// Sessions on every shard sharing the counter ([`Sessions::count_in`]).
    pub(crate) fn len_everywhere(&self) -> usize {
        self.everywhere.get()
    }

    /// Number of sessions (connected or not).
    pub(crate) fn len(&self) -> usize {
        self.by_hash.len() + self.collided.len()
    }

    /// Every session.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Session> {
        self.pages.iter().flatten().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_whose_hashes_collide_are_still_told_apart() {
        let mut sessions = Sessions::default();
        let a = sessions.insert(Session::new("a".to_owned(), ProtocolVersion::V5));
        // Force a collision: file "b" under the hash of "a" by hand, as `insert` would.
        let b = sessions.place(Session::new("b".to_owned(), ProtocolVersion::V5));
        sessions.collided.insert("b".into(), b);
        assert_eq!((sessions.find("a"), sessions.find("b"), sessions.len()), (Some(a), Some(b), 2));
        assert_eq!(sessions.remove(a).map(|s| s.client_id), Some("a".into()));
        assert_eq!((sessions.find("a"), sessions.find("b")), (None, Some(b)));
        assert_eq!(sessions.remove(b).map(|s| s.client_id), Some("b".into()));
        assert_eq!((sessions.find("b"), sessions.len()), (None, 0));
        let c = sessions.insert(Session::new("c".to_owned(), ProtocolVersion::V5));
        assert_eq!(sessions.find("c"), Some(c));
    }

    #[test]
    fn the_slab_grows_by_pages_and_reuses_free_slots() {
        let mut sessions = Sessions::default();
        let keys: Vec<SessionKey> = (0..PAGE * 2 + 1)
            .map(|n| sessions.insert(Session::new(n.to_string(), ProtocolVersion::V5)))
            .collect();
        assert_eq!(sessions.pages.len(), 3);
        assert!(sessions.pages.iter().all(|page| page.capacity() == PAGE));
        for (n, &key) in keys.iter().enumerate() {
            assert_eq!((key.0 as usize, sessions.find(&n.to_string())), (n, Some(key)));
        }
        let freed = keys[PAGE + 1];
        assert!(sessions.remove(freed).is_some());
        assert!(sessions.get(freed).is_none());
        assert_eq!(sessions.insert(Session::new("again".to_owned(), ProtocolVersion::V5)), freed);
        assert_eq!((sessions.pages.len(), sessions.len(), sessions.iter().count()), (3, 129, 129));
    }
}
