//! Request extractors with the contract's rejections: JSON bodies, query strings, path ids.
//!
//! | problem | answer |
//! |---|---|
//! | `Content-Type` missing or not JSON (`application/json`, `application/*+json`) | `415 REQ_006` |
//! | body larger than the limit ([`JSON_BODY_LIMIT`], 1 MiB, set with axum's [`DefaultBodyLimit`]) | `413 REQ_002` |
//! | body that cannot be read (interrupted upload) | `400 REQ_001`, `details.body` |
//! | not JSON, trailing garbage | `400 REQ_001`, `details.body` |
//! | a field missing, of the wrong type or with an impossible value | `400 REQ_001`, `details.<field>` (a dotted path for nested fields) |
//! | a query string that does not fit | `400 REQ_001`, `details.<parameter>` or `details.query` |
//! | a path segment that does not parse | `404 REQ_004` (a malformed id names no resource) |
//!
//! Messages in `details` never echo the client's input (a password sent as a number is not
//! repeated back): they say "is required", "has the wrong type, expected …" or "is invalid".
//!
//! [`DefaultBodyLimit`]: axum::extract::DefaultBodyLimit

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use cutty_core::error::{Error, ErrorCode, FieldViolation};
use serde::de::DeserializeOwned;

use crate::ApiError;

/// The body limit of JSON endpoints: 1 MiB (the contract's `413 REQ_002`).
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// Whether `headers` declare a JSON body: `application/json` or `application/<x>+json`,
/// any parameters (`; charset=utf-8`), case-insensitive.
pub fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((ty, subtype)) = essence.split_once('/') else {
        return false;
    };
    let subtype = subtype.to_ascii_lowercase();
    ty.eq_ignore_ascii_case("application") && (subtype == "json" || subtype.ends_with("+json"))
}

/// A JSON request body deserialised into `T`, with the contract's rejections (see the
/// [module docs](self)). `T` is typically a request type of `cutty_core::app`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContractJson<T>(pub T);

impl<T, S> FromRequest<S> for ContractJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(ErrorCode::UnsupportedMediaType.into());
        }
        let bytes = read_body(req, state).await?;
        Ok(Self(parse_json(&bytes)?))
    }
}

/// Like [`ContractJson`], for endpoints whose body is optional (`POST
/// /api/accounts/logout`): an empty body is `None` whatever its `Content-Type`; a non-empty
/// one follows every rule of [`ContractJson`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json_content_type(req.headers());
        let bytes = read_body(req, state).await?;
        if bytes.is_empty() {
            return Ok(Self(None));
        }
        if !json {
            return Err(ErrorCode::UnsupportedMediaType.into());
        }
        Ok(Self(Some(parse_json(&bytes)?)))
    }
}

/// Reads the whole body within the route's [`DefaultBodyLimit`](axum::extract::DefaultBodyLimit).
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::from(ErrorCode::BodyTooLarge)
        } else {
            Error::invalid_field("body", "could not be read").into()
        }
    })
}

/// Deserialises a JSON document into `T`, mapping every failure to `REQ_001` with the field
/// it concerns (see the [module docs](self)).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    // Every contract body is one JSON object. Parsing the whole document once, into a
    // value, also refuses what a typed parse would skip inside ignored fields: invalid UTF-8,
    // numbers out of range, nesting beyond serde_json's recursion limit, trailing data.
    let document = match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(document @ serde_json::Value::Object(_)) => document,
        Ok(_) => return Err(Error::invalid_field("body", "must be a JSON object")),
        Err(_) => return Err(Error::invalid_field("body", "is not valid JSON")),
    };
    serde_path_to_error::deserialize(document).map_err(|e| {
        let path = e.path().to_string();
        json_violation(&path, e.inner())
    })
}

fn json_violation(path: &str, error: &serde_json::Error) -> Error {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            Error::invalid_field("body", "is not valid JSON")
        }
        Category::Data => Error::InvalidRequest(vec![data_violation(path, &error.to_string())]),
    }
}

/// Turns a serde data error (`missing field `x``, `invalid type: …, expected …`) at `path`
/// into a violation that names the field and does not echo the input.
fn data_violation(path: &str, message: &str) -> FieldViolation {
    let at_root = path.is_empty() || path == ".";
    let join = |field: &str| -> Cow<'static, str> {
        if at_root {
            Cow::Owned(field.to_owned())
        } else {
            Cow::Owned(format!("{path}.{field}"))
        }
    };
    if let Some(field) = backticked(message, "missing field `") {
        return FieldViolation::new(join(field), "is required");
    }
    if let Some(field) = backticked(message, "unknown field `") {
        // serde_path_to_error's path already ends at the unknown field.
        let name = if path == field || path.ends_with(&format!(".{field}")) {
            Cow::Owned(path.to_owned())
        } else {
            join(field)
        };
        return FieldViolation::new(name, "is not allowed");
    }
    if let Some(field) = backticked(message, "duplicate field `") {
        return FieldViolation::new(join(field), "appears more than once");
    }
    let field: Cow<'static, str> = if at_root {
        Cow::Borrowed("body")
    } else {
        Cow::Owned(path.to_owned())
    };
    let what = if message.starts_with("invalid type") {
        "has the wrong type"
    } else {
        "is invalid"
    };
    match expected(message) {
        Some(exp) => FieldViolation::new(field, format!("{what}, expected {exp}")),
        None => FieldViolation::new(field, what),
    }
}

/// The name between backticks after `prefix` at the start of `message`, if it is a plain
/// identifier (field names are; client input would not be trusted here anyway).
fn backticked<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?;
    let name = &rest[..rest.find('`')?];
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    plain.then_some(name)
}

/// The `expected …` part of a serde message, which describes a type, never the input; cut
/// before serde_json's ` at line … column …` suffix.
fn expected(message: &str) -> Option<&str> {
    let start = message.find(", expected ")? + ", expected ".len();
    let rest = &message[start..];
    let end = rest.find(" at line ").unwrap_or(rest.len());
    let exp = rest[..end].trim();
    // Types describe themselves briefly; anything long or odd is not worth repeating.
    (!exp.is_empty() && exp.len() <= 80 && !exp.contains('`')).then_some(exp)
}

/// A query string deserialised into `T` (`serde_urlencoded`); failures are `400 REQ_001`
/// naming the parameter where serde says which. `ContractQuery<Vec<(String, String)>>` gives
/// the raw pairs, which is what the facade's event query takes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContractQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ContractQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query).map(Self).map_err(|e| {
            let message = e.to_string();
            let violation = match backticked(&message, "missing field `") {
                Some(field) => FieldViolation::new(field.to_owned(), "is required"),
                None => FieldViolation::new("query", "is invalid"),
            };
            Error::InvalidRequest(vec![violation]).into()
        })
    }
}

/// A path parameter parsed into `T`; a segment that does not parse names no resource:
/// `404 REQ_004`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContractPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ContractPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Self(v))
            .map_err(|_| ErrorCode::ResourceNotFound.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Login {
        username: String,
        password: String,
        inner: Option<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    fn violation(body: &str) -> (String, String) {
        match parse_json::<Login>(body.as_bytes()) {
            Err(Error::InvalidRequest(v)) => {
                assert_eq!(v.len(), 1);
                (v[0].field.to_string(), v[0].message.to_string())
            }
            other => panic!("expected REQ_001, got {other:?}"),
        }
    }

    #[test]
    fn names_the_field() {
        assert_eq!(
            violation(r#"{"username":"a"}"#),
            ("password".into(), "is required".into())
        );
        let (f, m) = violation(r#"{"username":"a","password":12345678}"#);
        assert_eq!(f, "password");
        assert!(m.starts_with("has the wrong type, expected"), "{m}");
        assert!(!m.contains("12345678"), "input echoed: {m}");
        let (f, _) = violation(r#"{"username":"a","password":"b","inner":{"n":-1}}"#);
        assert_eq!(f, "inner.n");
        let (f, _) = violation(r#"{"username":"a","password":"b","inner":{}}"#);
        assert_eq!(f, "inner.n");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        a: u32,
        inner: Option<StrictInner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct StrictInner {
        n: u32,
    }

    #[test]
    fn unknown_fields_are_named_once() {
        let field = |body: &str| match parse_json::<Strict>(body.as_bytes()) {
            Err(Error::InvalidRequest(v)) => (v[0].field.to_string(), v[0].message.to_string()),
            other => panic!("expected REQ_001, got {other:?}"),
        };
        assert_eq!(
            field(r#"{"a":1,"b":2}"#),
            ("b".into(), "is not allowed".into())
        );
        assert_eq!(field(r#"{"a":1,"inner":{"n":1,"m":2}}"#).0, "inner.m");
    }

    #[test]
    fn malformed_documents_are_body_errors() {
        for bad in ["", "{", "nope", r#"{"username":"a","password":"b"} x"#] {
            assert_eq!(violation(bad).0, "body", "{bad:?}");
        }
        let (f, m) = violation("5");
        assert_eq!(f, "body");
        assert!(m.contains("JSON object"), "{m}");
        // Ignored fields are checked too: bad UTF-8, out-of-range numbers, deep nesting.
        for bad in [
            &b"{\"a\":\"\xff\xfe\"}"[..],
            br#"{"a":1e99999}"#,
            "[".repeat(100_000).as_bytes(),
        ] {
            assert!(parse_json::<Login>(bad).is_err());
        }
        assert!(parse_json::<Login>(br#"{"username":"a","password":"b"}"#).is_ok());
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json_content_type(&h));
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            h.insert(CONTENT_TYPE, HeaderValue::from_static(ok));
            assert!(is_json_content_type(&h), "{ok}");
        }
        for bad in ["text/plain", "application/jsonx", "json", "text/json", ""] {
            h.insert(CONTENT_TYPE, HeaderValue::from_static(bad));
            assert!(!is_json_content_type(&h), "{bad}");
        }
    }
}
