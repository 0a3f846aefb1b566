//! Shards: the broker split into N [`Broker`](crate::Broker)s, one per core, each owning the
//! sessions whose client id it is given by [`shard_of`]. What one shard tells another is a
//! [`ShardItem`](crate::ShardItem) (`shard_item`), opaque to the runtime, which carries it in
//! FIFO order per pair of shards (`Output::Forward` out of one broker, `Broker::handle_forward`
//! into the other).
//!
//! This module holds the pure parts: which shard a broker is, the shard of a client id and the
//! shard of a CONNECT. What a broker does with items lives in `broker::forward`.

use mqtt_codec::Connect;

use crate::config::Config;
use crate::event::{CertificateUsername, ConnId, INTERNAL_LISTENER, PeerInfo};

pub use crate::shard_id::{ShardId, shard_of};

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
        return match peer.certificate_username.as_deref() {
            Some(CertificateUsername::Name(name)) => Some(name),
            Some(CertificateUsername::Missing) => None,
            None => connect.username.as_ref().map(|username| username.as_str()),
        };
    }
    (!client_id.is_empty()).then_some(client_id)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            certificate_username: certificate.map(Box::new),
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
