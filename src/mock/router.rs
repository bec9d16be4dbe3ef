//! The mock's front door: the route table, the method and API-key checks, and body parsing.
//!
//! Every route is `POST /v1/<group>/<verb>` with a `{"json": ...}` body, as upstream. The
//! order of checks follows upstream's: an unknown route is 404 (501 for route groups upstream
//! has but the mock does not implement), a known route with another method is 405, a missing
//! or empty `x-api-key` is 401, a body over the limit is 413 and a body that is not JSON is
//! 400 malformed. Only then does a route (`routes/`) see its input and its tenant.

use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;
use tracing::{info, info_span, Instrument};
use uuid::Uuid;

use super::engine::core::Core;
use super::input::meta::{self, FreeForm};
use super::routes::{credentials, jobs, logs, schedules, webhooks};
use super::state::tenant_id::TenantId;
use crate::http::body::Body;
use crate::http::envelope::{ok, ApiError};
use crate::http::limited::read_limited;

/// The header that carries the caller's API key.
const API_KEY_HEADER: &str = "x-api-key";

/// Route groups upstream serves that the mock answers with 501.
const UNIMPLEMENTED_GROUPS: &[&str] = &["sessions", "deployments", "workflows"];

/// oRPC's error code for HTTP 405.
const METHOD_NOT_SUPPORTED: &str = "METHOD_NOT_SUPPORTED";

/// The routes the mock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    CredentialsCreate,
    CredentialsList,
    CredentialsGet,
    CredentialsUpdate,
    CredentialsDelete,
    CredentialsUpsert,
    JobsCreate,
    JobsGet,
    JobsList,
    JobsCancel,
    JobsDebugReport,
    LogsList,
    WebhooksCreate,
    WebhooksList,
    WebhooksUpdate,
    WebhooksDelete,
    SchedulesCreate,
    SchedulesList,
    SchedulesGet,
    SchedulesUpdate,
    SchedulesDelete,
}

/// What a request path leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolution {
    Route(Route),
    NotImplemented,
    NotFound,
}

/// The route table: every path the mock serves, and its route.
const ROUTES: &[(&str, Route)] = &[
    ("/v1/credentials/create", Route::CredentialsCreate),
    ("/v1/credentials/list", Route::CredentialsList),
    ("/v1/credentials/get", Route::CredentialsGet),
    ("/v1/credentials/update", Route::CredentialsUpdate),
    ("/v1/credentials/delete", Route::CredentialsDelete),
    ("/v1/credentials/upsert", Route::CredentialsUpsert),
    ("/v1/jobs/create", Route::JobsCreate),
    ("/v1/jobs/get", Route::JobsGet),
    ("/v1/jobs/list", Route::JobsList),
    ("/v1/jobs/cancel", Route::JobsCancel),
    ("/v1/jobs/debugReport", Route::JobsDebugReport),
    ("/v1/logs/list", Route::LogsList),
    ("/v1/webhooks/create", Route::WebhooksCreate),
    ("/v1/webhooks/list", Route::WebhooksList),
    ("/v1/webhooks/update", Route::WebhooksUpdate),
    ("/v1/webhooks/delete", Route::WebhooksDelete),
    ("/v1/schedules/create", Route::SchedulesCreate),
    ("/v1/schedules/list", Route::SchedulesList),
    ("/v1/schedules/get", Route::SchedulesGet),
    ("/v1/schedules/update", Route::SchedulesUpdate),
    ("/v1/schedules/delete", Route::SchedulesDelete),
];

/// The path of every route the mock serves (`docs/openapi.yaml` describes each one).
pub fn routes() -> impl Iterator<Item = &'static str> {
    ROUTES.iter().map(|(path, _)| *path)
}

/// Looks a path up in the route table.
fn resolve(path: &str) -> Resolution {
    if let Some((_, route)) = ROUTES.iter().find(|(known, _)| *known == path) {
        return Resolution::Route(*route);
    }
    let Some((group, verb)) = path
        .strip_prefix("/v1/")
        .and_then(|rest| rest.split_once('/'))
    else {
        return Resolution::NotFound;
    };
    if verb.is_empty() || verb.contains('/') || !UNIMPLEMENTED_GROUPS.contains(&group) {
        return Resolution::NotFound;
    }
    Resolution::NotImplemented
}

impl Route {
    /// The fields whose content is free-form JSON (stored as sent), for decoding `meta`; the
    /// flag says whether the field itself is free-form too (any JSON, not only an object).
    fn free_form(self) -> &'static [FreeForm] {
        match self {
            Self::CredentialsCreate | Self::CredentialsUpdate => {
                &[("credentials", false), ("value", true)]
            }
            Self::CredentialsUpsert => &[("value", true)],
            Self::JobsCreate | Self::SchedulesCreate | Self::SchedulesUpdate => {
                &[("params", false)]
            }
            _ => &[],
        }
    }
}

/// Reads the route input from a request body: the value under `json`, or `None` when the body
/// is empty or has no `json` key, with the values its `meta` describes restored. Only a body of
/// no bytes is empty: one of whitespace is malformed, as oRPC's `parseEmptyableJSON` has it.
fn parse_input(bytes: &[u8], free_form: &[FreeForm]) -> Result<Option<Value>, ApiError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(mut map)) => {
            let json = map.remove("json");
            meta::decode(json, map.get("meta"), free_form)
        }
        _ => Err(ApiError::malformed()),
    }
}

fn method_not_allowed() -> Response<Body> {
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        METHOD_NOT_SUPPORTED,
        "Method not allowed; every route takes POST",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

fn dispatch(
    core: &Core,
    route: Route,
    tenant: &TenantId,
    input: Option<&Value>,
    headers: &HeaderMap,
) -> Result<Value, ApiError> {
    match route {
        Route::CredentialsCreate => credentials::create(core, tenant, input),
        Route::CredentialsList => credentials::list(core, tenant, input),
        Route::CredentialsGet => credentials::get(core, tenant, input),
        Route::CredentialsUpdate => credentials::update(core, tenant, input),
        Route::CredentialsDelete => credentials::delete(core, tenant, input),
        Route::CredentialsUpsert => credentials::upsert(core, tenant, input),
        Route::JobsCreate => jobs::create(core, tenant, input, headers),
        Route::JobsGet => jobs::get(core, tenant, input),
        Route::JobsList => jobs::list(core, tenant, input),
        Route::JobsCancel => jobs::cancel_route(core, tenant, input),
        Route::JobsDebugReport => jobs::debug_report(core, tenant, input),
        Route::LogsList => logs::list(core, tenant, input),
        Route::WebhooksCreate => webhooks::create(core, tenant, input),
        Route::WebhooksList => webhooks::list(core, tenant, input),
        Route::WebhooksUpdate => webhooks::update(core, tenant, input),
        Route::WebhooksDelete => webhooks::delete(core, tenant, input),
        Route::SchedulesCreate => schedules::create(core, tenant, input),
        Route::SchedulesList => schedules::list(core, tenant, input),
        Route::SchedulesGet => schedules::get(core, tenant, input),
        Route::SchedulesUpdate => schedules::update(core, tenant, input),
        Route::SchedulesDelete => schedules::delete(core, tenant, input),
    }
}

/// What the router answers a POST to `path` with `body`, for the tenant of `api_key`, without
/// the HTTP around it: the route's output, or the error the envelope carries. The same steps as
/// [`respond`] after the method and key checks; the fuzzing properties drive it.
pub(crate) fn answer_bytes(
    core: &Core,
    path: &str,
    api_key: &[u8],
    body: &[u8],
    headers: &HeaderMap,
) -> Result<Value, ApiError> {
    let route = match resolve(path) {
        Resolution::Route(route) => route,
        Resolution::NotImplemented => return Err(ApiError::not_implemented(path)),
        Resolution::NotFound => return Err(ApiError::not_found("Not found")),
    };
    let tenant = TenantId::from_api_key(api_key);
    let input = parse_input(body, route.free_form())?;
    dispatch(core, route, &tenant, input.as_ref(), headers)
}

async fn respond(core: &Core, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path();
    let route = match resolve(path) {
        Resolution::Route(route) => route,
        Resolution::NotImplemented => return ApiError::not_implemented(path).into_response(),
        Resolution::NotFound => return ApiError::not_found("Not found").into_response(),
    };
    if request.method() != Method::POST {
        return method_not_allowed();
    }
    let tenant = match request.headers().get(API_KEY_HEADER) {
        Some(key) if !key.as_bytes().is_empty() => TenantId::from_api_key(key.as_bytes()),
        _ => {
            return ApiError::unauthorized("Missing API key; send it in the x-api-key header")
                .into_response()
        }
    };
    let (parts, body) = request.into_parts();
    let input = match read_limited(body, core.config().max_body).await {
        Ok(bytes) => parse_input(&bytes, route.free_form()),
        Err(err) => Err(err),
    };
    let answer =
        input.and_then(|input| dispatch(core, route, &tenant, input.as_ref(), &parts.headers));
    match answer {
        Ok(output) => ok(output),
        Err(err) => err.into_response(),
    }
}

/// The request id for a request's log lines: the caller's `x-request-id` when it is short
/// printable ASCII (a sidecar in front passes its own), else a fresh UUID.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned)
}

/// Answers one request, logging its route and status under its request id.
pub(crate) async fn handle(core: Core, request: Request<Incoming>) -> Response<Body> {
    let span = info_span!("request", request_id = %request_id(request.headers()));
    async move {
        let path = request.uri().path().to_string();
        let method = request.method().clone();
        let response = respond(&core, request).await;
        info!(%method, %path, status = response.status().as_u16(), "Request handled");
        response
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn route_table() {
        assert_eq!(
            resolve("/v1/jobs/debugReport"),
            Resolution::Route(Route::JobsDebugReport)
        );
        assert_eq!(resolve("/v1/logs/list"), Resolution::Route(Route::LogsList));
        assert_eq!(
            resolve("/v1/webhooks/create"),
            Resolution::Route(Route::WebhooksCreate)
        );
        assert_eq!(
            resolve("/v1/schedules/get"),
            Resolution::Route(Route::SchedulesGet)
        );
        assert_eq!(resolve("/v1/schedules/anything"), Resolution::NotFound);
        assert_eq!(resolve("/v1/sessions/list"), Resolution::NotImplemented);
        assert_eq!(resolve("/v1/jobs/nope"), Resolution::NotFound);
        assert_eq!(resolve("/v1/credentials/list/"), Resolution::NotFound);
        assert_eq!(resolve("/v2/credentials/list"), Resolution::NotFound);
        assert_eq!(resolve("/v1/credentials"), Resolution::NotFound);
        assert_eq!(resolve("/"), Resolution::NotFound);
        assert_eq!(resolve("/v1/sessions/"), Resolution::NotFound);
        assert_eq!(resolve("/v1/sessions/a/b"), Resolution::NotFound);
    }

    #[test]
    fn every_route_is_listed_once() {
        let paths: Vec<_> = routes().collect();
        assert_eq!(paths.len(), 21);
        for path in &paths {
            assert!(matches!(resolve(path), Resolution::Route(_)), "{path}");
            assert_eq!(paths.iter().filter(|other| *other == path).count(), 1);
        }
    }

    #[test]
    fn request_ids_come_from_the_caller_when_usable() {
        let mut headers = HeaderMap::new();
        assert_eq!(request_id(&headers).len(), 36);
        headers.insert("x-request-id", HeaderValue::from_static("abc-1"));
        assert_eq!(request_id(&headers), "abc-1");
        headers.insert("x-request-id", HeaderValue::from_static("a b"));
        assert_eq!(request_id(&headers).len(), 36);
    }

    #[test]
    fn bodies() {
        assert_eq!(parse_input(b"", &[]).unwrap(), None);
        assert_eq!(parse_input(b"{}", &[]).unwrap(), None);
        assert_eq!(
            parse_input(br#"{"json": {"a": 1}, "meta": []}"#, &[]).unwrap(),
            Some(json!({"a": 1}))
        );
        assert_eq!(
            parse_input(b"nope", &[]).unwrap_err(),
            ApiError::malformed()
        );
        assert_eq!(parse_input(b"[1]", &[]).unwrap_err(), ApiError::malformed());
        for blank in [&b" "[..], b"\r", b"\n\t "] {
            assert_eq!(parse_input(blank, &[]).unwrap_err(), ApiError::malformed());
        }
        assert_eq!(
            parse_input(br#"{"json": {"a": 1}, "meta": [[1, "b"]]}"#, &[]).unwrap_err(),
            ApiError::malformed()
        );
    }
}
