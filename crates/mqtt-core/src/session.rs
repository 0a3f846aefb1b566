//! Sessions: what the broker keeps per client id across connections (subscriptions, QoS
//! state, the queue, the will and the expiry), stored in a slab addressed by [`SessionKey`].

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use bytes::Bytes;
use mqtt_codec::{Properties, ProtocolVersion, QoS, TopicName};

use crate::event::ConnId;
use crate::message::SharedMessage;
use crate::qos::Outgoing;
use crate::topic_tree::SubOpts;

/// Index of a session in the slab. Stable while the session exists; reused afterwards, so it
/// never outlives the session in any other structure (the topic tree entries are removed with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SessionKey(pub(crate) u32);

/// Session Expiry Interval semantics: seconds, with `u32::MAX` meaning never.
pub(crate) const EXPIRY_NEVER: u32 = u32::MAX;

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
}

/// One client's session.
#[derive(Debug)]
pub(crate) struct Session {
    /// Client id.
    pub(crate) client_id: String,
    /// Username of the connection that last owned it.
    pub(crate) username: Option<String>,
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
    pub(crate) incoming: BTreeMap<u16, Option<SharedMessage>>,
    /// Session Expiry Interval in seconds ([`EXPIRY_NEVER`] = never, 0 = ends with the connection).
    pub(crate) expiry_secs: u32,
    /// When the detached session expires.
    pub(crate) expires_at: Option<Instant>,
    /// The will of the current (or last) connection.
    pub(crate) will: Option<PendingWill>,
    /// When a delayed will is due (set once the connection ended).
    pub(crate) will_at: Option<Instant>,
}

impl Session {
    /// A fresh session for `client_id`.
    pub(crate) fn new(client_id: String, protocol: ProtocolVersion) -> Self {
        Self {
            client_id,
            username: None,
            conn: None,
            protocol,
            subscriptions: BTreeMap::new(),
            outgoing: Outgoing::default(),
            incoming: BTreeMap::new(),
            expiry_secs: 0,
            expires_at: None,
            will: None,
            will_at: None,
        }
    }
}

/// All sessions: a slab plus an index by client id (used only for lookups, never iterated,
/// so its hash order cannot leak into outputs).
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    slots: Vec<Option<Session>>,
    free: Vec<u32>,
    by_id: HashMap<String, SessionKey>,
}

impl Sessions {
    /// Looks a session up by client id.
    pub(crate) fn find(&self, client_id: &str) -> Option<SessionKey> {
        self.by_id.get(client_id).copied()
    }

    /// The session at `key`.
    pub(crate) fn get(&self, key: SessionKey) -> Option<&Session> {
        self.slots.get(key.0 as usize)?.as_ref()
    }

    /// The session at `key`, mutably.
    pub(crate) fn get_mut(&mut self, key: SessionKey) -> Option<&mut Session> {
        self.slots.get_mut(key.0 as usize)?.as_mut()
    }

    /// Stores a new session (its client id must not be in use).
    pub(crate) fn insert(&mut self, session: Session) -> SessionKey {
        let id = session.client_id.clone();
        let key = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize] = Some(session);
                SessionKey(index)
            }
            None => {
                let index = u32::try_from(self.slots.len()).expect("fewer than 2^32 sessions");
                self.slots.push(Some(session));
                SessionKey(index)
            }
        };
        self.by_id.insert(id, key);
        key
    }

    /// Removes a session and returns it.
    pub(crate) fn remove(&mut self, key: SessionKey) -> Option<Session> {
        let session = self.slots.get_mut(key.0 as usize)?.take()?;
        self.by_id.remove(&session.client_id);
        self.free.push(key.0);
        Some(session)
    }

    /// Number of sessions (connected or not).
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}
