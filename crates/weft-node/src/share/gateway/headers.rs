//! The headers of a gateway answer: what the content is (type, name), which part of it, and
//! its validator (the hash).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use weft_core::id::Key256;
use weft_share::http_range::{self, Requested};

/// What the gateway knows of a content besides its bytes.
#[derive(Clone, Debug)]
pub(crate) struct Described {
    /// The content hash.
    pub hash: Key256,
    /// Its size (verified).
    pub size: u64,
    /// A file name it is known under, if any.
    pub name: Option<String>,
    /// Its MIME type (`application/octet-stream` when unknown).
    pub mime: String,
}

impl Described {
    /// A content named `name`, its type guessed from the name.
    pub fn named(hash: Key256, size: u64, name: Option<String>) -> Self {
        let mime = name
            .as_deref()
            .and_then(|n| mime_guess::from_path(n).first())
            .map_or_else(|| OCTET_STREAM.to_string(), |m| m.essence_str().to_string());
        Described {
            hash,
            size,
            name,
            mime,
        }
    }

    /// The strong `ETag` of the content.
    pub fn etag(&self) -> String {
        etag(&self.hash)
    }
}

/// The type of bytes of unknown kind.
pub(crate) const OCTET_STREAM: &str = "application/octet-stream";

/// RFC 8187 `attr-char`s are sent as they are; every other byte is percent-encoded.
const ATTR_CHAR_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition: inline` with the file's name (RFC 6266): an ASCII `filename` for old
/// clients, and the exact name as `filename*` (RFC 8187, UTF-8, percent-encoded).
pub(crate) fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = utf8_percent_encode(name, ATTR_CHAR_ESCAPES);
    format!("inline; filename=\"{fallback}\"; filename*=UTF-8''{exact}")
}

/// The strong `ETag` of `hash`: content-addressed, so the hash names these exact bytes.
pub(crate) fn etag(hash: &Key256) -> String {
    format!("\"{hash}\"")
}

/// Whether `If-None-Match` names this content (or is `*`): the client has these bytes.
pub(crate) fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        // Weak comparison (RFC 9110 §13.1.2): `W/"x"` matches `"x"`.
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// What a request asks for: 304 if the client has it, else the part its `Range` selects. A
/// `Range` under an `If-Range` that does not name this content is ignored (RFC 9110 §13.1.5).
pub(crate) fn requested(headers: &HeaderMap, d: &Described) -> Option<Requested> {
    let etag = d.etag();
    if not_modified(headers, &etag) {
        return None;
    }
    let range = headers.get(header::RANGE).map(HeaderValue::as_bytes);
    let if_range_holds = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.as_bytes() == etag.as_bytes());
    Some(if if_range_holds {
        http_range::resolve(range, d.size)
    } else {
        Requested::Whole
    })
}

/// The status and headers of an answer about `d` (the body is the caller's).
pub(crate) fn answer(d: &Described, what: Option<&Requested>) -> axum::http::response::Builder {
    let mut b = Response::builder()
        .header(header::ETAG, d.etag())
        .header(header::ACCEPT_RANGES, "bytes")
        // A shared page must not run in the API's origin (its URL may hold the token).
        .header(header::CONTENT_SECURITY_POLICY, "sandbox");
    let Some(what) = what else {
        return b.status(StatusCode::NOT_MODIFIED);
    };
    let (status, len) = match what {
        Requested::Whole => (StatusCode::OK, d.size),
        Requested::Part(r) => {
            b = b.header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{}", r.start, r.end - 1, d.size),
            );
            (StatusCode::PARTIAL_CONTENT, r.end - r.start)
        }
        Requested::Unsatisfiable => {
            return b
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{}", d.size))
                .header(header::CONTENT_LENGTH, 0);
        }
    };
    b = b
        .status(status)
        .header(header::CONTENT_TYPE, &d.mime)
        .header(header::CONTENT_LENGTH, len);
    if let Some(name) = &d.name {
        b = b.header(header::CONTENT_DISPOSITION, content_disposition(name));
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(name: Option<&str>) -> Described {
        Described::named(Key256::hash(b"x"), 10, name.map(str::to_string))
    }

    #[test]
    fn disposition_keeps_the_exact_name_and_an_ascii_fallback() {
        assert_eq!(
            content_disposition("blue train.flac"),
            "inline; filename=\"blue train.flac\"; filename*=UTF-8''blue%20train.flac"
        );
        assert_eq!(
            content_disposition("Béla \"x\"\\y;z.txt"),
            "inline; filename=\"B_la _x__y;z.txt\"; filename*=UTF-8''B%C3%A9la%20%22x%22%5Cy%3Bz.txt"
        );
        // CR/LF can never end up in the header.
        assert!(!content_disposition("a\r\nb").contains(['\r', '\n']));
    }

    #[test]
    fn type_from_the_name() {
        assert_eq!(described(Some("a.flac")).mime, "audio/flac");
        assert_eq!(described(Some("a.html")).mime, "text/html");
        assert_eq!(described(Some("noext")).mime, OCTET_STREAM);
        assert_eq!(described(None).mime, OCTET_STREAM);
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn conditional_requests() {
        let d = described(None);
        let etag = d.etag();
        assert_eq!(requested(&HeaderMap::new(), &d), Some(Requested::Whole));
        for inm in [etag.as_str(), "*", &format!("\"other\", W/{etag}")] {
            let h = headers(&[(header::IF_NONE_MATCH, inm)]);
            assert_eq!(requested(&h, &d), None, "{inm}");
        }
        let h = headers(&[(header::IF_NONE_MATCH, "\"other\"")]);
        assert_eq!(requested(&h, &d), Some(Requested::Whole));
        let h = headers(&[(header::RANGE, "bytes=1-2"), (header::IF_RANGE, &etag)]);
        assert_eq!(requested(&h, &d), Some(Requested::Part(1..3)));
        let h = headers(&[(header::RANGE, "bytes=1-2"), (header::IF_RANGE, "\"old\"")]);
        assert_eq!(requested(&h, &d), Some(Requested::Whole));
    }

    #[test]
    fn answers() {
        let d = described(Some("a.txt"));
        let r = answer(&d, Some(&Requested::Part(2..5))).body(()).unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        let h = r.headers();
        assert_eq!(h[header::CONTENT_RANGE], "bytes 2-4/10");
        assert_eq!(h[header::CONTENT_LENGTH], "3");
        assert_eq!(h[header::CONTENT_TYPE], "text/plain");
        assert_eq!(h[header::ETAG], d.etag().as_str());
        let r = answer(&d, Some(&Requested::Unsatisfiable))
            .body(())
            .unwrap();
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes */10");
        let r = answer(&d, None).body(()).unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    }
}
