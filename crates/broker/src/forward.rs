//! The channels between driver shards: what one shard's core tells another
//! (`mqtt_core::Output::Forward`) goes, in order, to that shard's `Broker::handle_forward`.
//!
//! Every driver has one unbounded channel in, and a sender to each other driver's. A driver
//! gathers what its core forwards during one step and sends it at the end of the step, one
//! [`Batch`] per destination, so the channel between two shards is FIFO (per-publisher order
//! holds across shards). Apart from one meeting at startup, where the drivers exchange their
//! restored subscriptions ([`Forwards::exchange_at_start`]), a driver never waits for another:
//! instead it keeps a byte count of
//! what it sent each destination and that destination has not handled yet ([`Backlog`],
//! weighed by `ShardItem::weight`). While one destination's backlog is over its share of
//! [`FORWARD_BUDGET`], the driver takes no new client events (their packets wait in the
//! connections' sockets) but goes on handling forwards, controls and timers: two shards
//! backlogged towards each other both drain, so they never deadlock, and what waits between
//! shards stays bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mqtt_core::ShardItem;
use tokio::sync::{Barrier, Notify, mpsc};

/// Bytes of forwarded items from one shard that may wait for the others before its driver
/// stops taking client events: like `event::PACKET_BUDGET`, several milliseconds of a
/// driver's work. Each destination has an equal share of it.
pub(crate) const FORWARD_BUDGET: usize = 8 * 1024 * 1024;

/// What goes between shards, and what it weighs against the [`Backlog`]: a `ShardItem`
/// (other items in this module's tests).
pub(crate) trait Weighed {
    /// The bytes it keeps alive while it waits.
    fn weight(&self) -> usize;
}

impl Weighed for ShardItem {
    fn weight(&self) -> usize {
        Self::weight(self)
    }
}

/// Items forwarded from one shard to another in one step, and the credit they hold in the
/// sender's [`Backlog`] until the receiving driver has handled them (and drops the batch).
#[derive(Debug)]
pub(crate) struct Batch<T = ShardItem> {
    /// In the order the sending core forwarded them.
    pub(crate) items: Vec<T>,
    /// Given back when the batch is dropped.
    _credit: Credit,
}

/// The bytes a shard has sent one destination that the destination has not handled yet.
#[derive(Debug)]
pub(crate) struct Backlog {
    bytes: AtomicUsize,
    /// This destination's share of [`FORWARD_BUDGET`].
    limit: usize,
    /// Wakes the sender when the backlog falls to the budget or below.
    drained: Notify,
}

impl Backlog {
    /// An empty backlog allowed up to `limit` bytes.
    fn new(limit: usize) -> Self {
        Self { bytes: AtomicUsize::new(0), limit, drained: Notify::new() }
    }

    /// Whether the backlog is over its limit.
    fn over(&self) -> bool {
        self.bytes.load(Ordering::Acquire) > self.limit
    }

    /// Completes once the backlog is at the budget or below (at once if it is already).
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            if !self.over() {
                return;
            }
            notified.await;
        }
    }
}

/// A batch's share of a [`Backlog`], given back when dropped.
#[derive(Debug)]
struct Credit {
    backlog: Arc<Backlog>,
    bytes: usize,
}

impl Drop for Credit {
    fn drop(&mut self) {
        let before = self.backlog.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        let limit = self.backlog.limit;
        if before > limit && before - self.bytes <= limit {
            self.backlog.drained.notify_waiters();
        }
    }
}

/// The way to one other shard, and what is in flight to it.
#[derive(Debug)]
struct Route<T> {
    sender: mpsc::UnboundedSender<Batch<T>>,
    backlog: Arc<Backlog>,
}

/// One driver's ends of the forward channels.
#[derive(Debug)]
pub(crate) struct Forwards<T = ShardItem> {
    /// To each shard (`None` for this one).
    out: Vec<Option<Route<T>>>,
    /// Items forwarded during the current step and their weight, per destination.
    pending: Vec<(Vec<T>, usize)>,
    /// What the other shards forward to this one, until the driver takes it.
    input: Option<mpsc::UnboundedReceiver<Batch<T>>>,
    /// Where every shard meets once at startup ([`Forwards::exchange_at_start`]).
    startup: Arc<Barrier>,
}

impl<T: Weighed> Forwards<T> {
    /// The ends of `count` drivers (shard 0 first), each connected to every other with an
    /// equal share of [`FORWARD_BUDGET`].
    pub(crate) fn mesh(count: usize) -> Vec<Self> {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..count).map(|_| mpsc::unbounded_channel()).unzip();
        let limit = FORWARD_BUDGET / count.saturating_sub(1).max(1);
        let startup = Arc::new(Barrier::new(count));
        let mut meshed = Vec::with_capacity(count);
        for (shard, input) in receivers.into_iter().enumerate() {
            let route = |(to, sender): (usize, &mpsc::UnboundedSender<Batch<T>>)| {
                let backlog = Arc::new(Backlog::new(limit));
                (to != shard).then(|| Route { sender: sender.clone(), backlog })
            };
            let out = senders.iter().enumerate().map(route).collect();
            let pending = (0..count).map(|_| (Vec::new(), 0)).collect();
            let startup = Arc::clone(&startup);
            meshed.push(Self { out, pending, input: Some(input), startup });
        }
        meshed
    }

    /// Whether there are other shards (`routers` above 1).
    pub(crate) fn has_peers(&self) -> bool {
        self.out.iter().any(Option::is_some)
    }

    /// The channel in, taken once by the driver's loop.
    pub(crate) fn take_input(&mut self) -> Option<mpsc::UnboundedReceiver<Batch<T>>> {
        self.input.take()
    }

    /// At startup, before the driver takes any client event: sends what its core forwarded
    /// so far (its restored subscriptions), waits until every shard has done the same, and
    /// returns what the others sent from `input` (the channel in). Once the driver has handed
    /// that to its core, every shard knows where every restored subscription is, so no
    /// message published from then on misses one.
    pub(crate) async fn exchange_at_start(
        &mut self,
        input: Option<&mut mpsc::UnboundedReceiver<Batch<T>>>,
    ) -> Vec<Batch<T>> {
        self.flush();
        self.startup.wait().await;
        let mut batches = Vec::new();
        if let Some(input) = input {
            // Every batch was sent before its sender reached the barrier.
            while let Ok(batch) = input.try_recv() {
                batches.push(batch);
            }
        }
        batches
    }

    /// Keeps `item` for `shard` until the end of the step. An item for a shard that does not
    /// exist (or for this one) is dropped: the core never names one.
    pub(crate) fn push(&mut self, shard: usize, item: T) {
        if let (Some(Some(_)), Some((items, bytes))) =
            (self.out.get(shard), self.pending.get_mut(shard))
        {
            *bytes += item.weight();
            items.push(item);
        }
    }

    /// Sends what the step forwarded: one batch per destination. A destination whose driver
    /// has stopped drops it (its clients are closing).
    pub(crate) fn flush(&mut self) {
        for (shard, (pending, weight)) in self.pending.iter_mut().enumerate() {
            if pending.is_empty() {
                continue;
            }
            let items = std::mem::take(pending);
            let bytes = std::mem::take(weight);
            let Some(Some(route)) = self.out.get(shard) else { continue };
            route.backlog.bytes.fetch_add(bytes, Ordering::AcqRel);
            let credit = Credit { backlog: Arc::clone(&route.backlog), bytes };
            let _ = route.sender.send(Batch { items, _credit: credit });
        }
    }

    /// The backlog of a destination that is over [`FORWARD_BUDGET`], if one is: the driver
    /// takes no client events until it has drained.
    pub(crate) fn backlogged(&self) -> Option<Arc<Backlog>> {
        let route = self.out.iter().flatten().find(|route| route.backlog.over())?;
        Some(Arc::clone(&route.backlog))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An item of `weight` bytes, told apart by its number.
    #[derive(Debug, PartialEq)]
    struct Item(u32);

    impl Weighed for Item {
        fn weight(&self) -> usize {
            1024
        }
    }

    #[tokio::test]
    async fn batches_go_in_order_and_their_credit_comes_back_when_handled() {
        let mut shards = Forwards::<Item>::mesh(2);
        let mut input = shards[1].take_input().expect("the channel in");
        let mut sent = 0;
        // Over the budget: the sender is backlogged until the receiver handles batches.
        while sent <= FORWARD_BUDGET {
            for n in 0..64 {
                shards[0].push(1, Item(n));
                sent += 1024;
            }
            shards[0].flush();
        }
        let backlog = shards[0].backlogged().expect("over the budget");
        assert!(shards[1].backlogged().is_none(), "nothing went the other way");
        let waiting = tokio::spawn(async move { backlog.drained().await });
        let mut handled = 0;
        while shards[0].backlogged().is_some() {
            let batch = input.recv().await.expect("a batch");
            assert_eq!(
                batch.items,
                (0..64).map(Item).collect::<Vec<_>>(),
                "one per step, in order"
            );
            handled += batch.items.len();
        }
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken once drained")
            .expect("the waiting task");
        assert_eq!(handled, 64, "one batch brings the backlog back to the budget");
        // A stopped destination drops what comes (and gives its credit back).
        drop(input);
        for n in 0..64 * 200 {
            shards[0].push(1, Item(n));
        }
        shards[0].flush();
        assert!(shards[0].backlogged().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_startup_each_shard_gets_what_every_other_forwarded_before_the_barrier() {
        let count = 3;
        let tasks = Forwards::<Item>::mesh(count).into_iter().enumerate().map(|(me, mut ends)| {
            tokio::spawn(async move {
                let mut input = ends.take_input();
                for to in (0..count).filter(|&to| to != me) {
                    ends.push(to, Item(u32::try_from(me).expect("few shards")));
                }
                let got = ends.exchange_at_start(input.as_mut()).await;
                let mut from: Vec<u32> =
                    got.into_iter().flat_map(|batch| batch.items).map(|item| item.0).collect();
                from.sort_unstable();
                from
            })
        });
        let tasks: Vec<_> = tasks.collect();
        for (me, task) in tasks.into_iter().enumerate() {
            let got = tokio::time::timeout(std::time::Duration::from_secs(5), task)
                .await
                .expect("every shard reaches the barrier")
                .expect("the shard's task");
            let others: Vec<u32> = (0..3).filter(|&shard| shard != me).map(|s| s as u32).collect();
            assert_eq!(got, others, "shard {me}");
        }
    }

    #[test]
    fn an_item_for_this_shard_or_none_is_dropped() {
        let mut shards = Forwards::<Item>::mesh(2);
        shards[0].push(0, Item(0));
        shards[0].push(7, Item(0));
        assert!(shards[0].pending.iter().all(|(items, bytes)| items.is_empty() && *bytes == 0));
    }
}
