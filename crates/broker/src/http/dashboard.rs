//! The built-in dashboard: its HTML, CSS and JavaScript (`crates/broker/dashboard/`) and the
//! vendored Chart.js and MQTT.js bundles (`dashboard/vendor/`, refreshed by `cargo xtask
//! dashboard-vendor`), embedded in the binary so that it works offline with nothing installed.
//! An `http_api` listener without `http_dir` serves them for GET paths outside `/api/`;
//! they need no credentials (the API they call does).
//!
//! Every answer carries `Cache-Control: no-cache` and a strong `ETag` (a hash of the file):
//! the browser revalidates each time and gets `304 Not Modified` while the binary is the same,
//! and a new binary's files at once.

use std::sync::LazyLock;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use hyper::{Response, StatusCode};

use super::reply::{self, Reply};

/// One embedded file and what it is served as.
#[derive(Debug)]
struct Asset {
    /// The URL path it is served at.
    path: &'static str,
    /// The file's bytes.
    body: &'static [u8],
    /// The `Content-Type` header.
    content_type: &'static str,
    /// The `ETag` header (quoted), computed from `body` on first use.
    etag: LazyLock<String>,
}

/// The `Cache-Control` header of every asset: revalidate with the `ETag` before reusing.
const REVALIDATE: &str = "no-cache";

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Declares the embedded files: URL path (below `/`), file under `crates/broker/dashboard/`,
/// content type.
macro_rules! assets {
    ($($path:literal => $content_type:expr),* $(,)?) => {
        [$(Asset {
            path: concat!("/", $path),
            body: include_bytes!(concat!("../../dashboard/", $path)),
            content_type: $content_type,
            etag: LazyLock::new(|| etag_of(include_bytes!(concat!("../../dashboard/", $path)))),
        }),*]
    };
}

/// Every file of the dashboard. `/` is `index.html` (see [`find`]).
static ASSETS: [Asset; 14] = assets![
    "index.html" => HTML,
    "app.css" => CSS,
    "errors.js" => JS,
    "api.js" => JS,
    "paging.js" => JS,
    "app.js" => JS,
    "overview.js" => JS,
    "clients.js" => JS,
    "topics.js" => JS,
    "tryit.js" => JS,
    "vendor/chart.umd.min.js" => JS,
    "vendor/chart.js.LICENSE.md" => TEXT,
    "vendor/mqtt.min.js" => JS,
    "vendor/mqtt.LICENSE.md" => TEXT,
];

/// The answer to a GET of `path` (no query string) with the request's `If-None-Match`: the
/// asset (200, or 304 when the browser's copy is current) or 404 `Not found.\n`.
pub(crate) fn answer(path: &str, if_none_match: Option<&HeaderValue>) -> Reply {
    let Some(asset) = find(path) else { return reply::error(reply::NOT_FOUND) };
    let fresh = if_none_match
        .and_then(|header| header.to_str().ok())
        .is_some_and(|header| asset.not_modified(header));
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else {
        (StatusCode::OK, Bytes::from_static(asset.body))
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The tag is `"` + 16 hex digits + `"`: always a valid header value.
    if let Ok(etag) = HeaderValue::from_str(asset.etag()) {
        headers.insert(ETAG, etag);
    }
    response
}

/// The asset served at `path` (the URL path, without its query string): a path ending in `/`
/// means its `index.html`, as for `http_dir`. `None` for anything else (a 404).
fn find(path: &str) -> Option<&'static Asset> {
    let path = if path.ends_with('/') { &format!("{path}index.html") } else { path };
    ASSETS.iter().find(|asset| asset.path == path)
}

impl Asset {
    /// The strong `ETag` header value (quoted) for this file's bytes.
    fn etag(&self) -> &str {
        &self.etag
    }

    /// Whether an `If-None-Match` header value names this file's current `ETag` (or is `*`):
    /// the answer is then `304 Not Modified` with no body. Weak tags compare weakly, as
    /// RFC 9110 §13.1.2 says for `If-None-Match`.
    fn not_modified(&self, if_none_match: &str) -> bool {
        let etag = self.etag();
        if_none_match
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
    }
}

/// A strong `ETag` for `bytes`: their 64-bit FNV-1a hash in hex, quoted (a fingerprint that
/// changes with the file, not a security measure).
fn etag_of(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_and_a_trailing_slash_are_the_index_page() {
        for path in ["/", "/index.html"] {
            let asset = find(path).unwrap();
            assert_eq!(asset.path, "/index.html");
            assert_eq!(asset.content_type, "text/html; charset=utf-8");
        }
        assert_eq!(find("/api/").map(|asset| asset.path), None);
    }

    #[test]
    fn unknown_paths_and_escapes_are_not_found() {
        for path in
            ["", "/nope.js", "/vendor/", "/../index.html", "/index.html/", "/dashboard/app.js"]
        {
            assert!(find(path).is_none(), "{path}");
        }
    }

    /// Every `src="…"`, `href="…"` of index.html and every `from "./…"` of the modules names an
    /// embedded file: a file added to the page but not to ASSETS would be a 404.
    #[test]
    fn every_file_the_page_loads_is_embedded() {
        let mut references = Vec::new();
        for asset in &ASSETS {
            let text = std::str::from_utf8(asset.body).unwrap();
            if asset.path == "/index.html" {
                for attribute in ["src=\"", "href=\""] {
                    for piece in text.split(attribute).skip(1) {
                        let target = piece.split('"').next().unwrap();
                        if !target.starts_with('#') {
                            references.push(format!("/{target}"));
                        }
                    }
                }
            } else if asset.content_type == JS && !asset.path.starts_with("/vendor/") {
                for piece in text.split("from \"./").skip(1) {
                    references.push(format!("/{}", piece.split('"').next().unwrap()));
                }
            }
        }
        assert!(references.len() >= 12, "{references:?}");
        for reference in references {
            assert!(find(&reference).is_some(), "{reference} is loaded but not embedded");
        }
    }

    #[test]
    fn every_embedded_file_is_in_the_dashboard_directory_and_nothing_is_left_out() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard");
        let mut on_disk = Vec::new();
        for sub in ["", "vendor/"] {
            for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                let served = name.ends_with(".html")
                    || name.ends_with(".css")
                    || name.ends_with(".js")
                    || name.ends_with(".LICENSE.md");
                if served {
                    on_disk.push(format!("/{sub}{name}"));
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<_> = ASSETS.iter().map(|asset| asset.path.to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn answers_carry_type_caching_headers_and_304_for_a_current_copy() {
        let ok = answer("/", None);
        assert_eq!(ok.status(), StatusCode::OK);
        let headers = ok.headers();
        assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[CACHE_CONTROL], "no-cache");
        assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
        let etag = headers[ETAG].clone();
        assert_eq!(etag, find("/index.html").unwrap().etag());

        let again = answer("/", Some(&etag));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[ETAG], etag);

        let script = answer("/vendor/mqtt.min.js", Some(&etag));
        assert_eq!(script.status(), StatusCode::OK);
        assert_eq!(script.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");

        assert_eq!(answer("/missing.js", None).status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn etags_are_quoted_distinct_and_answer_if_none_match() {
        let index = find("/").unwrap();
        let app = find("/app.js").unwrap();
        let tag = index.etag();
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 18, "{tag}");
        assert_ne!(tag, app.etag());
        for (header, fresh) in [
            (tag.to_owned(), true),
            (format!("W/{tag}"), true),
            (format!("\"x\", {tag}"), true),
            ("*".to_owned(), true),
            (app.etag().to_owned(), false),
            (String::new(), false),
        ] {
            assert_eq!(index.not_modified(&header), fresh, "{header}");
        }
    }
}
