//! Listening sockets: binding (synchronously, before the runtime starts, so that `-d` can fork
//! after the listeners are open) TCP sockets and Unix sockets (`listener 0 PATH`), reading a
//! TLS listener's files, and the accept loops: the per-listener `max_connections` limit and
//! the broker's `global_max_connections`, connection ids, and one task per accepted
//! connection (after the listener's PROXY header and handshakes, if it has any). A
//! `protocol http_api` listener is opened here too (on loopback when it names no address)
//! and served by the `http` module.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use culex_compat::strerror;
use mqtt_core::{ConnId, PeerInfo};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::watch;

use crate::config::Protocol as ListenerProtocol;
use crate::config::{ListenSpec, ListenerConfig, SocketDomain};
use crate::connection::{self, Connection, ConnectionSlot, Shared};
use crate::http::{ApiSite, ApiState};
use crate::log;
use crate::log::Logger;
use crate::os::{self, InterfaceAddress};
use crate::trace;
use crate::transport::tls::TlsError;
use crate::transport::ws::HttpSettings;
use crate::transport::{Transport, Upgraded, Upgrades};

/// The permissions of a Unix socket listener's file, as Mosquitto 2.0.11 sets them
/// (`srwxrwx---`): the broker's user and group may connect.
const UNIX_SOCKET_MODE: u32 = 0o770;

/// One bound socket and the settings of the listener it belongs to.
#[derive(Debug)]
pub struct Listener {
    pub(crate) socket: Bound,
    pub(crate) settings: ListenerConfig,
    /// The listener's index ([`ListenSpec::listener`]): which security settings apply.
    pub(crate) index: usize,
    /// Connections currently open through this socket's listener, for `max_connections`.
    pub(crate) open: Arc<AtomicUsize>,
    /// The PROXY header, TLS and WebSocket layers; `None` for plain MQTT.
    pub(crate) upgrades: Option<Arc<Upgrades>>,
    /// Set on a `protocol http_api` listener, which serves HTTP instead of MQTT.
    pub(crate) api: Option<Arc<ApiSite>>,
}

impl Listener {
    /// Binds `addr` (port 0 picks a free port) with default listener settings, as the first
    /// listener of the configuration (index 0); for tests and embedding.
    ///
    /// # Errors
    /// When the socket cannot be bound.
    pub fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            socket: Bound::Tcp(bind_socket(addr)?),
            settings: ListenerConfig::default(),
            index: 0,
            open: Arc::default(),
            upgrades: None,
            api: None,
        })
    }

    /// Whether it serves MQTT (not the HTTP API): a broker needs one such socket to start.
    pub fn serves_mqtt(&self) -> bool {
        self.api.is_none()
    }

    /// Its index among the listeners in force.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The TCP address actually bound.
    ///
    /// # Errors
    /// For a Unix socket listener, which has none.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.socket {
            Bound::Tcp(socket) => socket.local_addr(),
            Bound::Unix(_, path) => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("{} is a Unix socket", path.display()),
            )),
        }
    }

    /// Replaces the listener settings (e.g. `max_connections`).
    #[must_use]
    pub fn with_settings(mut self, settings: ListenerConfig) -> Self {
        self.settings = settings;
        self
    }

    /// Hands the socket to the runtime and spawns its accept loop, which runs until `stop`
    /// flips.
    ///
    /// # Errors
    /// When the socket cannot be registered with the runtime.
    pub(crate) fn spawn(
        self,
        shared: Arc<Shared>,
        api: &Arc<ApiState>,
        stop: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        match self.socket {
            Bound::Tcp(socket) if self.api.is_some() => {
                let tcp = tokio::net::TcpListener::from_std(socket)?;
                if let Some(site) = self.api {
                    tokio::spawn(crate::http::serve(tcp, site, Arc::clone(api), stop));
                }
            }
            Bound::Tcp(socket) => {
                let tcp = tokio::net::TcpListener::from_std(socket)?;
                tokio::spawn(accept_loop(
                    tcp,
                    self.upgrades,
                    self.settings,
                    self.index,
                    self.open,
                    shared,
                    stop,
                ));
            }
            Bound::Unix(socket, path) => {
                let unix = tokio::net::UnixListener::from_std(socket)?;
                let file = SocketFile(path);
                let limit = self.settings.max_connections;
                tokio::spawn(accept_unix(unix, file, limit, self.index, self.open, shared, stop));
            }
        }
        Ok(())
    }
}

/// A bound listening socket.
#[derive(Debug)]
pub(crate) enum Bound {
    /// A TCP socket.
    Tcp(std::net::TcpListener),
    /// A Unix socket and the path of its file.
    Unix(UnixListener, PathBuf),
}

/// A Unix socket listener's file, removed when its accept loop ends (Mosquitto removes it at
/// exit).
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Accepts connections on a Unix socket until `stop` flips. Its clients' address is the
/// socket's path and their port 0, as in Mosquitto's `New connection from <path>:0 on port 0.`
async fn accept_unix(
    unix: tokio::net::UnixListener,
    file: SocketFile,
    limit: Option<u32>,
    index: usize,
    open: Arc<AtomicUsize>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let address = file.0.display().to_string();
    let mut failures = AcceptFailures::default();
    loop {
        let accepted = tokio::select! {
            accepted = unix.accept() => accepted,
            _ = stop.changed() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                failures.failed(&shared, &err).await;
                continue;
            }
        };
        failures.accepted(&shared);
        let Some(slot) = ConnectionSlot::acquire(&shared.connections, &open, limit) else {
            trace::max_connections(&shared.logger, &address);
            continue;
        };
        let peer = PeerInfo {
            address: address.as_str().into(),
            port: 0,
            listener: index,
            certificate_username: None,
        };
        trace::new_connection(&shared.logger, &peer, 0);
        if !admit(stream, peer, &shared, slot) {
            return; // the driver has stopped
        }
    }
}

/// How long an accept loop waits after a failed accept (out of file descriptors and
/// similar) before it tries again, instead of spinning on the same error.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// One accept loop's run of failed accepts. While the process is out of file descriptors every
/// accept fails at once, again and again: the first failure of a run is logged, the rest are
/// not, and the first success after it says that accepting works again.
#[derive(Default)]
struct AcceptFailures {
    /// Whether the last accept failed.
    failing: bool,
}

impl AcceptFailures {
    /// Logs `err` if it starts a run of failures, then backs off for [`ACCEPT_RETRY`].
    async fn failed(&mut self, shared: &Shared, err: &std::io::Error) {
        if !self.failing {
            self.failing = true;
            log!(
                shared.logger,
                ERROR,
                "Error: accepting a connection: {} (not logged again until accepting works).",
                strerror(err)
            );
        }
        tokio::time::sleep(ACCEPT_RETRY).await;
    }

    /// Ends a run of failures with a log line, after an accept that worked.
    fn accepted(&mut self, shared: &Shared) {
        if std::mem::take(&mut self.failing) {
            log!(shared.logger, NOTICE, "Accepting connections again.");
        }
    }
}

/// Starts the task of an accepted connection that needs no handshake (the driver that owns
/// it learns of it with its first packet). `false` when the drivers have stopped.
fn admit<S: Transport + 'static>(
    stream: S,
    peer: PeerInfo,
    shared: &Arc<Shared>,
    slot: ConnectionSlot,
) -> bool {
    if shared.shards.stopped() {
        return false;
    }
    let conn = ConnId(shared.next_conn.fetch_add(1, Ordering::Relaxed));
    tokio::spawn(Connection::new(stream, conn, peer, Arc::clone(shared), slot).task());
    true
}

/// Accepts connections until `stop` flips, spawning one task per connection.
async fn accept_loop(
    tcp: tokio::net::TcpListener,
    upgrades: Option<Arc<Upgrades>>,
    settings: ListenerConfig,
    index: usize,
    open: Arc<AtomicUsize>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let port = tcp.local_addr().map_or(settings.port, |addr| addr.port());
    let mut failures = AcceptFailures::default();
    loop {
        let accepted = tokio::select! {
            accepted = tcp.accept() => accepted,
            _ = stop.changed() => return,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                failures.failed(&shared, &err).await;
                continue;
            }
        };
        failures.accepted(&shared);
        let ip = match addr.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let peer = PeerInfo {
            address: ip.to_string().into(),
            port: addr.port(),
            listener: index,
            certificate_username: None,
        };
        if shared.set_tcp_nodelay.load(Ordering::Relaxed) {
            let _ = stream.set_nodelay(true);
        }
        if let Some(upgrades) = upgrades.as_ref().filter(|upgrades| upgrades.reads_proxy_header()) {
            // The PROXY header names the client that the limit and the log lines are about.
            let (upgrades, open, shared) =
                (Arc::clone(upgrades), Arc::clone(&open), Arc::clone(&shared));
            let limit = settings.max_connections;
            tokio::spawn(serve_proxied(stream, upgrades, peer, port, open, limit, shared));
            continue;
        }
        let Some(slot) =
            ConnectionSlot::acquire(&shared.connections, &open, settings.max_connections)
        else {
            trace::max_connections(&shared.logger, &peer.address);
            continue;
        };
        trace::new_connection(&shared.logger, &peer, port);
        if let Some(upgrades) = &upgrades {
            // TLS and WebSocket handshakes run in the connection's task, not here.
            let conn = ConnId(shared.next_conn.fetch_add(1, Ordering::Relaxed));
            let shared = Arc::clone(&shared);
            tokio::spawn(serve_upgraded(stream, Arc::clone(upgrades), conn, peer, shared, slot));
            continue;
        }
        if !admit(stream, peer, &shared, slot) {
            return; // the driver has stopped
        }
    }
}

/// Serves one accepted socket of a listener that reads PROXY headers: the header, then (for
/// the client it names) `max_connections` (`open` connections of the listener, `limit`) and the
/// `New connection` line, then the handshakes and the connection task. A refused header closes
/// the socket; the driver never hears of it.
async fn serve_proxied(
    mut stream: tokio::net::TcpStream,
    upgrades: Arc<Upgrades>,
    mut peer: PeerInfo,
    listener_port: u16,
    open: Arc<AtomicUsize>,
    limit: Option<u32>,
    shared: Arc<Shared>,
) {
    let aborted = shared.aborted.clone();
    if !upgrades.read_proxy_header(&mut stream, &mut peer, &shared.logger, aborted).await {
        return;
    }
    let Some(slot) = ConnectionSlot::acquire(&shared.connections, &open, limit) else {
        trace::max_connections(&shared.logger, &peer.address);
        return;
    };
    trace::new_connection(&shared.logger, &peer, listener_port);
    let conn = ConnId(shared.next_conn.fetch_add(1, Ordering::Relaxed));
    serve_upgraded(stream, upgrades, conn, peer, shared, slot).await;
}

/// Serves one accepted socket of a listener with upgrades: handshakes, then the connection
/// task. A failed handshake is logged and the socket closed; the driver never hears of it.
async fn serve_upgraded(
    stream: tokio::net::TcpStream,
    upgrades: Arc<Upgrades>,
    conn: ConnId,
    mut peer: PeerInfo,
    shared: Arc<Shared>,
    slot: ConnectionSlot,
) {
    let aborted = shared.aborted.clone();
    let limit = shared.packet_limit();
    // Boxed, here and below: this task's future is as large as the largest state it can be
    // in, and every connection keeps it for its whole life. The handshake's state (rustls's,
    // the request head's) is freed once it is done, and a connection keeps only the state of
    // its own layering, not that of the largest one.
    let handshake = upgrades.handshake(stream, &mut peer, limit, &shared.logger, aborted);
    let Some(stream) = Box::pin(handshake).await else {
        return;
    };
    match stream {
        Upgraded::Plain(stream) => {
            Box::pin(connection::serve(stream, conn, peer, shared, slot)).await;
        }
        Upgraded::Tls(stream) => {
            Box::pin(connection::serve(stream, conn, peer, shared, slot)).await;
        }
        Upgraded::Ws(stream) => {
            Box::pin(connection::serve(stream, conn, peer, shared, slot)).await;
        }
        Upgraded::WsOverTls(stream) => {
            Box::pin(connection::serve(stream, conn, peer, shared, slot)).await;
        }
    }
}

/// Opens the sockets of one configured listener, logging Mosquitto's
/// `Opening ipv4 listen socket on port N.` lines (one `Opening websockets listen socket on
/// port N.` line for a WebSockets listener). A listener without a bind address gets one
/// socket per address family; a family that cannot be bound is logged and skipped, as Mosquitto
/// does. Listeners sharing a connection limit share one counter. A TLS listener's files are
/// read here, as Mosquitto reads them when it opens the listener.
///
/// # Errors
/// When the TLS files or options cannot be used, or `bind_interface` cannot be honoured
/// (already logged; Mosquitto then exits 1).
pub fn open(spec: &ListenSpec, logger: &Logger) -> Result<Vec<Listener>, OpenError> {
    if let Some(path) = &spec.settings.unix_socket {
        return open_unix(path, spec, logger).map(|listener| vec![listener]);
    }
    if spec.settings.protocol == ListenerProtocol::HttpApi {
        return Ok(open_http_api(spec, logger));
    }
    let addresses: Vec<SocketAddr> = match &spec.host {
        None => vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), spec.port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), spec.port),
        ],
        Some(host) => match (host.as_str(), spec.port).to_socket_addrs() {
            Ok(found) => found.collect(),
            Err(err) => {
                log!(logger, ERROR, "Error: {err}");
                return Ok(Vec::new());
            }
        },
    };
    // `socket_domain`: only that family, whether the addresses come from a bind address or not.
    let addresses: Vec<SocketAddr> = addresses
        .into_iter()
        .filter(|addr| match spec.settings.socket_domain {
            Some(SocketDomain::Ipv4) => addr.is_ipv4(),
            Some(SocketDomain::Ipv6) => addr.is_ipv6(),
            None => true,
        })
        .collect();
    let open = Arc::new(AtomicUsize::new(0));
    let websockets = spec.settings.protocol == crate::config::Protocol::WebSockets;
    let http = http_settings(spec, websockets, logger)?;
    // Port 0 (a culex extension, see docs/mosquitto-differences.md): the OS picks a free port,
    // and the `Opening` line, printed once the socket is bound, names the port it picked.
    let ephemeral = spec.port == 0;
    if websockets && !ephemeral {
        log!(logger, INFORMATION, "Opening websockets listen socket on port {}.", spec.port);
    }
    let mut sockets = Vec::new();
    for addr in addresses {
        let family = if addr.is_ipv4() { "ipv4" } else { "ipv6" };
        if !websockets && !ephemeral {
            log!(logger, INFORMATION, "Opening {family} listen socket on port {}.", spec.port);
        }
        // `bind_interface`, checked after the `Opening` line as Mosquitto does.
        let addr = match &spec.settings.bind_interface {
            Some(interface) => {
                let host = spec.host.as_deref();
                match on_interface(interface, &[addr], host, os::interface_addresses) {
                    Ok(found) => found.first().copied().unwrap_or(addr),
                    Err(line) => {
                        log!(logger, ERROR, "{line}");
                        return Err(OpenError::Interface(line));
                    }
                }
            }
            None => addr,
        };
        let bound = bind_socket(addr);
        if ephemeral {
            let port =
                bound.as_ref().ok().and_then(|s| s.local_addr().ok()).map_or(0, |a| a.port());
            if !websockets {
                log!(logger, INFORMATION, "Opening {family} listen socket on port {port}.");
            } else if sockets.is_empty() {
                log!(logger, INFORMATION, "Opening websockets listen socket on port {port}.");
            }
        }
        match bound {
            Ok(socket) => sockets.push(socket),
            Err(err) => {
                log!(logger, ERROR, "Error: {}", strerror(&err));
                if spec.port < 1024 && err.kind() == std::io::ErrorKind::PermissionDenied {
                    log!(
                        logger,
                        ERROR,
                        "If you are trying to bind to a privileged port (<1024), try using setcap and do not start the broker as root:"
                    );
                }
            }
        }
    }
    let upgrades = Upgrades::of(&spec.settings, http).inspect_err(|err| {
        for line in &err.lines {
            log!(logger, ERROR, "{line}");
        }
    })?;
    Ok(sockets
        .into_iter()
        .map(|socket| Listener {
            socket: Bound::Tcp(socket),
            settings: spec.settings.clone(),
            index: spec.listener,
            open: Arc::clone(&open),
            upgrades: upgrades.clone(),
            api: None,
        })
        .collect())
}

/// Opens a `protocol http_api` listener as Mosquitto 2.1 does, except that without a bind
/// address it listens on loopback only (127.0.0.1 and ::1; 2.1: every interface). Logs
/// `Opening http api listen socket on port N.` and `Using http_dir DIR`. Nothing here stops
/// the broker: a listener that cannot be set up is logged and left out.
fn open_http_api(spec: &ListenSpec, logger: &Logger) -> Vec<Listener> {
    let settings = &spec.settings;
    let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)];
    let addresses: Vec<SocketAddr> = match &spec.host {
        None => loopback.iter().map(|ip| SocketAddr::new(*ip, spec.port)).collect(),
        Some(host) => match (host.as_str(), spec.port).to_socket_addrs() {
            // Only the first address, as 2.1 takes the first getaddrinfo result.
            Ok(mut found) => found.next().into_iter().collect(),
            Err(_) => {
                log!(logger, ERROR, "Unable to start http api listener.");
                return Vec::new();
            }
        },
    };
    let addresses = addresses.into_iter().filter(|addr| match settings.socket_domain {
        Some(SocketDomain::Ipv4) => addr.is_ipv4(),
        Some(SocketDomain::Ipv6) => addr.is_ipv6(),
        None => true,
    });
    let mut sockets: Vec<std::net::TcpListener> = Vec::new();
    for addr in addresses {
        // Port 0: every family on the port the first one got.
        let port =
            sockets.first().and_then(|s| s.local_addr().ok()).map_or(addr.port(), |a| a.port());
        match bind_socket(SocketAddr::new(addr.ip(), port)) {
            Ok(socket) => sockets.push(socket),
            // ::1 is missing in some containers: 127.0.0.1 alone is enough.
            Err(_) if spec.host.is_none() && addr.is_ipv6() && !sockets.is_empty() => {}
            Err(err) => log!(logger, ERROR, "Error: {}", strerror(&err)),
        }
    }
    let Some(port) = sockets.first().and_then(|s| s.local_addr().ok()).map(|a| a.port()) else {
        log!(logger, ERROR, "Unable to start http api listener, could not find address.");
        return Vec::new();
    };
    log!(logger, INFORMATION, "Opening http api listen socket on port {port}.");
    let http_root = match &settings.http_dir {
        Some(dir) => {
            log!(logger, INFORMATION, "Using http_dir {dir}");
            match std::fs::canonicalize(dir) {
                Ok(root) if root.is_dir() => Some(root),
                _ => {
                    log!(logger, ERROR, "Error: Unable to open http dir \"{dir}\".");
                    return Vec::new();
                }
            }
        }
        None => None,
    };
    let tls = if settings.tls.enabled() {
        match crate::transport::tls::TlsListener::new(&settings.tls) {
            Ok(tls) => Some(tls),
            Err(err) => {
                for line in &err.lines {
                    log!(logger, ERROR, "{line}");
                }
                return Vec::new();
            }
        }
    } else {
        let exposed =
            sockets.iter().filter_map(|s| s.local_addr().ok()).any(|a| !a.ip().is_loopback());
        if exposed {
            log!(
                logger,
                WARNING,
                "Warning: The http api listener on port {port} is reachable from the network without TLS: passwords and tokens sent to it can be read on the way. Give it certfile and keyfile."
            );
        }
        None
    };
    let site = Arc::new(ApiSite {
        index: spec.listener,
        tls,
        http_root,
        admins: settings.http_api_admins.clone(),
        slots: settings.max_connections.map(|limit| {
            Arc::new(tokio::sync::Semaphore::new(usize::try_from(limit).unwrap_or(usize::MAX)))
        }),
    });
    sockets
        .into_iter()
        .map(|socket| Listener {
            socket: Bound::Tcp(socket),
            settings: settings.clone(),
            index: spec.listener,
            open: Arc::default(),
            upgrades: None,
            api: Some(Arc::clone(&site)),
        })
        .collect()
}

/// What a WebSockets listener does with HTTP requests: `websockets_headers_size` and its
/// `http_dir`, resolved now (Mosquitto opens the directory when it creates the listener).
///
/// # Errors
/// When the `http_dir` of a WebSockets listener cannot be resolved (logged as Mosquitto
/// logs it).
fn http_settings(
    spec: &ListenSpec,
    websockets: bool,
    logger: &Logger,
) -> Result<HttpSettings, OpenError> {
    let http_root = match &spec.settings.http_dir {
        Some(dir) if websockets => match std::fs::canonicalize(dir) {
            Ok(root) if root.is_dir() => Some(root),
            _ => {
                log!(logger, ERROR, "Error: Unable to open http dir \"{dir}\".");
                let line =
                    format!("Error: Unable to create websockets listener on port {}.", spec.port);
                log!(logger, ERROR, "{line}");
                return Err(OpenError::HttpDir(line));
            }
        },
        _ => None,
    };
    Ok(HttpSettings {
        head_limit: spec.websockets_headers_size,
        http_root,
        log_level: spec.websockets_log_level,
        origins: spec.settings.websockets_origins.clone(),
    })
}

/// Opens a Unix socket listener (`listener 0 PATH`) as Mosquitto does: logs `Opening unix
/// listen socket on path PATH.`, replaces whatever file is at `PATH`, and gives the socket
/// mode 0770. A socket that cannot be bound logs `Error binding unix socket: <reason>` and
/// stops the broker (exit status 1), as in Mosquitto.
fn open_unix(path: &str, spec: &ListenSpec, logger: &Logger) -> Result<Listener, OpenError> {
    log!(logger, INFORMATION, "Opening unix listen socket on path {path}.");
    let bind = || {
        match std::fs::remove_file(path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
        let socket = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(UNIX_SOCKET_MODE))?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    };
    match bind() {
        Ok(socket) => Ok(Listener {
            socket: Bound::Unix(socket, PathBuf::from(path)),
            settings: spec.settings.clone(),
            index: spec.listener,
            open: Arc::default(),
            upgrades: None,
            api: None,
        }),
        Err(err) => {
            let line = format!("Error binding unix socket: {}", strerror(&err));
            log!(logger, ERROR, "{line}");
            Err(OpenError::UnixSocket(line))
        }
    }
}

/// Why a listener could not be opened (already logged; Mosquitto then exits 1).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Its TLS files or options cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// `bind_interface`: the interface has no address of a family the listener opens, or
    /// not the listener's address (the logged line).
    #[error("{0}")]
    Interface(String),
    /// A Unix socket listener's socket could not be bound (the logged line).
    #[error("{0}")]
    UnixSocket(String),
    /// A WebSockets listener's `http_dir` cannot be opened (the logged line).
    #[error("{0}")]
    HttpDir(String),
}

/// `bind_interface`: each address replaced by `interface`'s first address of its family, as
/// Mosquitto 2.0 does. With a bind address (`host`), the interface's address must be it.
/// `list` lists the machine's interface addresses.
fn on_interface(
    interface: &str,
    addresses: &[SocketAddr],
    host: Option<&str>,
    list: fn() -> std::io::Result<Vec<InterfaceAddress>>,
) -> Result<Vec<SocketAddr>, String> {
    let known = list().map_err(|err| format!("Error: {}", strerror(&err)))?;
    addresses
        .iter()
        .map(|addr| {
            let found = known.iter().find(|(name, ip, _)| {
                name.eq_ignore_ascii_case(interface) && ip.is_ipv4() == addr.is_ipv4()
            });
            let Some((_, ip, scope)) = found else {
                let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
                return Err(format!(
                    "Warning: Interface {interface} does not support {family} configuration."
                ));
            };
            if let Some(host) = host.filter(|_| *ip != addr.ip()) {
                return Err(format!(
                    "Error: Interface address for {interface} does not match specified listener \
                     address ({host})."
                ));
            }
            Ok(match ip {
                IpAddr::V4(v4) => SocketAddr::new(IpAddr::V4(*v4), addr.port()),
                IpAddr::V6(v6) => SocketAddrV6::new(*v6, addr.port(), 0, *scope).into(),
            })
        })
        .collect()
}

/// Binds a non-blocking listening socket with SO_REUSEADDR; IPv6 sockets are IPv6-only so that
/// an IPv4 socket can share the port.
fn bind_socket(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_ipv6_sockets_share_a_port() {
        let v4 = bind_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = v4.local_addr().unwrap().port();
        // ::1 may be missing in some containers; only check that binding does not clash.
        if let Err(err) = bind_socket(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)) {
            assert_ne!(err.kind(), std::io::ErrorKind::AddrInUse);
        }
    }

    fn fake_interfaces() -> std::io::Result<Vec<InterfaceAddress>> {
        Ok(vec![
            ("lo".to_owned(), IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            ("lo".to_owned(), IpAddr::V6(Ipv6Addr::LOCALHOST), 0),
            ("eth0".to_owned(), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 0),
        ])
    }

    #[test]
    fn bind_interface_uses_the_interface_address_of_each_family() {
        let any = [
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 1883),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 1883),
        ];
        let lo = on_interface("LO", &any, None, fake_interfaces).unwrap();
        assert_eq!(lo, vec!["127.0.0.1:1883".parse().unwrap(), "[::1]:1883".parse().unwrap()]);
        assert_eq!(
            on_interface("eth0", &any, None, fake_interfaces),
            Err("Warning: Interface eth0 does not support IPv6 configuration.".to_owned())
        );
        assert_eq!(
            on_interface("nope0", &any[..1], None, fake_interfaces),
            Err("Warning: Interface nope0 does not support IPv4 configuration.".to_owned())
        );
        let local = ["127.0.0.1:1883".parse().unwrap()];
        assert_eq!(
            on_interface("eth0", &local, Some("127.0.0.1"), fake_interfaces),
            Err("Error: Interface address for eth0 does not match specified listener address \
                 (127.0.0.1)."
                .to_owned())
        );
        assert_eq!(
            on_interface("lo", &local, Some("127.0.0.1"), fake_interfaces),
            Ok(local.to_vec())
        );
        assert!(os::interface_addresses().unwrap().iter().any(|(_, ip, _)| ip.is_loopback()));
    }
}
