//! Plain HTTP on a WebSockets listener: the request head read before the upgrade (bounded by
//! `websockets_headers_size`), and the static files of `http_dir` answered the way
//! Mosquitto 2.0.11 (through libwebsockets) answers them: `HTTP/1.0 200` with the file,
//! `302` for a directory named without its `/`, and libwebsockets' HTML page for 403, 404
//! and 405. Nothing outside the directory is served: the path is normalised, then resolved
//! with symbolic links, and a result outside the directory is refused.

use std::path::{Component, Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::log;
use crate::log::Logger;

/// An HTTP request head: what the upgrade and the file server need of it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head {
    /// The method, as sent.
    method: String,
    /// The request target, query string included.
    target: String,
    /// Whether an `Upgrade` header names `websocket`.
    upgrade: bool,
    /// The `Origin` header's value, trimmed.
    origin: Option<String>,
}

impl Head {
    /// The request line and headers of `bytes` (the head, blank line included); `None` when
    /// the request line is not `METHOD TARGET VERSION`.
    pub(super) fn parse(bytes: &[u8]) -> Option<Self> {
        let text = String::from_utf8_lossy(bytes);
        let mut lines = text.split("\r\n");
        let mut request = lines.next()?.split(' ');
        let (method, target, _version) = (request.next()?, request.next()?, request.next()?);
        let headers: Vec<(&str, &str)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim(), value.trim()))
            .collect();
        let upgrade = headers.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("upgrade")
                && value.split(',').any(|token| token.trim().eq_ignore_ascii_case("websocket"))
        });
        let origin = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("origin"))
            .map(|(_, value)| (*value).to_owned());
        Some(Self { method: method.to_owned(), target: target.to_owned(), upgrade, origin })
    }

    /// Whether the client asks for the WebSocket upgrade.
    pub(super) fn is_upgrade(&self) -> bool {
        self.upgrade
    }

    /// The `Origin` header, when the request has one.
    pub(super) fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }
}

/// Reads `stream` up to the blank line that ends the request head. Returns every byte read
/// (a client may send more after the head) and the head's length.
///
/// # Errors
/// When the head grows past `limit` bytes, the stream ends first, or the socket fails.
pub(super) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    limit: usize,
) -> std::io::Result<(Vec<u8>, usize)> {
    let mut buffer = Vec::with_capacity(1024.min(limit));
    let mut chunk = [0_u8; 1024];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            if end + 4 <= limit {
                return Ok((buffer, end + 4));
            }
        }
        if buffer.len() >= limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("HTTP request head longer than {limit} bytes (websockets_headers_size)"),
            ));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// What a request for a file gets.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// The file at this (resolved) path.
    File(PathBuf),
    /// A directory named without its trailing `/`: go to this location.
    Redirect(String),
    /// An error status: 403, 404 or 405.
    Error(u16),
    /// A method libwebsockets does not know: its 403 page, over HTTP/1.0.
    UnknownMethod,
}

/// Answers `head` from the files under `root` (canonical), then closes the connection. Logs
/// `http serving file "<path>".` (debug) for each file sent.
///
/// # Errors
/// When the socket fails.
pub(super) async fn serve<S: AsyncWrite + Unpin>(
    stream: &mut S,
    root: &Path,
    head: &Head,
    logger: &Logger,
) -> std::io::Result<()> {
    let mut answer = answer(root, &head.method, &head.target);
    let mut response = Vec::new();
    if let Answer::File(path) = &answer {
        match tokio::fs::read(path).await {
            Ok(body) => {
                log!(logger, DEBUG, "http serving file \"{}\".", path.display());
                response = format!(
                    "HTTP/1.0 200 OK\r\nServer: culex\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                response.extend_from_slice(&body);
            }
            Err(_) => answer = Answer::Error(404),
        }
    }
    match answer {
        Answer::File(_) => {}
        Answer::Redirect(location) => {
            response = format!("HTTP/1.0 302 OK\r\nLocation: {location}\r\n\r\n").into_bytes();
        }
        Answer::Error(code) => response = error_page("1.1", code).into_bytes(),
        Answer::UnknownMethod => response = error_page("1.0", 403).into_bytes(),
    }
    stream.write_all(&response).await?;
    stream.shutdown().await
}

/// libwebsockets' answer for an error status: its small HTML page, over HTTP/`version`.
fn error_page(version: &str, code: u16) -> String {
    let reason = match code {
        403 => "Forbidden",
        405 => "Method Not Allowed",
        _ => "Not Found",
    };
    let page = format!(
        "<html><head><meta charset=utf-8 http-equiv=\"Content-Language\" content=\"en\"/><link \
         rel=\"stylesheet\" type=\"text/css\" href=\"/error.css\"/></head><body><h1>{code}</h1>\
         </body></html>"
    );
    format!(
        "HTTP/{version} {code} {reason}\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n{page}",
        page.len()
    )
}

/// What `method target` gets from the files under `root` (canonical). `/` is `index.html`;
/// the query string is ignored; `%XX` escapes are decoded and `.`/`..` segments resolved
/// (never above `root`) before the file is looked up. Every method libwebsockets knows but
/// `POST` gets the file.
fn answer(root: &Path, method: &str, target: &str) -> Answer {
    match method {
        "GET" | "HEAD" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => {}
        "POST" => return Answer::Error(405),
        _ => return Answer::UnknownMethod,
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let Some(decoded) = percent_decode(path) else {
        return Answer::Error(404);
    };
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            name => segments.push(name),
        }
    }
    if segments.is_empty() {
        segments.push("index.html");
    } else if decoded.ends_with('/') {
        return Answer::Error(404);
    }
    let mut wanted = root.to_path_buf();
    for segment in &segments {
        // A decoded segment may hold what a path gives meaning to (`\0`): only plain names.
        let mut parts = Path::new(segment).components();
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(name)), None) => wanted.push(name),
            _ => return Answer::Error(404),
        }
    }
    let Ok(resolved) = std::fs::canonicalize(&wanted) else {
        return Answer::Error(404);
    };
    if !resolved.starts_with(root) {
        return Answer::Error(403);
    }
    if resolved.is_dir() {
        return Answer::Redirect(format!("{path}/"));
    }
    Answer::File(resolved)
}

/// `path` with its `%XX` escapes decoded; `None` when an escape is malformed or the result is
/// not UTF-8.
pub(crate) fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_says_whether_to_upgrade() {
        let head = Head::parse(b"GET /x?y HTTP/1.1\r\nHost: a\r\nupgrade: WebSocket\r\n\r\n");
        let expected =
            Head { method: "GET".into(), target: "/x?y".into(), upgrade: true, origin: None };
        assert_eq!(head, Some(expected));
        let from = Head::parse(b"GET / HTTP/1.1\r\nORIGIN:  http://a.example:8080 \r\n\r\n");
        assert_eq!(from.as_ref().and_then(Head::origin), Some("http://a.example:8080"));
        let plain = Head::parse(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(plain.map(|head| head.is_upgrade()), Some(false));
        assert_eq!(Head::parse(b"nonsense\r\n\r\n"), None);
    }

    #[test]
    fn answers_stay_inside_the_directory() {
        let dir = std::env::temp_dir().join(format!("culex-http-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("index.html"), "i").unwrap();
        std::fs::write(dir.join("sub/a b.txt"), "a").unwrap();
        let root = std::fs::canonicalize(&dir).unwrap();
        let cases = [
            ("GET", "/", Answer::File(root.join("index.html"))),
            ("HEAD", "/sub/a%20b.txt?q=1", Answer::File(root.join("sub/a b.txt"))),
            ("GET", "//sub/../sub/./a%20b.txt", Answer::File(root.join("sub/a b.txt"))),
            ("GET", "/sub?x", Answer::Redirect("/sub/".into())),
            ("GET", "/sub/", Answer::Error(404)),
            ("GET", "/../../etc/passwd", Answer::Error(404)),
            ("GET", "/%2e%2e/%2e%2e/etc/passwd", Answer::Error(404)),
            ("GET", "/%zz", Answer::Error(404)),
            ("GET", "/nope", Answer::Error(404)),
            ("POST", "/index.html", Answer::Error(405)),
            ("DELETE", "/index.html", Answer::File(root.join("index.html"))),
            ("FOO", "/index.html", Answer::UnknownMethod),
        ];
        for (method, target, expected) in cases {
            assert_eq!(answer(&root, method, target), expected, "{method} {target}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_error_page_is_libwebsockets_173_bytes() {
        let page = error_page("1.1", 404);
        assert!(page.starts_with(
            "HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\ncontent-length: 173\r\n\r\n"
        ));
        assert!(page.ends_with("<body><h1>404</h1></body></html>"));
    }
}
