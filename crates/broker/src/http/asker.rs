//! How the HTTP API asks the driver shards about the broker's state ([`Asker`]): each question
//! goes as an [`Event::Query`] with a oneshot reply to the shards that can answer it, and their
//! answers are merged into one.
//!
//! - A list (clients, subscriptions, offline sessions) lives in pieces, one per shard (a session
//!   lives on the shard of its client id): every shard is asked for the first `offset + limit`
//!   items of its piece, sorted as the core sorts them, and [`merge`] sorts the pieces into one
//!   list, cuts the page out of it and sums the totals.
//! - One client (its view, or its disconnection) is asked of the shard its id belongs to
//!   (`mqtt_core::shard_of`).
//! - The retained messages are replicated on every shard, and shard 0 publishes the broker-wide
//!   `$SYS` values: those questions go to shard 0 only.
//!
//! With one shard every question goes to it unchanged, and its answer is the answer.

use std::cmp::Ordering;

use mqtt_core::{
    ClientInfo, Page, PageRequest, RetainedInfo, SessionInfo, SubscriptionInfo, shard_of,
};
use tokio::sync::{mpsc, oneshot};

use crate::event::{Event, Query};

/// The way to every driver shard, indexed by shard.
#[derive(Debug)]
pub(crate) struct Asker {
    shards: Vec<mpsc::Sender<Event>>,
}

impl Asker {
    /// An asker of the drivers whose event senders are `shards`, in shard order (at least one).
    pub(crate) fn new(shards: Vec<mpsc::Sender<Event>>) -> Self {
        Self { shards }
    }

    /// `$SYS` values, broker-wide on shard 0.
    pub(crate) async fn sys_values(&self) -> Option<Vec<(&'static str, i64)>> {
        self.ask(0, Query::SysValues).await
    }

    /// A page of the connected clients whose id or username contains `search`, by id.
    pub(crate) async fn clients(
        &self,
        search: Option<String>,
        page: PageRequest,
    ) -> Option<Page<ClientInfo>> {
        self.ask_all(page, |page, reply| Query::Clients { search: search.clone(), page, reply })
            .await
            .map(|pages| merge(pages, page, |a, b| a.id.cmp(&b.id)))
    }

    /// The connected client `id` and its subscriptions, from the shard that owns `id`.
    pub(crate) async fn client(
        &self,
        id: String,
    ) -> Option<Option<(ClientInfo, Vec<SubscriptionInfo>)>> {
        let shard = self.owner(&id);
        self.ask(shard, |reply| Query::Client { id, reply }).await
    }

    /// A page of the subscriptions whose filter starts with `prefix`, by client id, then filter.
    pub(crate) async fn subscriptions(
        &self,
        prefix: Option<String>,
        page: PageRequest,
    ) -> Option<Page<SubscriptionInfo>> {
        let make = |page, reply| Query::Subscriptions { prefix: prefix.clone(), page, reply };
        self.ask_all(page, make).await.map(|pages| {
            merge(pages, page, |a, b| (&a.client_id, &a.filter).cmp(&(&b.client_id, &b.filter)))
        })
    }

    /// A page of the retained messages whose topic starts with `prefix`: shard 0's replica.
    pub(crate) async fn retained(
        &self,
        prefix: Option<String>,
        page: PageRequest,
    ) -> Option<Page<RetainedInfo>> {
        self.ask(0, |reply| Query::Retained { prefix, page, reply }).await
    }

    /// A page of the offline sessions, by id.
    pub(crate) async fn sessions(&self, page: PageRequest) -> Option<Page<SessionInfo>> {
        self.ask_all(page, |page, reply| Query::Sessions { page, reply })
            .await
            .map(|pages| merge(pages, page, |a, b| a.id.cmp(&b.id)))
    }

    /// Disconnects the connected client `id` on the shard that owns it; false if none is.
    pub(crate) async fn disconnect(&self, id: String) -> Option<bool> {
        let shard = self.owner(&id);
        self.ask(shard, |reply| Query::Disconnect { id, reply }).await
    }

    /// The shard that owns the session of client `id`.
    fn owner(&self, id: &str) -> usize {
        shard_of(id, self.shards.len())
    }

    /// Sends shard `shard` the query `make` builds around a reply channel and waits for the
    /// answer; `None` when that driver has stopped.
    async fn ask<T>(
        &self,
        shard: usize,
        make: impl FnOnce(oneshot::Sender<T>) -> Query,
    ) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.shards.get(shard)?.send(Event::Query(make(reply))).await.ok()?;
        answer.await.ok()
    }

    /// Asks every shard for its part of `page` (see [`spread`]) with the query `make` builds,
    /// all at once, and returns their pages in shard order; `None` when a driver has stopped.
    async fn ask_all<T>(
        &self,
        page: PageRequest,
        make: impl Fn(PageRequest, oneshot::Sender<Page<T>>) -> Query,
    ) -> Option<Vec<Page<T>>> {
        let part = spread(page, self.shards.len());
        let mut answers = Vec::with_capacity(self.shards.len());
        for shard in &self.shards {
            let (reply, answer) = oneshot::channel();
            shard.send(Event::Query(make(part, reply))).await.ok()?;
            answers.push(answer);
        }
        let mut pages = Vec::with_capacity(answers.len());
        for answer in answers {
            pages.push(answer.await.ok()?);
        }
        Some(pages)
    }
}

/// What each of `shards` shards is asked for when the client asked for `page`: the page itself
/// from a single shard; otherwise everything up to the page's end, since any shard may hold
/// all of the page's items.
fn spread(page: PageRequest, shards: usize) -> PageRequest {
    if shards <= 1 {
        return page;
    }
    PageRequest { offset: 0, limit: page.offset.saturating_add(page.limit) }
}

/// The page `page` of the list whose pieces, each sorted by `order` and asked for with
/// [`spread`], are `pages`, and the length of the whole list. A single piece is the answer as
/// it is. Items that compare equal keep the order of their shards.
fn merge<T>(
    mut pages: Vec<Page<T>>,
    page: PageRequest,
    order: impl Fn(&T, &T) -> Ordering,
) -> Page<T> {
    if pages.len() == 1 {
        if let Some(only) = pages.pop() {
            return only;
        }
    }
    let total = pages.iter().map(|piece| piece.total).sum();
    let mut items: Vec<T> = pages.into_iter().flat_map(|piece| piece.items).collect();
    // A stable sort of sorted runs: about one pass per shard.
    items.sort_by(order);
    let items = items.into_iter().skip(page.offset).take(page.limit).collect();
    Page { items, total }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sorted list of `ids` cut as a shard answers `request`.
    fn piece(mut ids: Vec<&str>, request: PageRequest) -> Page<String> {
        ids.sort_unstable();
        let total = ids.len();
        let items =
            ids.into_iter().skip(request.offset).take(request.limit).map(str::to_owned).collect();
        Page { items, total }
    }

    #[test]
    fn one_shard_is_asked_for_the_page_and_its_answer_is_kept() {
        let page = PageRequest { offset: 2, limit: 2 };
        assert_eq!(spread(page, 1), page);
        let only = piece(vec!["a", "b", "c", "d", "e"], page);
        assert_eq!(merge(vec![only.clone()], page, Ord::cmp), only);
    }

    #[test]
    fn pages_of_several_shards_are_the_pages_of_their_union() {
        let shards =
            [vec!["b", "e", "f", "k"], vec!["a", "c", "g"], vec![], vec!["d", "h", "i", "j"]];
        let mut all: Vec<&str> = shards.iter().flatten().copied().collect();
        all.sort_unstable();
        for (offset, limit) in [(0, 1), (0, 5), (3, 4), (9, 3), (11, 2), (20, 5), (0, 100)] {
            let page = PageRequest { offset, limit };
            let part = spread(page, shards.len());
            assert_eq!(part, PageRequest { offset: 0, limit: offset + limit });
            let pieces = shards.iter().map(|ids| piece(ids.clone(), part)).collect();
            let merged = merge(pieces, page, Ord::cmp);
            let expected: Vec<String> =
                all.iter().skip(offset).take(limit).map(|id| (*id).to_owned()).collect();
            assert_eq!(merged, Page { items: expected, total: all.len() }, "{page:?}");
        }
    }

    #[test]
    fn a_page_far_out_asks_for_no_more_than_there_is_room_for() {
        let page = PageRequest { offset: usize::MAX - 1, limit: 1000 };
        assert_eq!(spread(page, 2), PageRequest { offset: 0, limit: usize::MAX });
        let pieces = vec![piece(vec!["a"], spread(page, 2)), piece(vec!["b"], spread(page, 2))];
        assert_eq!(merge(pieces, page, Ord::cmp), Page { items: Vec::new(), total: 2 });
    }

    /// A fake driver shard `index` holding the offline sessions `ids`: answers the questions
    /// the asker sends it and reports the id of each disconnection it is asked for.
    fn fake_shard(
        index: usize,
        ids: Vec<&'static str>,
        disconnected: mpsc::UnboundedSender<(usize, String)>,
    ) -> mpsc::Sender<Event> {
        let (events, mut queue) = mpsc::channel(4);
        tokio::spawn(async move {
            while let Some(event) = queue.recv().await {
                let Event::Query(query) = event else { continue };
                match query {
                    Query::SysValues(reply) => {
                        let _ = reply.send(vec![("$SYS/broker/shard", index as i64)]);
                    }
                    Query::Sessions { page, reply } => {
                        let piece = piece(ids.clone(), page);
                        let items = piece.items.into_iter().map(session).collect();
                        let _ = reply.send(Page { items, total: piece.total });
                    }
                    Query::Disconnect { id, reply } => {
                        let _ = disconnected.send((index, id));
                        let _ = reply.send(true);
                    }
                    _ => {}
                }
            }
        });
        events
    }

    fn session(id: String) -> SessionInfo {
        SessionInfo { id, username: None, queued: 0, queued_bytes: 0, expires_in: None }
    }

    #[tokio::test]
    async fn lists_merge_every_shard_and_one_client_goes_to_its_owner() {
        let (disconnected, mut disconnections) = mpsc::unbounded_channel();
        let held = [vec!["c", "f"], vec!["a", "d", "e"], vec!["b"]];
        let shards = held
            .iter()
            .enumerate()
            .map(|(index, ids)| fake_shard(index, ids.clone(), disconnected.clone()))
            .collect();
        let asker = Asker::new(shards);
        let ask = |offset, limit| asker.sessions(PageRequest { offset, limit });
        let ids = |page: Page<SessionInfo>| -> (Vec<String>, usize) {
            (page.items.into_iter().map(|session| session.id).collect(), page.total)
        };
        let expected = |ids: &[&str]| Some((ids.iter().map(|id| (*id).to_owned()).collect(), 6));
        assert_eq!(ask(0, 4).await.map(ids), expected(&["a", "b", "c", "d"]));
        assert_eq!(ask(4, 4).await.map(ids), expected(&["e", "f"]));
        assert_eq!(asker.sys_values().await, Some(vec![("$SYS/broker/shard", 0)]));
        for id in ["a", "b", "c", "some client", "ü"] {
            assert_eq!(asker.disconnect(id.to_owned()).await, Some(true));
            let owner = disconnections.recv().await;
            assert_eq!(owner, Some((shard_of(id, 3), id.to_owned())), "{id}");
        }
    }

    #[tokio::test]
    async fn a_stopped_shard_leaves_the_question_unanswered() {
        let (disconnected, _disconnections) = mpsc::unbounded_channel();
        let (stopped, _) = mpsc::channel(1);
        let asker = Asker::new(vec![fake_shard(0, vec!["a"], disconnected), stopped]);
        assert_eq!(asker.sessions(PageRequest { offset: 0, limit: 10 }).await, None);
    }

    #[test]
    fn equal_items_keep_their_shard_order() {
        let pieces = vec![
            Page { items: vec![("x", 0), ("y", 0)], total: 2 },
            Page { items: vec![("x", 1)], total: 1 },
        ];
        let page = PageRequest { offset: 0, limit: 10 };
        let merged = merge(pieces, page, |a, b| a.0.cmp(b.0));
        assert_eq!(merged.items, [("x", 0), ("x", 1), ("y", 0)]);
    }
}
