//! The oRPC wire envelope that every Libretto route speaks.
//!
//! Requests and answers are wrapped as `{"json": ...}`; errors are wrapped the same way with
//! `defined`, `code`, `status`, `message` and an optional `data`, and the HTTP status equals
//! `json.status`. The mock, the sidecar and its checks all answer through [`ApiError`], so a
//! client can never tell from the shape of an error which of them produced it.

use std::borrow::Cow;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use crate::http::body::{full, Body};

/// The message oRPC gives for a body it cannot parse.
pub const MALFORMED_MESSAGE: &str = "Malformed request. Ensure the request body is properly formatted and the 'Content-Type' header is set correctly.";

/// One problem found while validating an input, as in oRPC's `data.issues`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub code: Cow<'static, str>,
    /// The string check that failed (`uuid`, `url`, ...), as zod names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<Cow<'static, str>>,
    /// The type a field wanted, on an `invalid_type` issue about a present value (as zod).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Cow<'static, str>>,
    /// The type the field had instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<Cow<'static, str>>,
    pub message: String,
    /// Path segments from the input root (without the `json` wrapper): keys and indexes.
    pub path: Vec<Value>,
}

impl Issue {
    pub fn new(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
        path: Vec<Value>,
    ) -> Self {
        Self {
            code: code.into(),
            validation: None,
            expected: None,
            received: None,
            message: message.into(),
            path,
        }
    }

    /// A string that fails a named check, such as `uuid`.
    pub fn invalid_string(
        validation: &'static str,
        message: impl Into<String>,
        path: Vec<Value>,
    ) -> Self {
        Self {
            code: "invalid_string".into(),
            validation: Some(validation.into()),
            expected: None,
            received: None,
            message: message.into(),
            path,
        }
    }

    /// A required field that is absent.
    pub fn required(field: &str) -> Self {
        Self::new("invalid_type", "Required", vec![json!(field)])
    }

    /// A field whose JSON type is wrong.
    pub fn wrong_type(field: &str, expected: &'static str, received: &Value) -> Self {
        Self::invalid_type(vec![json!(field)], expected, json_type_name(received))
    }

    /// zod's `invalid_type` issue: `expected` and `received` name the types.
    pub fn invalid_type(path: Vec<Value>, expected: &'static str, received: &'static str) -> Self {
        Self {
            expected: Some(expected.into()),
            received: Some(received.into()),
            ..Self::new(
                "invalid_type",
                format!("Expected {expected}, received {received}"),
                path,
            )
        }
    }
}

/// The zod-style name of a JSON value's type, used in validation messages.
pub fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// An error answered in the oRPC envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: String,
    /// Boxed so that `Result<_, ApiError>` stays small on the happy path.
    pub data: Option<Box<Value>>,
    /// True only for errors a route declares itself (the sidecar's own codes).
    pub defined: bool,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            data: None,
            defined: false,
        }
    }

    /// Marks the error as one the route declares (`defined: true`).
    pub fn defined(mut self) -> Self {
        self.defined = true;
        self
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(Box::new(data));
        self
    }

    pub fn malformed() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", MALFORMED_MESSAGE)
    }

    /// 400 "Input validation failed" with one issue per problem.
    pub fn validation(issues: Vec<Issue>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "Input validation failed",
        )
        .with_data(json!({ "issues": issues }))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("Request body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn not_implemented(route: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NOT_IMPLEMENTED",
            format!("The route {route} is not implemented by this server"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            message,
        )
    }

    /// The enveloped JSON body of this error.
    pub fn to_json(&self) -> Value {
        let mut inner = serde_json::Map::new();
        inner.insert("defined".into(), Value::Bool(self.defined));
        inner.insert("code".into(), Value::String(self.code.to_string()));
        inner.insert("status".into(), json!(self.status.as_u16()));
        inner.insert("message".into(), Value::String(self.message.clone()));
        if let Some(data) = &self.data {
            inner.insert("data".into(), (**data).clone());
        }
        json!({ "json": Value::Object(inner) })
    }

    pub fn into_response(self) -> Response<Body> {
        json_response(self.status, &self.to_json())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

/// Wraps a route's output as `{"json": output}`.
pub fn wrap(output: Value) -> Value {
    json!({ "json": output })
}

/// A 200 answer with the output wrapped in the envelope.
pub fn ok(output: Value) -> Response<Body> {
    json_response(StatusCode::OK, &wrap(output))
}

/// A JSON answer with the given status; the body is serialized once, here.
pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    // Serializing a `Value` cannot fail: its keys are strings and it holds no foreign types.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(full(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_has_upstream_shape() {
        let err = ApiError::validation(vec![Issue::invalid_string(
            "uuid",
            "Invalid uuid",
            vec![json!("id")],
        )]);
        assert_eq!(
            err.to_json(),
            json!({"json": {"defined": false, "code": "BAD_REQUEST", "status": 400,
                "message": "Input validation failed",
                "data": {"issues": [{"code": "invalid_string", "validation": "uuid", "message": "Invalid uuid", "path": ["id"]}]}}})
        );
    }

    #[test]
    fn data_is_left_out_when_empty() {
        let body = ApiError::not_found("Not found").to_json();
        assert!(body["json"].get("data").is_none());
        assert_eq!(body["json"]["status"], json!(404));
    }
}
