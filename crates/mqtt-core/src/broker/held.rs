//! Outputs held back for a connection until other shards answered. Two things wait so:
//! - a SUBSCRIBE's SUBACK, until every other shard knows of the new subscriptions
//!   ([`Item::InterestAck`](crate::shard_item::Item::InterestAck)): until then a message
//!   published on another shard might not be forwarded here, so the client must not yet hear
//!   that it is subscribed;
//! - with the journal on, a PUBACK (QoS 1) or PUBCOMP and its `Released` record (QoS 2), until
//!   every shard the message went to answered that its records of it are durable
//!   ([`Item::Durable`](crate::shard_item::Item::Durable)).
//!
//! Each wait is a token, issued in order per connection; an output kept while tokens are
//! outstanding waits behind the last one issued, and goes once every token up to it is
//! answered, so a stream of publishes gets its acknowledgements in order as answers come,
//! never starved by the ones after it. A closing connection gets what waits only for
//! subscriptions (as sent), loses its unsynced acknowledgements (the client sends again) and
//! leaves its journal records waiting for their answers; a PUBREL its client sends again on a
//! new connection gets its PUBCOMP once they are out. Unsharded brokers never hold anything.

use std::collections::VecDeque;

use super::Broker;
use crate::conn::ConnMap;
use crate::event::{ConnId, Output};
use crate::snapshot::journal::Change;

/// The connections waiting for answers, and what they were sent meanwhile.
#[derive(Debug, Default)]
pub(super) struct Held {
    /// Open connections' waits.
    open: ConnMap<Waiting>,
    /// Closed connections' journal records that still wait for durability answers.
    closed: ConnMap<Waiting>,
    /// The last token issued.
    last: u64,
}

/// What a wait is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wait {
    /// Every other shard to know of new subscriptions.
    Interest,
    /// Every shard a message went to to have its records of it durable.
    Durable,
}

/// One connection's wait.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    /// Tokens not yet answered in full (or answered behind one that is not), in issue order.
    tokens: VecDeque<Pending>,
    /// Its outputs since the wait began, in order, each with the last token issued before it.
    outputs: VecDeque<(u64, Output)>,
    /// Connections whose token (given with each) is answered when this wait ends: a closed
    /// connection's `Released` record that a new connection's PUBCOMP waits for.
    followers: Vec<(ConnId, u64)>,
}

/// A token's answers.
#[derive(Debug)]
struct Pending {
    token: u64,
    wait: Wait,
    /// Answers due from the shards the item went to, minus those that came.
    due: isize,
    /// The same for each `$share` hop beyond (index 0: one hop): what the answers one hop
    /// nearer announced (`more`), minus what came. An answer may overtake the one that
    /// announces it, so a token is answered once every count is zero.
    beyond: Vec<isize>,
}

impl Pending {
    fn answered(&self) -> bool {
        self.due == 0 && self.beyond.iter().all(|due| *due == 0)
    }

    /// Counts an answer from `hops` hops away that announced `more` answers one hop further.
    fn count(&mut self, hops: usize, more: usize) {
        *self.at(hops) -= 1;
        if more > 0 {
            *self.at(hops + 1) += signed(more);
        }
    }

    fn at(&mut self, hops: usize) -> &mut isize {
        let Some(index) = hops.checked_sub(1) else { return &mut self.due };
        if self.beyond.len() <= index {
            self.beyond.resize(index + 1, 0);
        }
        &mut self.beyond[index]
    }
}

/// A count of answers (at most one per shard) as a term of a [`Pending`] count.
fn signed(answers: usize) -> isize {
    isize::try_from(answers).unwrap_or(isize::MAX)
}

impl Held {
    /// `conn`'s wait, if it has one: a length check when nobody waits.
    #[inline]
    pub(super) fn waiting(&mut self, conn: ConnId) -> Option<&mut Waiting> {
        if self.open.is_empty() {
            return None;
        }
        self.open.get_mut(&conn)
    }

    /// A new token, for the items whose answers a [`Broker::hold`] will wait for.
    pub(super) fn issue(&mut self) -> u64 {
        self.last += 1;
        self.last
    }
}

impl Waiting {
    /// Keeps `output` for when every token issued so far is answered.
    pub(super) fn keep(&mut self, output: Output) {
        let behind = self.tokens.back().map_or(0, |pending| pending.token);
        self.outputs.push_back((behind, output));
    }

    /// Moves what no outstanding token holds back any more to `outputs`; whether the wait is
    /// over.
    fn release(&mut self, outputs: &mut VecDeque<Output>) -> bool {
        while self.tokens.front().is_some_and(Pending::answered) {
            self.tokens.pop_front();
        }
        let first = self.tokens.front().map_or(u64::MAX, |pending| pending.token);
        while self.outputs.front().is_some_and(|(behind, _)| *behind < first) {
            if let Some((_, output)) = self.outputs.pop_front() {
                outputs.push_back(output);
            }
        }
        self.tokens.is_empty()
    }
}

impl Broker {
    /// Holds every output to `conn` from now on until `answers` answers to `token` came
    /// (nothing when none are due), and every token before it was answered.
    pub(super) fn hold(&mut self, conn: ConnId, token: u64, answers: usize, wait: Wait) {
        if answers > 0 {
            let pending = Pending { token, wait, due: signed(answers), beyond: Vec::new() };
            self.held.open.entry(conn).or_default().tokens.push_back(pending);
        }
    }

    /// Sends `output` to the runtime, or keeps it while `conn` waits.
    pub(super) fn output_for(&mut self, conn: ConnId, output: Output) {
        match self.held.waiting(conn) {
            Some(waiting) => waiting.keep(output),
            None => self.outputs.push_back(output),
        }
    }

    /// A shard answered `token` of `conn` from `hops` `$share` hops away, announcing `more`
    /// answers one hop further: once every answer to it and to the tokens before it came,
    /// what waited behind it goes out. An answer for a connection with nothing left to wait
    /// for finds nothing.
    pub(super) fn answered(&mut self, conn: ConnId, token: u64, hops: usize, more: usize) {
        let held = &mut self.held;
        let map = if held.open.contains_key(&conn) { &mut held.open } else { &mut held.closed };
        let Some(waiting) = map.get_mut(&conn) else { return };
        if let Some(pending) = waiting.tokens.iter_mut().find(|pending| pending.token == token) {
            pending.count(hops, more);
        }
        if waiting.release(&mut self.outputs) {
            let followers = map.remove(&conn).map(|waiting| waiting.followers).unwrap_or_default();
            for (follower, token) in followers {
                self.answered(follower, token, 0, 0);
            }
        }
    }

    /// `conn` re-sent the PUBREL of `packet_id` for `client_id` after reconnecting, and the
    /// session no longer has the message: if the first PUBREL's `Released` record still waits
    /// for answers (its connection closed), `conn`'s PUBCOMP, and what follows it, waits until
    /// that record goes out, so the client hears the flow is complete only once it is durable.
    pub(super) fn follow_release(&mut self, conn: ConnId, client_id: &str, packet_id: u16) {
        let released = |output: &Output| {
            matches!(output, Output::Journal(Change::Released { client_id: c, packet_id: p })
                if c == client_id && *p == packet_id)
        };
        let closed = self
            .held
            .closed
            .iter()
            .find(|(_, waiting)| waiting.outputs.iter().any(|(_, output)| released(output)));
        let Some((&closed, _)) = closed else { return };
        let token = self.held.issue();
        self.hold(conn, token, 1, Wait::Durable);
        if let Some(waiting) = self.held.closed.get_mut(&closed) {
            waiting.followers.push((conn, token));
        }
    }

    /// `conn` closes: what waits only for subscriptions goes out now, as sent; packets that
    /// wait for durability are dropped (the client never hears they are stored, and sends
    /// them again); journal records that do go on waiting for their answers.
    pub(super) fn end_wait(&mut self, conn: ConnId) {
        let Some(mut waiting) = self.held.open.remove(&conn) else { return };
        let durable = waiting.tokens.iter().find(|p| p.wait == Wait::Durable && !p.answered());
        let first_durable = durable.map_or(u64::MAX, |pending| pending.token);
        let mut kept = VecDeque::new();
        for (behind, output) in waiting.outputs.drain(..) {
            match output {
                output if behind < first_durable => self.outputs.push_back(output),
                Output::Send { .. } => {}
                output => kept.push_back((behind, output)),
            }
        }
        if !kept.is_empty() {
            waiting.outputs = kept;
            self.held.closed.insert(conn, waiting);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::DisconnectReason;

    /// The connection that waits.
    const CONN: ConnId = ConnId(1);

    fn close(conn: u64) -> Output {
        Output::Close { conn: ConnId(conn), reason: DisconnectReason::ServerShutdown }
    }

    fn journal(client: &str) -> Output {
        let client_id = client.into();
        Output::Journal(Change::SessionGone { client_id })
    }

    fn drained(broker: &mut Broker) -> Vec<Output> {
        std::iter::from_fn(|| broker.poll_output()).collect()
    }

    fn broker() -> Broker {
        Broker::new(crate::Config::default(), [1; 32])
    }

    /// A new token for [`CONN`] that waits for one answer, with `output` kept behind it.
    fn wait_then(broker: &mut Broker, wait: Wait, output: Output) -> u64 {
        let token = broker.held.issue();
        broker.hold(CONN, token, 1, wait);
        broker.output_for(CONN, output);
        token
    }

    #[test]
    fn nothing_waits_until_held_and_the_last_answer_releases_in_order() {
        let mut broker = broker();
        assert!(broker.held.waiting(CONN).is_none());
        let token = broker.held.issue();
        broker.hold(CONN, token, 0, Wait::Interest);
        assert!(broker.held.waiting(CONN).is_none(), "no answer to wait for");
        broker.hold(CONN, token, 2, Wait::Interest);
        broker.output_for(CONN, close(1));
        broker.output_for(CONN, close(1));
        broker.output_for(ConnId(2), close(2));
        assert_eq!(drained(&mut broker), [close(2)], "another connection goes on");
        broker.answered(CONN, token, 0, 0);
        assert_eq!(drained(&mut broker), [], "one answer still to come");
        broker.answered(CONN, token, 0, 0);
        assert_eq!(drained(&mut broker), [close(1), close(1)]);
        broker.answered(CONN, token, 0, 0);
        assert!(broker.held.waiting(CONN).is_none(), "a late answer holds nothing");
    }

    #[test]
    fn an_output_waits_only_for_the_tokens_issued_before_it() {
        let mut broker = broker();
        let first = wait_then(&mut broker, Wait::Durable, journal("after first"));
        let second = wait_then(&mut broker, Wait::Durable, journal("after second"));
        broker.answered(CONN, second, 0, 0);
        assert_eq!(drained(&mut broker), [], "the first token is still out");
        broker.answered(CONN, first, 0, 0);
        assert_eq!(drained(&mut broker), [journal("after first"), journal("after second")]);
        // A stream: each answer releases what waited behind its token, never starved by the
        // tokens issued after it.
        let tokens: Vec<u64> = (0..3)
            .map(|n| wait_then(&mut broker, Wait::Durable, journal(&n.to_string())))
            .collect();
        for (n, &token) in tokens.iter().enumerate() {
            broker.answered(CONN, token, 0, 0);
            assert_eq!(drained(&mut broker), [journal(&n.to_string())]);
        }
    }

    #[test]
    fn an_answer_from_a_hop_that_overtakes_the_one_announcing_it_releases_nothing() {
        let mut broker = broker();
        let token = wait_then(&mut broker, Wait::Durable, close(1));
        broker.answered(CONN, token, 2, 0);
        broker.answered(CONN, token, 0, 1);
        assert_eq!(drained(&mut broker), [], "the first hop's answer is still out");
        broker.answered(CONN, token, 1, 1);
        assert_eq!(drained(&mut broker), [close(1)]);
    }

    #[test]
    fn a_closing_connection_gets_what_waits_for_subscriptions_and_its_records_wait_on() {
        let mut broker = broker();
        let interest = wait_then(&mut broker, Wait::Interest, close(1));
        let durable = wait_then(&mut broker, Wait::Durable, journal("released"));
        broker.output_for(CONN, Output::Send { conn: CONN, packet: mqtt_codec::Packet::PingResp });
        broker.end_wait(CONN);
        assert_eq!(drained(&mut broker), [close(1)], "the packet waiting for durability is gone");
        assert!(broker.held.waiting(CONN).is_none(), "nothing more waits for the connection");
        broker.answered(CONN, interest, 0, 0);
        assert_eq!(drained(&mut broker), []);
        broker.answered(CONN, durable, 0, 0);
        assert_eq!(drained(&mut broker), [journal("released")]);
        assert!(broker.held.closed.is_empty());
    }
}
