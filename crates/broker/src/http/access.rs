//! Who may use an HTTP API listener, and for what. Credentials are HTTP Basic, checked through
//! the listener's password file as an MQTT CONNECT's would be (with the same anonymous rules:
//! without a password file a username is let in where anonymous clients are, as anonymous, since
//! nothing checked it), or a bearer token from `http_api_token_file`. Every request needs the `read` right; disconnecting a client
//! needs `admin`, which `http_api_admin` gives to named users and tokens. Anonymous requests get
//! `read` only, and only where the listener allows anonymous clients. With an `acl_file`,
//! Mosquitto 2.1's check stays: the URL path must be readable as a topic by client `http-api`.
//!
//! Wrong credentials are rate-limited per client address ([`FailureBudget`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use mqtt_core::acl::Access;

use crate::security::{ListenerSecurity, PasswordChecker};

/// The client id Mosquitto 2.1 gives the HTTP API's access checks.
const CLIENT_ID: &str = "http-api";

/// Failed attempts an address may make before it must wait.
pub(crate) const FREE_FAILURES: u32 = 5;
/// The first wait, doubled at each further failure.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Addresses remembered at most; when full, those not waiting are forgotten.
const MAX_ADDRESSES: usize = 4096;

/// Who is asking, once let in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Principal {
    /// The user or token name; `None` = anonymous.
    pub(crate) name: Option<String>,
    /// May disconnect clients.
    pub(crate) admin: bool,
}

/// Why a request is not let in: always answered 401 with no detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Unauthorised;

/// The credentials a request carries.
#[derive(Debug, PartialEq, Eq)]
enum Credentials {
    /// None.
    Anonymous,
    /// `Authorization: Basic`.
    Basic { username: String, password: String },
    /// `Authorization: Bearer`.
    Bearer(String),
    /// An `Authorization` header that is neither (or undecodable).
    Malformed,
}

/// The credentials of an `Authorization` header value (`None` = no header).
fn credentials(header: Option<&[u8]>) -> Credentials {
    let Some(header) = header else { return Credentials::Anonymous };
    let Ok(text) = std::str::from_utf8(header) else { return Credentials::Malformed };
    let (scheme, rest) = text.trim().split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok();
        let pair = decoded.and_then(|bytes| String::from_utf8(bytes).ok());
        return match pair.as_deref().and_then(|pair| pair.split_once(':')) {
            Some((username, password)) => {
                Credentials::Basic { username: username.to_owned(), password: password.to_owned() }
            }
            None => Credentials::Malformed,
        };
    }
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Credentials::Bearer(rest.to_owned());
    }
    Credentials::Malformed
}

/// What [`check`] needs to know of the listener.
pub(crate) struct Gate<'a> {
    /// Its security settings and files.
    pub(crate) security: &'a ListenerSecurity,
    /// `http_api_admin` names.
    pub(crate) admins: &'a [String],
    /// The bounded pool password hashes are checked on.
    pub(crate) checker: &'a PasswordChecker,
    /// The failure budget of client addresses.
    pub(crate) budget: &'a FailureBudget,
}

/// Lets a request from `peer` for `path` in, with the `Authorization` header `header`, or not.
pub(crate) async fn check(
    gate: &Gate<'_>,
    header: Option<&[u8]>,
    peer: IpAddr,
    path: &str,
) -> Result<Principal, Unauthorised> {
    let security = gate.security;
    let anonymous_ok = security.options.allow_anonymous;
    let given = credentials(header);
    if given != Credentials::Anonymous && gate.budget.waiting(peer, Instant::now()) {
        // No password check while the address waits: it learns nothing and costs nothing.
        return Err(Unauthorised);
    }
    let name = match given {
        Credentials::Anonymous if anonymous_ok => None,
        Credentials::Anonymous => return Err(Unauthorised),
        Credentials::Basic { username, password } => match &security.passwords {
            Some(passwords) => {
                let password = Some(bytes::Bytes::from(password));
                if !gate.checker.check(passwords, &username, password).await {
                    gate.budget.failed(peer, Instant::now());
                    return Err(Unauthorised);
                }
                Some(username)
            }
            // Let in as MQTT would let it in, but nothing vouches for the name: anonymous.
            None if anonymous_ok => None,
            None => {
                gate.budget.failed(peer, Instant::now());
                return Err(Unauthorised);
            }
        },
        Credentials::Bearer(token) => {
            let Some(name) = security.tokens.as_ref().and_then(|tokens| tokens.name_of(&token))
            else {
                gate.budget.failed(peer, Instant::now());
                return Err(Unauthorised);
            };
            Some(name.to_owned())
        }
        Credentials::Malformed => {
            gate.budget.failed(peer, Instant::now());
            return Err(Unauthorised);
        }
    };
    if let Some(acl) = &security.acl {
        if !acl.allowed(CLIENT_ID, name.as_deref(), path, Access::Read) {
            return Err(Unauthorised);
        }
    }
    if name.is_some() {
        gate.budget.succeeded(peer);
    }
    let admin = name.as_ref().is_some_and(|name| gate.admins.contains(name));
    Ok(Principal { name, admin })
}

/// Failed attempts per client address: [`FREE_FAILURES`] are free; each one after them makes
/// the address wait, [`FIRST_BACKOFF`] doubled per further failure up to [`MAX_BACKOFF`],
/// before its credentials are checked again. A success forgets the address.
#[derive(Debug, Default)]
pub(crate) struct FailureBudget {
    addresses: Mutex<HashMap<IpAddr, Failures>>,
}

/// One address's record.
#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    until: Option<Instant>,
}

impl FailureBudget {
    /// Whether `peer` must wait at `now`.
    fn waiting(&self, peer: IpAddr, now: Instant) -> bool {
        let addresses = self.addresses.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        addresses.get(&peer).and_then(|failures| failures.until).is_some_and(|until| now < until)
    }

    /// Counts a failure of `peer` at `now`.
    fn failed(&self, peer: IpAddr, now: Instant) {
        let mut addresses =
            self.addresses.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if addresses.len() >= MAX_ADDRESSES && !addresses.contains_key(&peer) {
            addresses.retain(|_, failures| failures.until.is_some_and(|until| now < until));
            if addresses.len() >= MAX_ADDRESSES {
                return;
            }
        }
        let failures = addresses.entry(peer).or_insert(Failures { count: 0, until: None });
        failures.count = failures.count.saturating_add(1);
        failures.until = backoff(failures.count).map(|wait| now + wait);
    }

    /// Forgets `peer`'s failures.
    fn succeeded(&self, peer: IpAddr) {
        let mut addresses =
            self.addresses.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        addresses.remove(&peer);
    }
}

/// How long an address waits after its `count`th failure.
fn backoff(count: u32) -> Option<Duration> {
    let over = count.checked_sub(FREE_FAILURES).filter(|&over| over > 0)?;
    let factor = 1_u32.checked_shl(over - 1).unwrap_or(u32::MAX);
    Some(FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers_are_read() {
        let cases: [(Option<&[u8]>, Credentials); 6] = [
            (None, Credentials::Anonymous),
            (
                Some(b"Basic dXNlcjpwYTpzcw=="),
                Credentials::Basic { username: "user".into(), password: "pa:ss".into() },
            ),
            (Some(b"bearer  tok"), Credentials::Bearer("tok".into())),
            (Some(b"Basic !!"), Credentials::Malformed),
            (Some(b"Basic dXNlcg=="), Credentials::Malformed),
            (Some(b"Digest x"), Credentials::Malformed),
        ];
        for (header, expected) in cases {
            assert_eq!(credentials(header), expected, "{header:?}");
        }
    }

    #[test]
    fn the_wait_doubles_after_the_free_failures() {
        let waits: Vec<_> = (1..=13).map(backoff).collect();
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(
            waits,
            [
                None,
                None,
                None,
                None,
                None,
                secs(1),
                secs(2),
                secs(4),
                secs(8),
                secs(16),
                secs(32),
                secs(60),
                secs(60)
            ]
        );
        assert_eq!(backoff(u32::MAX), secs(60));
    }

    #[test]
    fn an_address_waits_and_a_success_forgets_it() {
        let budget = FailureBudget::default();
        let (peer, other) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            budget.failed(peer, now);
        }
        assert!(!budget.waiting(peer, now));
        budget.failed(peer, now);
        assert!(budget.waiting(peer, now) && !budget.waiting(other, now));
        assert!(!budget.waiting(peer, now + FIRST_BACKOFF));
        budget.succeeded(peer);
        budget.failed(peer, now);
        assert!(!budget.waiting(peer, now), "counted from zero again");
    }
}
