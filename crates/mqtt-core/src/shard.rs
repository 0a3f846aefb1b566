//! Shards: the broker split into N [`Broker`](crate::Broker)s, one per core, each owning the
//! sessions whose client id it is given by [`shard_of`]. What one shard tells another is a
//! [`ShardItem`], opaque to the runtime, which carries it in FIFO order per pair of shards
//! (`Output::Forward` out of one broker, `Broker::handle_forward` into the other).
//!
//! This module holds the pure parts: the shard of a client id, the shard of a CONNECT, and
//! the items. What a broker does with them lives in `broker::forward`.

use std::sync::Arc;

use mqtt_codec::Connect;

use crate::config::Config;
use crate::conn::SessionKey;
use crate::event::{CertificateUsername, ConnId, INTERNAL_LISTENER, PeerInfo};
use crate::message::SharedMessage;
use crate::retained::RetainVersion;

/// Which shard a broker is, out of how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardId {
    /// This shard's index, below `count`.
    pub index: usize,
    /// How many shards the process runs (at least 1).
    pub count: usize,
}

impl ShardId {
    /// The only shard of an unsharded broker: 0 of 1.
    pub const SINGLE: Self = Self { index: 0, count: 1 };
}

/// FNV-1a 64's offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64's prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The shard, out of `count`, that owns the session of `client_id`: FNV-1a 64 of its UTF-8
/// bytes, modulo `count` (0 when `count` is 0 or 1).
///
/// Stable: the same id maps to the same shard on every run and in every version, since a
/// journal kept per shard will depend on it. Changing it is a change of file format.
#[must_use]
pub fn shard_of(client_id: &str, count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    let hash = client_id
        .bytes()
        .fold(FNV_OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME));
    // The remainder is below `count`, a usize: the conversion back cannot truncate.
    (hash % count as u64) as usize
}

/// The shard that must receive a connection whose first packet is `connect`: the shard of
/// the client id the broker will give the session (the CONNECT's, or under
/// `use_username_as_clientid` the username or the certificate's name), or `conn`'s own
/// (`conn.0 % count`) when the broker assigns one or refuses the CONNECT whatever shard
/// handles it. A shard assigns only ids that [`shard_of`] maps to itself.
#[must_use]
pub fn shard_for_connect(
    connect: &Connect,
    peer: &PeerInfo,
    config: &Config,
    conn: ConnId,
    count: usize,
) -> usize {
    if count <= 1 {
        return 0;
    }
    match effective_client_id(connect, peer, config) {
        Some(client_id) => shard_of(client_id, count),
        // The remainder is below `count`, a usize.
        None => (conn.0 % count as u64) as usize,
    }
}

/// The client id an accepted `connect` gets, as `broker::connect` chooses it; `None` when
/// the broker would assign one (an empty id) or refuse the CONNECT for want of one.
fn effective_client_id<'a>(
    connect: &'a Connect,
    peer: &'a PeerInfo,
    config: &Config,
) -> Option<&'a str> {
    let client_id = connect.client_id.as_str();
    if peer.listener == INTERNAL_LISTENER {
        return Some(client_id);
    }
    if config.options_of(peer.listener).use_username_as_clientid {
        return match &peer.certificate_username {
            Some(CertificateUsername::Name(name)) => Some(name),
            Some(CertificateUsername::Missing) => None,
            None => connect.username.as_ref().map(|username| username.as_str()),
        };
    }
    (!client_id.is_empty()).then_some(client_id)
}

/// What one shard tells another. Opaque: the runtime only carries it, in order, from the
/// shard whose [`Output::Forward`](crate::Output::Forward) named the destination to that
/// shard's [`Broker::handle_forward`](crate::Broker::handle_forward).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardItem(pub(crate) Item);

/// The kinds of [`ShardItem`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// A message the origin shard accepted and routed to its own subscribers: the receiving
    /// shard routes it to its own (no publisher: the publisher's session is never there).
    Publish {
        /// The message, shared with the origin's queues.
        message: SharedMessage,
        /// The origin shard and its publisher's session there, if a client published it: the
        /// receiving shard's key to its last walk for that publisher (the match cache).
        origin: (usize, Option<SessionKey>),
        /// A retained message's version, by which every replica keeps the newest.
        version: Option<RetainVersion>,
        /// Route it to the plain subscribers (false when it only goes to `groups`).
        plain: bool,
        /// The `$share` groups (`$share/{group}/{filter}`) whose pick fell on the receiving
        /// shard: it delivers to one of its members of each.
        groups: Vec<Arc<str>>,
        /// Shards it went through already looking for a group member (0 from the origin).
        hops: usize,
    },
    /// A shard's figures for the `$SYS` sums, sent to shard 0 at each of its updates.
    Stats {
        /// The sending shard.
        from: usize,
        /// Its figures.
        figures: Box<crate::broker::Figures>,
    },
    /// The sending shard gained (`added`) or lost a subscription.
    Interest {
        /// The sending shard.
        from: usize,
        /// The full filter, `$share/{group}/…` for a shared one.
        filter: Arc<str>,
        /// Gained, or lost.
        added: bool,
    },
}

/// What an [`Item::Interest`] weighs besides its filter.
const INTEREST_BYTES: usize = 32;

impl ShardItem {
    /// The bytes this item keeps alive while it waits, for the runtime's per-destination
    /// credit: a message's estimate as `memory_limit` counts it.
    #[must_use]
    pub fn weight(&self) -> usize {
        match &self.0 {
            Item::Publish { message, groups, .. } => {
                let names: usize = groups.iter().map(|group| group.len()).sum();
                names
                    + crate::message::estimated_bytes(
                        message.topic.as_str().len(),
                        message.payload.len(),
                        &message.properties,
                    )
            }
            Item::Interest { filter, .. } => INTEREST_BYTES + filter.len(),
            Item::Stats { .. } => size_of::<crate::broker::Figures>(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_of_is_fnv1a_64_and_stable() {
        // FNV-1a 64 test vectors: "" → cbf29ce484222325, "a" → af63dc4c8601ec8c.
        assert_eq!(shard_of("", 1 << 20), (0xcbf2_9ce4_8422_2325_u64 % (1 << 20)) as usize);
        assert_eq!(shard_of("a", 1000), (0xaf63_dc4c_8601_ec8c_u64 % 1000) as usize);
        assert_eq!(shard_of("anything", 1), 0);
        assert_eq!(shard_of("anything", 0), 0);
        // Pinned: a later journal depends on these.
        assert_eq!(["sensor", "pub", "sub", "c1"].map(|id| shard_of(id, 4)), [3, 0, 1, 1]);
    }

    #[test]
    fn a_connect_goes_to_the_shard_of_the_client_id_the_broker_will_give_it() {
        use mqtt_codec::{MqttString, ProtocolVersion};

        use crate::config::ListenerOptions;

        let connect = |id: &str, username: Option<&str>| {
            let mut connect =
                Connect::new(ProtocolVersion::V5, MqttString::new(id).expect("valid"));
            connect.username = username.map(|name| MqttString::new(name).expect("valid"));
            connect
        };
        let peer = |listener, certificate: Option<CertificateUsername>| PeerInfo {
            address: "127.0.0.1".into(),
            port: 1,
            listener,
            certificate_username: certificate,
        };
        let by_username = ListenerOptions { use_username_as_clientid: true, ..Default::default() };
        let config = Config {
            listener_options: vec![ListenerOptions::default(), by_username],
            ..Config::default()
        };
        let (conn, n) = (ConnId(7), 5);
        let cases = [
            (connect("dev", Some("u")), peer(0, None), shard_of("dev", n)),
            (connect("", None), peer(0, None), 7 % n),
            (connect("dev", Some("u")), peer(1, None), shard_of("u", n)),
            (connect("", Some("u")), peer(1, None), shard_of("u", n)),
            (connect("dev", None), peer(1, None), 7 % n),
            (
                connect("dev", Some("u")),
                peer(1, Some(CertificateUsername::Name("cn".into()))),
                shard_of("cn", n),
            ),
            (
                connect("dev", Some("u")),
                peer(0, Some(CertificateUsername::Name("cn".into()))),
                shard_of("dev", n),
            ),
            (connect("dev", None), peer(1, Some(CertificateUsername::Missing)), 7 % n),
            (connect("bridge", None), peer(INTERNAL_LISTENER, None), shard_of("bridge", n)),
        ];
        for (connect, peer, shard) in cases {
            assert_eq!(shard_for_connect(&connect, &peer, &config, conn, n), shard, "{peer:?}");
            assert_eq!(shard_for_connect(&connect, &peer, &config, conn, 1), 0);
        }
    }
}
