//! The `protocol http_api` listener: Mosquitto 2.1's HTTP API and `http_dir` files, culex's
//! own API endpoints and its access control. hyper serves HTTP/1.1 on each accepted socket
//! (HTTPS through the listener's `certfile`/`keyfile`); every request goes through 2.1's steps
//! in order: a method other than GET is 405 (except culex's DELETE of a client), then the
//! access check ([`access`]; 401), then `/metrics` (the Prometheus text of [`Metrics`], read
//! from its atomics), `/api/…` paths to [`routes`] and the rest to the `http_dir` files
//! ([`files`]) or 404. Without `http_dir`, a GET of any other path is answered before the
//! access check with the built-in [`dashboard`] (its files need no credentials; the API calls
//! it makes do). Questions about the broker's state go to the driver shards as
//! [`Event::Query`](crate::event::Event::Query) with a oneshot reply ([`asker`], which merges
//! the shards' answers): nothing here touches the core's state.

mod access;
mod asker;
mod dashboard;
mod files;
mod json;
mod reply;
mod routes;

pub(crate) use routes::ListenerView;

use std::convert::Infallible;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, IF_NONE_MATCH};
use hyper::service::service_fn;
use hyper::{Method, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::event::Event;
use crate::metrics::Metrics;
use crate::security::{PasswordChecker, Security};
use crate::transport::tls::TlsListener;
use asker::Asker;
use reply::Reply;

/// How long a client may take to send a request head (slow clients hold no socket forever).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP API listener's own settings, ready to serve.
pub(crate) struct ApiSite {
    /// Its index among the listeners in force (which security settings apply).
    pub(crate) index: usize,
    /// HTTPS, when it has `certfile` and `keyfile`.
    pub(crate) tls: Option<TlsListener>,
    /// `http_dir`, canonical.
    pub(crate) http_root: Option<PathBuf>,
    /// `http_api_admin` names.
    pub(crate) admins: Vec<String>,
    /// `max_connections`: one permit per open connection; `None` = unlimited.
    pub(crate) slots: Option<Arc<Semaphore>>,
}

impl std::fmt::Debug for ApiSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSite")
            .field("index", &self.index)
            .field("tls", &self.tls.is_some())
            .field("http_root", &self.http_root)
            .finish_non_exhaustive()
    }
}

/// What every HTTP API listener shares: the way to the driver shards, the listeners it describes,
/// the security settings in force (replaced on SIGHUP), the password-check pool and the
/// failure budget.
pub(crate) struct ApiState {
    asker: Asker,
    listeners: Vec<ListenerView>,
    security: RwLock<Security>,
    checker: PasswordChecker,
    budget: access::FailureBudget,
    /// What `GET /metrics` encodes.
    metrics: Arc<Metrics>,
}

impl ApiState {
    /// The state for `listeners` (every listener in force, as the API shows them), asking the
    /// drivers whose event senders are `shards`, in shard order (at least one).
    pub(crate) fn new(
        shards: Vec<mpsc::Sender<Event>>,
        listeners: Vec<ListenerView>,
        security: Security,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            asker: Asker::new(shards),
            listeners,
            security: RwLock::new(security),
            checker: PasswordChecker::new(),
            budget: access::FailureBudget::default(),
            metrics,
        }
    }

    /// Applies reloaded security settings (SIGHUP).
    pub(crate) fn set_security(&self, security: Security) {
        *self.security.write().unwrap_or_else(std::sync::PoisonError::into_inner) = security;
    }
}

/// Accepts connections on `tcp` until `stop` flips, serving each in its own task.
pub(crate) async fn serve(
    tcp: TcpListener,
    site: Arc<ApiSite>,
    state: Arc<ApiState>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = tcp.accept() => accepted,
            _ = stop.changed() => return,
        };
        let Ok((stream, addr)) = accepted else {
            // Out of descriptors and the like: try again shortly rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let peer = match addr.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        // Over `max_connections`: closed at once, unanswered.
        let slot = match &site.slots {
            Some(slots) => match Arc::clone(slots).try_acquire_owned() {
                Ok(slot) => Some(slot),
                Err(_) => continue,
            },
            None => None,
        };
        let (site, state) = (Arc::clone(&site), Arc::clone(&state));
        tokio::spawn(async move {
            let _slot = slot;
            match &site.tls {
                Some(tls) => {
                    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream));
                    if let Ok(Ok((stream, _))) = handshake.await {
                        connection(stream, peer, site, state).await;
                    }
                }
                None => connection(stream, peer, site, state).await,
            }
        });
    }
}

/// Serves HTTP/1.1 requests on one connection until the client closes it.
async fn connection<S>(stream: S, peer: IpAddr, site: Arc<ApiSite>, state: Arc<ApiState>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let (site, state) = (Arc::clone(&site), Arc::clone(&state));
        async move { Ok::<_, Infallible>(handle(&request, peer, &site, &state).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// One request, through Mosquitto 2.1's steps.
async fn handle(
    request: &Request<Incoming>,
    peer: IpAddr,
    site: &ApiSite,
    state: &ApiState,
) -> Reply {
    let method = request.method();
    let path = request.uri().path();
    if method != Method::GET && !routes::is_client_delete(method, path) {
        return reply::error(reply::BAD_METHOD);
    }
    let api = path.get(..5).is_some_and(|head| head.eq_ignore_ascii_case("/api/"));
    let metrics = path == "/metrics";
    if !api && !metrics && site.http_root.is_none() {
        return dashboard::answer(path, request.headers().get(IF_NONE_MATCH));
    }
    let security = {
        let all = state.security.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.listeners.get(site.index).cloned()
    };
    let Some(security) = security else { return reply::error(reply::INTERNAL) };
    let gate = access::Gate {
        security: &security,
        admins: &site.admins,
        checker: &state.checker,
        budget: &state.budget,
    };
    let header = request.headers().get(AUTHORIZATION).map(hyper::header::HeaderValue::as_bytes);
    let Ok(who) = access::check(&gate, header, peer, path).await else {
        return reply::unauthorised();
    };
    if metrics {
        return reply::metrics(state.metrics.encode());
    }
    if api {
        let query = request.uri().query();
        return routes::answer(&state.asker, &state.listeners, &who, method, path, query).await;
    }
    match &site.http_root {
        Some(root) => match files::find(root, path).await {
            files::Found::File(bytes) => reply::file(bytes),
            files::Found::NotFound => reply::error(reply::NOT_FOUND),
        },
        None => reply::error(reply::NOT_FOUND),
    }
}
