//! Opening the byte stream to the broker: TCP (with `-A` bind address, `--nodelay` and the
//! [`crate::tcp`] socket options), Unix sockets, a SOCKS5 proxy (`--proxy socks5h://…`), TLS
//! on top of any of them, and WebSockets (`--ws`) on top of that.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UnixStream};

use crate::args::ProxyUrl;
use crate::error::ConnectError;
use crate::options::{ConnectOptions, Endpoint};
use crate::tcp::TcpOptions;

/// Any byte stream the client can speak MQTT over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open byte stream, with the TCP options its socket carries as the kernel reports them
/// (`None` when [`ConnectOptions::tcp`] sets none, or over a Unix socket).
pub type Opened = (Box<dyn Io>, Option<TcpOptions>);

/// Opens the connection described by `options`, including the TLS handshake and the
/// WebSocket upgrade.
///
/// # Errors
/// Name lookup, connect, socket option, proxy, TLS or upgrade failures.
pub async fn open(options: &ConnectOptions) -> Result<Opened, ConnectError> {
    let (stream, tcp) = open_tls(options).await?;
    if !options.websockets {
        return Ok((stream, tcp));
    }
    let (host, port) = match &options.endpoint {
        Endpoint::Tcp { host, port } => (host.as_str(), *port),
        Endpoint::Unix(_) => ("localhost", 0),
    };
    match crate::ws::connect(stream, host, port).await {
        Ok(stream) => Ok((Box::new(stream), tcp)),
        Err(tokio_tungstenite::tungstenite::Error::Io(err)) => Err(ConnectError::Io(err)),
        Err(err) => Err(ConnectError::Protocol(err.to_string())),
    }
}

/// Opens the byte stream, with TLS when enabled.
async fn open_tls(options: &ConnectOptions) -> Result<Opened, ConnectError> {
    let (stream, host, tcp): (Box<dyn Io>, String, _) = match (&options.endpoint, &options.proxy) {
        (Endpoint::Unix(path), _) => {
            let stream = UnixStream::connect(path).await.map_err(ConnectError::Io)?;
            (Box::new(stream), String::new(), None)
        }
        (Endpoint::Tcp { host, port }, Some(proxy)) => {
            let (mut stream, tcp) = tcp_connect(&proxy.host, proxy.port, options).await?;
            socks5_handshake(&mut stream, proxy, host, *port).await?;
            (Box::new(stream), host.clone(), tcp)
        }
        (Endpoint::Tcp { host, port }, None) => {
            let (stream, tcp) = tcp_connect(host, *port, options).await?;
            (Box::new(stream), host.clone(), tcp)
        }
    };
    let Some(settings) = &options.tls else { return Ok((stream, tcp)) };
    let config = crate::tls::client_config(settings).map_err(ConnectError::TlsSetup)?;
    let name = crate::tls::server_name(&host).map_err(ConnectError::TlsSetup)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let tls = connector.connect(name, stream).await.map_err(ConnectError::TlsHandshake)?;
    Ok((Box::new(tls), tcp))
}

/// Resolves `host` and connects to the first address that answers, from `-A` if given, with
/// the socket options of `options.tcp` (read back once connected, when any are set).
async fn tcp_connect(
    host: &str,
    port: u16,
    options: &ConnectOptions,
) -> Result<(TcpStream, Option<TcpOptions>), ConnectError> {
    let addresses = resolve(host, port)?;
    let bind = match &options.bind_address {
        Some(bind) => Some(resolve(bind, 0)?),
        None => None,
    };
    let mut last_error = io::Error::from(io::ErrorKind::NotFound);
    for address in addresses {
        let socket = match address {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(ConnectError::Io)?;
        crate::tcp::apply(&socket, &options.tcp).map_err(ConnectError::Io)?;
        if let Some(bind) = &bind {
            let Some(local) = bind.iter().find(|local| local.is_ipv4() == address.is_ipv4()) else {
                continue;
            };
            if let Err(err) = socket.bind(*local) {
                last_error = err;
                continue;
            }
        }
        match socket.connect(address).await {
            Ok(stream) => {
                if options.nodelay {
                    stream.set_nodelay(true).map_err(ConnectError::Io)?;
                }
                let tcp = if options.tcp.is_set() {
                    Some(crate::tcp::read_back(&stream).map_err(ConnectError::Io)?)
                } else {
                    None
                };
                return Ok((stream, tcp));
            }
            Err(err) => last_error = err,
        }
    }
    Err(ConnectError::Io(last_error))
}

/// Resolves a host name on the calling thread. A CLI connects once and does nothing else
/// meanwhile, so blocking here is cheaper than starting tokio's blocking-thread pool.
fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
    use std::net::ToSocketAddrs;
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    (host, port).to_socket_addrs().map(Iterator::collect).map_err(|_| ConnectError::Lookup)
}

/// RFC 1928 CONNECT through the proxy, with RFC 1929 user/password when the URL has a user.
async fn socks5_handshake(
    stream: &mut TcpStream,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<(), ConnectError> {
    let failed = |what: &str| ConnectError::Proxy(what.to_owned());
    // The proxy closing or failing mid-handshake is reported as Mosquitto reports it.
    let io_failed = |_: io::Error| ConnectError::Lost;
    let greeting: &[u8] = if proxy.username.is_some() { &[5, 2, 0, 2] } else { &[5, 1, 0] };
    stream.write_all(greeting).await.map_err(io_failed)?;
    let mut reply = [0u8; 2];
    stream.read_exact(&mut reply).await.map_err(io_failed)?;
    match reply {
        [5, 0] => {}
        [5, 2] => {
            let user = proxy.username.as_deref().unwrap_or_default().as_bytes();
            let pass = proxy.password.as_deref().unwrap_or_default().as_bytes();
            let (Ok(user_len), Ok(pass_len)) = (u8::try_from(user.len()), u8::try_from(pass.len()))
            else {
                return Err(failed("proxy user name or password longer than 255 bytes"));
            };
            let mut auth = vec![1, user_len];
            auth.extend_from_slice(user);
            auth.push(pass_len);
            auth.extend_from_slice(pass);
            stream.write_all(&auth).await.map_err(io_failed)?;
            stream.read_exact(&mut reply).await.map_err(io_failed)?;
            if reply[1] != 0 {
                return Err(failed("the proxy refused the user name or password"));
            }
        }
        _ => return Err(failed("the proxy accepts none of our authentication methods")),
    }
    let mut request = vec![5, 1, 0];
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            request.push(1);
            request.extend_from_slice(&ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            request.push(4);
            request.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            let Ok(len) = u8::try_from(host.len()) else {
                return Err(failed("host name longer than 255 bytes"));
            };
            request.push(3);
            request.push(len);
            request.extend_from_slice(host.as_bytes());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    stream.write_all(&request).await.map_err(io_failed)?;
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await.map_err(io_failed)?;
    if head[0] != 5 || head[1] != 0 {
        return Err(ConnectError::Proxy(format!(
            "the proxy could not connect (reply {})",
            head[1]
        )));
    }
    let address_len = match head[3] {
        1 => 4,
        4 => 16,
        3 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len).await.map_err(io_failed)?;
            usize::from(len[0])
        }
        _ => return Err(failed("malformed proxy reply")),
    };
    let mut rest = vec![0u8; address_len + 2];
    stream.read_exact(&mut rest).await.map_err(io_failed)?;
    Ok(())
}
