//! Response bodies kept in memory ready to send: identity, gzip and brotli bytes and a strong
//! ETag, built once per change so hot GETs only pick bytes and compare a header.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::io::Write;

pub struct Encoded {
    pub identity: Bytes,
    gzip: Option<Bytes>,
    br: Option<Bytes>,
    /// Strong ETag of the identity bytes, quoted. The compressed forms use the same tag with a
    /// `-gz` / `-br` suffix inside the quotes.
    etag: String,
    etags: [HeaderValue; 3],
    content_type: HeaderValue,
}

/// Bodies smaller than this are not worth compressing.
const MIN_COMPRESS: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Coding {
    Identity,
    Gzip,
    Br,
}

impl Encoded {
    /// `prefix` goes in front of the hash in the ETag (e.g. the version number).
    pub fn new(bytes: Vec<u8>, content_type: &'static str, prefix: &str) -> Self {
        let hash = Sha256::digest(&bytes);
        let hex: String = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
        let tag = if prefix.is_empty() {
            hex
        } else {
            format!("{prefix}-{hex}")
        };
        let (gzip, br) = if bytes.len() >= MIN_COMPRESS {
            (Some(gzip(&bytes)), Some(brotli(&bytes)))
        } else {
            (None, None)
        };
        let hv = |s: String| HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("\"x\""));
        Encoded {
            identity: Bytes::from(bytes),
            gzip,
            br,
            etags: [
                hv(format!("\"{tag}\"")),
                hv(format!("\"{tag}-gz\"")),
                hv(format!("\"{tag}-br\"")),
            ],
            etag: tag,
            content_type: HeaderValue::from_static(content_type),
        }
    }

    pub fn etag(&self) -> &HeaderValue {
        &self.etags[0]
    }

    /// Whether `If-None-Match` names this body (in any coding).
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
            .any(|t| {
                t == "*"
                    || t.strip_prefix(self.etag.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest == "-gz" || rest == "-br")
            })
    }

    /// The full answer to a GET: 304 when the client has it, else the best coding it accepts.
    pub fn respond(&self, req: &HeaderMap, cache_control: &'static str) -> Response {
        let coding = negotiate(req);
        let (body, etag, enc) = match (coding, &self.br, &self.gzip) {
            (Coding::Br, Some(b), _) => (b.clone(), &self.etags[2], Some("br")),
            (Coding::Br | Coding::Gzip, _, Some(g)) => (g.clone(), &self.etags[1], Some("gzip")),
            _ => (self.identity.clone(), &self.etags[0], None),
        };
        let mut res = if self.matches(req) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut r = body.into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, self.content_type.clone());
            if let Some(enc) = enc {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
            }
            r
        };
        let h = res.headers_mut();
        h.insert(header::ETAG, etag.clone());
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        );
        if self.gzip.is_some() {
            h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        res
    }
}

/// Picks brotli, then gzip, then identity among what `Accept-Encoding` allows (`q=0` excludes).
pub fn negotiate(req: &HeaderMap) -> Coding {
    let mut br = false;
    let mut gz = false;
    for v in req.get_all(header::ACCEPT_ENCODING).iter() {
        let Ok(v) = v.to_str() else { continue };
        for item in v.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            if name.eq_ignore_ascii_case("br") {
                br = true;
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                gz = true;
            }
        }
    }
    if br {
        Coding::Br
    } else if gz {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

fn gzip(bytes: &[u8]) -> Bytes {
    // Best: built once per change, and the runtime's tag.js is counted in the size budget
    // exactly as sent (`cargo xtask size`).
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = e.write_all(bytes);
    Bytes::from(e.finish().unwrap_or_default())
}

fn brotli(bytes: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(bytes.len() / 4);
    let params = brotli::enc::BrotliEncoderParams {
        quality: 6,
        lgwin: 22,
        ..Default::default()
    };
    let _ = brotli::BrotliCompress(&mut &bytes[..], &mut out, &params);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate(&h), Coding::Identity);
        h.insert(
            header::ACCEPT_ENCODING,
            "gzip, deflate, br;q=0".parse().unwrap(),
        );
        assert_eq!(negotiate(&h), Coding::Gzip);
        h.insert(header::ACCEPT_ENCODING, "gzip, br".parse().unwrap());
        assert_eq!(negotiate(&h), Coding::Br);
    }

    #[test]
    fn etags_match_any_coding() {
        let e = Encoded::new(vec![b'a'; 1000], "text/plain", "7");
        let tag = e.etag().to_str().unwrap().to_owned();
        assert!(tag.starts_with("\"7-"));
        let mut h = HeaderMap::new();
        assert!(!e.matches(&h));
        h.insert(header::IF_NONE_MATCH, tag.parse().unwrap());
        assert!(e.matches(&h));
        let gz = format!("W/{}-gz\"", &tag[..tag.len() - 1]);
        h.insert(header::IF_NONE_MATCH, gz.parse().unwrap());
        assert!(e.matches(&h));
        h.insert(header::IF_NONE_MATCH, "\"7-0000\"".parse().unwrap());
        assert!(!e.matches(&h));
    }
}
