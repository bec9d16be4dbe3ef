//! `credentials/list`: the names of the tenant's credentials (never their values), read for the
//! learning pass. Bounded in time (`--upstream-timeout` per page), in size per page and in how
//! many names are kept; a `next_cursor`, should the service page the list, is followed.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde_json::{json, Value};

use super::error::UpstreamError;
use super::Upstream;
use crate::http::body::full;

/// The largest `credentials/list` page read; a page of names and dates.
const LIST_BODY_LIMIT: usize = 8 << 20;

/// Most pages followed in one listing.
const MAX_PAGES: usize = 100;

/// The credential names of a listing, and whether more were there than the cap let in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listed {
    pub names: Vec<String>,
    pub truncated: bool,
}

impl Upstream {
    /// Lists the tenant's credential names, at most `max` of them, in the upstream's order.
    pub async fn list_credentials(&self, max: usize) -> Result<Listed, UpstreamError> {
        let mut listed = Listed::default();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self.list_page(cursor.as_deref()).await?;
            let (names, next) = parse_page(&page)?;
            for name in names {
                if listed.names.len() >= max {
                    listed.truncated = true;
                    return Ok(listed);
                }
                listed.names.push(name);
            }
            match next {
                Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                _ => return Ok(listed),
            }
        }
        listed.truncated = true;
        Ok(listed)
    }

    /// One `credentials/list` call.
    async fn list_page(&self, cursor: Option<&str>) -> Result<Bytes, UpstreamError> {
        let input = match cursor {
            Some(cursor) => json!({ "json": { "cursor": cursor } }),
            None => json!({ "json": {} }),
        };
        let body = serde_json::to_vec(&input).map_err(|_| UpstreamError::Unreadable)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let call = async {
            let response = self
                .forward(
                    Method::POST,
                    "/v1/credentials/list",
                    headers,
                    full(Bytes::from(body)),
                )
                .await?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), LIST_BODY_LIMIT)
                .collect()
                .await
                .map_err(|_| UpstreamError::Unreadable)?
                .to_bytes();
            Ok::<_, UpstreamError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.inner.timeout, call)
            .await
            .map_err(|_| UpstreamError::Timeout)??;
        match status {
            StatusCode::OK => Ok(bytes),
            other => Err(UpstreamError::Status(other.as_u16())),
        }
    }
}

/// Reads one page: `{"json": {"credentials": [{"name": ...}, ...], "next_cursor"?: ...}}`.
/// An entry without a string name is skipped; any other shape is unreadable.
pub fn parse_page(bytes: &[u8]) -> Result<(Vec<String>, Option<String>), UpstreamError> {
    let answer: Value = serde_json::from_slice(bytes).map_err(|_| UpstreamError::Unreadable)?;
    let output = answer.get("json").ok_or(UpstreamError::Unreadable)?;
    let names = output
        .get("credentials")
        .and_then(Value::as_array)
        .ok_or(UpstreamError::Unreadable)?
        .iter()
        .filter_map(|entry| entry.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    let next = output
        .get("next_cursor")
        .and_then(Value::as_str)
        .filter(|cursor| !cursor.is_empty())
        .map(str::to_owned);
    Ok((names, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_give_names_and_a_cursor() {
        let page = br#"{"json":{"credentials":[{"credential_id":"1","name":"a"},{"name":3},
            {"name":"b"}],"next_cursor":"c2"}}"#;
        assert_eq!(
            parse_page(page).unwrap(),
            (vec!["a".to_owned(), "b".to_owned()], Some("c2".to_owned()))
        );
        let last = br#"{"json":{"credentials":[],"next_cursor":null}}"#;
        assert_eq!(parse_page(last).unwrap(), (Vec::new(), None));
        for bad in [&b"nope"[..], br#"{"json":{}}"#, br#"{"credentials":[]}"#] {
            assert_eq!(parse_page(bad), Err(UpstreamError::Unreadable));
        }
    }
}
