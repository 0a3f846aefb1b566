//! The API's paths (`/api/v1/…`): Mosquitto 2.1's `version`, `listeners` and `systree`, and
//! culex's `clients`, `clients/{id}` (GET and DELETE), `subscriptions`, `retained` and
//! `sessions`, with their query parameters and JSON shapes (docs/http-api.md). Answers about
//! the broker's state come from the driver shards ([`Asker`]), merged there.

use std::time::{SystemTime, UNIX_EPOCH};

use hyper::Method;
use mqtt_codec::ProtocolVersion;
use mqtt_core::{ClientInfo, Page, PageRequest, RetainedInfo, SessionInfo, SubscriptionInfo};
use serde::Serialize;
use serde::ser::SerializeMap as _;

use super::access::Principal;
use super::asker::Asker;
use super::reply::{self, Reply};

/// `per_page` when not given.
const DEFAULT_PER_PAGE: usize = 50;
/// The largest `per_page`.
const MAX_PER_PAGE: usize = 1000;
/// The prefix of the one-client paths.
const CLIENT_PREFIX: &str = "/api/v1/clients/";

/// What the listeners endpoint shows of one listener, in 2.1's key order.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ListenerView {
    /// TCP port (the one bound, for port 0); absent for a Unix socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) port: Option<u16>,
    /// Unix socket path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    /// `mqtt`, `websockets` or `httpapi`.
    pub(crate) protocol: &'static str,
    /// Has `certfile` and `keyfile`.
    pub(crate) tls: bool,
    /// `require_certificate`.
    pub(crate) mtls: bool,
    /// Anonymous clients are allowed through it.
    pub(crate) allow_anonymous: bool,
}

/// Answers the API request `method path?query`; `None` for a path that is no API path (404).
pub(crate) async fn answer(
    asker: &Asker,
    listeners: &[ListenerView],
    who: &Principal,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Reply {
    let params = Params::parse(query);
    if let Some(id) = path.strip_prefix(CLIENT_PREFIX) {
        let Some(id) = crate::transport::ws::percent_decode(id).filter(|id| !id.is_empty()) else {
            return reply::error(reply::NOT_FOUND);
        };
        return if method == Method::DELETE {
            disconnect(asker, who, id).await
        } else {
            client(asker, listeners, id).await
        };
    }
    let paged_path =
        ["/api/v1/clients", "/api/v1/subscriptions", "/api/v1/retained", "/api/v1/sessions"];
    let page = match params.page() {
        Some(page) => page,
        None if paged_path.contains(&path) => return reply::error(reply::BAD_REQUEST),
        None => PageRequest { offset: 0, limit: DEFAULT_PER_PAGE },
    };
    match path {
        "/api/v1/version" => reply::api_text(env!("CARGO_PKG_VERSION")),
        "/api/v1/listeners" => {
            #[derive(Serialize)]
            struct Listeners<'a> {
                listeners: &'a [ListenerView],
            }
            reply::json(&Listeners { listeners })
        }
        "/api/v1/systree" => match asker.sys_values().await {
            Some(values) => reply::json(&SysTree(values)),
            None => reply::error(reply::INTERNAL),
        },
        "/api/v1/clients" => {
            let search = params.get("search");
            let answer = asker.clients(search, page).await;
            paged(answer, page, "clients", |client| client_json(&client, listeners))
        }
        "/api/v1/subscriptions" => {
            let prefix = params.get("topic");
            let answer = asker.subscriptions(prefix, page).await;
            paged(answer, page, "subscriptions", |sub| SubscriptionJson::from(&sub))
        }
        "/api/v1/retained" => {
            let prefix = params.get("prefix");
            let answer = asker.retained(prefix, page).await;
            paged(answer, page, "retained", |message| RetainedJson::from(&message))
        }
        "/api/v1/sessions" => {
            let answer = asker.sessions(page).await;
            paged(answer, page, "sessions", |session| SessionJson::from(&session))
        }
        _ => reply::error(reply::NOT_FOUND),
    }
}

/// Whether `method path` is the one request besides GET that the API takes: DELETE of a client.
pub(crate) fn is_client_delete(method: &Method, path: &str) -> bool {
    method == Method::DELETE && path.strip_prefix(CLIENT_PREFIX).is_some_and(|id| !id.is_empty())
}

/// `GET /api/v1/clients/{id}`.
async fn client(asker: &Asker, listeners: &[ListenerView], id: String) -> Reply {
    #[derive(Serialize)]
    struct OneClient {
        #[serde(flatten)]
        client: ClientJson,
        subscription_list: Vec<FilterJson>,
    }
    match asker.client(id).await {
        Some(Some((client, subscriptions))) => reply::json(&OneClient {
            client: client_json(&client, listeners),
            subscription_list: subscriptions
                .iter()
                .map(|sub| FilterJson { filter: sub.filter.clone(), qos: sub.qos as u8 })
                .collect(),
        }),
        Some(None) => reply::error(reply::NOT_FOUND),
        None => reply::error(reply::INTERNAL),
    }
}

/// `DELETE /api/v1/clients/{id}`: needs the `admin` right.
async fn disconnect(asker: &Asker, who: &Principal, id: String) -> Reply {
    if !who.admin {
        return if who.name.is_none() {
            reply::unauthorised()
        } else {
            reply::error(reply::FORBIDDEN)
        };
    }
    match asker.disconnect(id).await {
        Some(true) => reply::no_content(),
        Some(false) => reply::error(reply::NOT_FOUND),
        None => reply::error(reply::INTERNAL),
    }
}

/// One page as `{"<key>":[…],"page":P,"per_page":N,"total":T}`.
fn paged<T, J: Serialize>(
    answer: Option<Page<T>>,
    page: PageRequest,
    key: &'static str,
    to_json: impl Fn(T) -> J,
) -> Reply {
    let Some(answer) = answer else { return reply::error(reply::INTERNAL) };
    let items: Vec<J> = answer.items.into_iter().map(to_json).collect();
    let body = PageJson {
        key,
        items,
        page: page.offset / page.limit.max(1) + 1,
        per_page: page.limit,
        total: answer.total,
    };
    reply::json(&body)
}

/// A page's JSON; its list's key depends on the endpoint.
struct PageJson<J> {
    key: &'static str,
    items: Vec<J>,
    page: usize,
    per_page: usize,
    total: usize,
}

impl<J: Serialize> Serialize for PageJson<J> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry(self.key, &self.items)?;
        map.serialize_entry("page", &self.page)?;
        map.serialize_entry("per_page", &self.per_page)?;
        map.serialize_entry("total", &self.total)?;
        map.end()
    }
}

/// The systree object: `$SYS` topics as keys, integers as values, in order.
struct SysTree(Vec<(&'static str, i64)>);

impl Serialize for SysTree {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (topic, value) in &self.0 {
            map.serialize_entry(topic, value)?;
        }
        map.end()
    }
}

/// A client's `listener`: the port, or the Unix socket path.
#[derive(Serialize)]
#[serde(untagged)]
enum ListenerRef {
    Port(u16),
    Path(String),
}

/// CLIENT of the contract.
#[derive(Serialize)]
struct ClientJson {
    id: String,
    username: Option<String>,
    address: String,
    listener: Option<ListenerRef>,
    protocol: &'static str,
    keepalive: u16,
    clean_start: bool,
    session_expiry_interval: u32,
    connected_since: u64,
    subscriptions: usize,
    queued: usize,
    inflight: usize,
}

fn client_json(client: &ClientInfo, listeners: &[ListenerView]) -> ClientJson {
    let view = listeners.get(client.listener);
    let listener = view.and_then(|view| match (&view.path, view.port) {
        (Some(path), _) => Some(ListenerRef::Path(path.clone())),
        (None, Some(port)) => Some(ListenerRef::Port(port)),
        (None, None) => None,
    });
    let unix = view.is_some_and(|view| view.path.is_some());
    let address =
        if unix { client.address.clone() } else { socket_address(&client.address, client.port) };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    ClientJson {
        id: client.id.clone(),
        username: client.username.clone(),
        address,
        listener,
        protocol: match client.protocol {
            ProtocolVersion::V3_1 => "3.1",
            ProtocolVersion::V3_1_1 => "3.1.1",
            ProtocolVersion::V5 => "5.0",
        },
        keepalive: client.keep_alive,
        clean_start: client.clean_start,
        session_expiry_interval: client.session_expiry_interval,
        connected_since: now.saturating_sub(client.connected_for).as_secs(),
        subscriptions: client.subscriptions,
        queued: client.queued,
        inflight: client.inflight,
    }
}

/// `ip:port`, with an IPv6 address in brackets.
fn socket_address(ip: &str, port: u16) -> String {
    if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") }
}

#[derive(Serialize)]
struct FilterJson {
    filter: String,
    qos: u8,
}

#[derive(Serialize)]
struct SubscriptionJson {
    client_id: String,
    filter: String,
    qos: u8,
}

impl From<&SubscriptionInfo> for SubscriptionJson {
    fn from(sub: &SubscriptionInfo) -> Self {
        Self { client_id: sub.client_id.clone(), filter: sub.filter.clone(), qos: sub.qos as u8 }
    }
}

#[derive(Serialize)]
struct RetainedJson {
    topic: String,
    bytes: usize,
    qos: u8,
    preview: String,
}

impl From<&RetainedInfo> for RetainedJson {
    fn from(message: &RetainedInfo) -> Self {
        Self {
            topic: message.topic.clone(),
            bytes: message.bytes,
            qos: message.qos as u8,
            preview: String::from_utf8_lossy(&message.preview).into_owned(),
        }
    }
}

#[derive(Serialize)]
struct SessionJson {
    id: String,
    username: Option<String>,
    queued: usize,
    queued_bytes: usize,
    expires_in: Option<u64>,
}

impl From<&SessionInfo> for SessionJson {
    fn from(session: &SessionInfo) -> Self {
        Self {
            id: session.id.clone(),
            username: session.username.clone(),
            queued: session.queued,
            queued_bytes: session.queued_bytes,
            expires_in: session.expires_in.map(|left| left.as_secs()),
        }
    }
}

/// A query string's parameters, decoded (`+` is a space).
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: Option<&str>) -> Self {
        let decode = |text: &str| crate::transport::ws::percent_decode(&text.replace('+', " "));
        let pairs = query.into_iter().flat_map(|query| query.split('&')).filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(name)?, decode(value)?))
        });
        Self(pairs.collect())
    }

    /// The last value of `name`, if given and not empty.
    fn get(&self, name: &str) -> Option<String> {
        self.0.iter().rev().find(|(n, v)| n == name && !v.is_empty()).map(|(_, v)| v.clone())
    }

    /// `page` (from 1) and `per_page` (1 to [`MAX_PER_PAGE`], more is cut down to it);
    /// `None` when either is not a positive number.
    fn page(&self) -> Option<PageRequest> {
        let number = |name: &str, default: usize| match self.get(name) {
            None => Some(default),
            Some(text) => text.parse::<usize>().ok().filter(|&n| n > 0),
        };
        let page = number("page", 1)?;
        let limit = number("per_page", DEFAULT_PER_PAGE)?.min(MAX_PER_PAGE);
        Some(PageRequest { offset: (page - 1).saturating_mul(limit), limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_parameters_have_defaults_and_bounds() {
        let page = |query| Params::parse(Some(query)).page();
        assert_eq!(page(""), Some(PageRequest { offset: 0, limit: 50 }));
        assert_eq!(page("page=3&per_page=10"), Some(PageRequest { offset: 20, limit: 10 }));
        assert_eq!(page("per_page=5000"), Some(PageRequest { offset: 0, limit: 1000 }));
        for bad in ["page=0", "page=x", "per_page=-1", "per_page=0"] {
            assert_eq!(page(bad), None, "{bad}");
        }
        let params = Params::parse(Some("search=a%2Fb+c&topic="));
        assert_eq!((params.get("search").as_deref(), params.get("topic")), (Some("a/b c"), None));
    }

    #[test]
    fn addresses_show_their_port() {
        assert_eq!(socket_address("127.0.0.1", 5), "127.0.0.1:5");
        assert_eq!(socket_address("::1", 5), "[::1]:5");
    }
}
