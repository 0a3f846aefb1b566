//! Outputs held back for a connection whose SUBSCRIBE waits for the other shards to know of
//! its new subscriptions ([`Item::InterestAck`](crate::shard_item::Item::InterestAck)): the
//! SUBACK, and everything after it to that connection, stay here in order until the last
//! acknowledgement comes or the connection closes. Until then a message published on another
//! shard might not be forwarded here, so the client must not yet hear that it is subscribed.
//! Unsharded brokers never hold anything.

use super::Broker;
use crate::conn::ConnMap;
use crate::event::{ConnId, Output};

/// The connections waiting for acknowledgements, and what they were sent meanwhile.
#[derive(Debug, Default)]
pub(super) struct Held(ConnMap<Waiting>);

/// One connection's wait.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    /// Acknowledgements still to come.
    acks: usize,
    /// Its outputs since the wait began, in order.
    outputs: Vec<Output>,
}

impl Held {
    /// `conn`'s wait, if it has one: a length check when nobody waits.
    #[inline]
    pub(super) fn waiting(&mut self, conn: ConnId) -> Option<&mut Waiting> {
        if self.0.is_empty() {
            return None;
        }
        self.0.get_mut(&conn)
    }
}

impl Waiting {
    /// Keeps `output` for when the wait ends.
    pub(super) fn keep(&mut self, output: Output) {
        self.outputs.push(output);
    }
}

impl Broker {
    /// Holds every output to `conn` from now on until `acks` more acknowledgements came.
    pub(super) fn hold(&mut self, conn: ConnId, acks: usize) {
        if acks > 0 {
            self.held.0.entry(conn).or_default().acks += acks;
        }
    }

    /// Another shard knows of a subscription `conn` made: once every shard does, what was
    /// held for it goes out. An acknowledgement for a connection that closed meanwhile
    /// finds nothing.
    pub(super) fn interest_acknowledged(&mut self, conn: ConnId) {
        let Some(waiting) = self.held.0.get_mut(&conn) else { return };
        waiting.acks = waiting.acks.saturating_sub(1);
        if waiting.acks == 0 {
            self.release_held(conn);
        }
    }

    /// Sends what was held for `conn`, if anything, and ends its wait.
    pub(super) fn release_held(&mut self, conn: ConnId) {
        if let Some(waiting) = self.held.0.remove(&conn) {
            self.outputs.extend(waiting.outputs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::DisconnectReason;

    fn close(conn: u64) -> Output {
        Output::Close { conn: ConnId(conn), reason: DisconnectReason::ServerShutdown }
    }

    #[test]
    fn nothing_waits_until_held_and_the_last_acknowledgement_releases_in_order() {
        let mut broker = Broker::new(crate::Config::default(), [1; 32]);
        assert!(broker.held.waiting(ConnId(1)).is_none());
        broker.hold(ConnId(1), 0);
        assert!(broker.held.waiting(ConnId(1)).is_none(), "no acknowledgement to wait for");
        broker.hold(ConnId(1), 2);
        for conn in [1, 1] {
            broker.held.waiting(ConnId(conn)).expect("held").keep(close(conn));
        }
        assert!(broker.held.waiting(ConnId(2)).is_none(), "another connection goes on");
        broker.interest_acknowledged(ConnId(1));
        assert_eq!(broker.poll_output(), None, "one acknowledgement still to come");
        broker.interest_acknowledged(ConnId(1));
        assert_eq!(broker.poll_output(), Some(close(1)));
        assert_eq!(broker.poll_output(), Some(close(1)));
        assert_eq!(broker.poll_output(), None);
        broker.interest_acknowledged(ConnId(1));
        assert!(broker.held.waiting(ConnId(1)).is_none(), "a late acknowledgement holds nothing");
    }
}
