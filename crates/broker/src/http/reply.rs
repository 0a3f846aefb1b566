//! The answers of an HTTP API listener: Mosquitto 2.1's plain-text errors (`Not found.\n`,
//! `Invalid HTTP Method\n`, `Not authorised\n` with its Basic challenge, `Internal server
//! error.\n`), culex's own (`Bad request.\n`, `Forbidden.\n`), and API bodies with
//! `Access-Control-Allow-Origin: *`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use serde::Serialize;

/// A response of the listener.
pub(crate) type Reply = Response<Full<Bytes>>;

/// The realm of the Basic challenge, Mosquitto 2.1's.
const CHALLENGE: &str = "Basic realm=\"Mosquitto API\"";

/// A response with `status` and `body` and no header.
fn plain(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

/// A plain-text error answer: its status and body.
pub(crate) type Error = (StatusCode, &'static str);

/// 404: no such path, file or client.
pub(crate) const NOT_FOUND: Error = (StatusCode::NOT_FOUND, "Not found.\n");
/// 405: a method other than GET (and the client DELETE).
pub(crate) const BAD_METHOD: Error = (StatusCode::METHOD_NOT_ALLOWED, "Invalid HTTP Method\n");
/// 403: authenticated, without the right.
pub(crate) const FORBIDDEN: Error = (StatusCode::FORBIDDEN, "Forbidden.\n");
/// 400: a paging parameter that is not a positive number.
pub(crate) const BAD_REQUEST: Error = (StatusCode::BAD_REQUEST, "Bad request.\n");
/// 500: the broker could not answer.
pub(crate) const INTERNAL: Error = (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error.\n");

/// The answer for `error`.
pub(crate) fn error((status, body): Error) -> Reply {
    plain(status, body)
}

/// 401 `Not authorised\n` with the Basic challenge.
pub(crate) fn unauthorised() -> Reply {
    let mut response = plain(StatusCode::UNAUTHORIZED, "Not authorised\n");
    response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
    response
}

/// 204 with the CORS header: done, nothing to say.
pub(crate) fn no_content() -> Reply {
    api(plain(StatusCode::NO_CONTENT, Bytes::new()))
}

/// 200 with a static file's bytes, and no header (2.1 sets none).
pub(crate) fn file(bytes: Bytes) -> Reply {
    plain(StatusCode::OK, bytes)
}

/// 200 with `text` as the body and the CORS header (the version endpoint).
pub(crate) fn api_text(text: &'static str) -> Reply {
    api(plain(StatusCode::OK, text))
}

/// 200 with `value` in cJSON's layout, the CORS header and the JSON content type.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Reply {
    match super::json::to_cjson(value) {
        Ok(body) => {
            let mut response = api(plain(StatusCode::OK, body));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(_) => error(INTERNAL),
    }
}

/// `response` with `Access-Control-Allow-Origin: *`.
fn api(mut response: Reply) -> Reply {
    response.headers_mut().insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}
