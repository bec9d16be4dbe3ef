//! The mock's input validation, through its router: a sequence of requests (parts of the
//! input; the first byte of each picks the route, the rest is the body) against one fresh mock.
//! No body panics the mock, and every refusal is a well-formed error envelope with a client
//! error status (or a documented server-side refusal), never an internal error.

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::parts;
use crate::http::envelope::wrap;
use crate::mock::{Mock, MockConfig};

/// The paths a request may go to: every route, plus an unimplemented and an unknown one.
const PATHS: &[&str] = &[
    "/v1/credentials/create",
    "/v1/credentials/list",
    "/v1/credentials/get",
    "/v1/credentials/update",
    "/v1/credentials/delete",
    "/v1/credentials/upsert",
    "/v1/jobs/create",
    "/v1/jobs/get",
    "/v1/jobs/list",
    "/v1/jobs/cancel",
    "/v1/jobs/debugReport",
    "/v1/logs/list",
    "/v1/webhooks/create",
    "/v1/webhooks/list",
    "/v1/webhooks/update",
    "/v1/webhooks/delete",
    "/v1/schedules/create",
    "/v1/schedules/list",
    "/v1/schedules/get",
    "/v1/schedules/update",
    "/v1/schedules/delete",
    "/v1/sessions/list",
    "/v1/jobs/nope",
];

/// The most requests one input sends.
const MAX_REQUESTS: usize = 16;

pub fn mock_input(data: &[u8]) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    // Routes start timers (a job's lifecycle, the scheduler) on the current runtime; they are
    // dropped with it, unrun.
    let _entered = runtime.enter();
    let mock = Mock::new(MockConfig::default());
    let headers = HeaderMap::new();
    for part in parts(data).into_iter().take(MAX_REQUESTS) {
        let Some((choice, body)) = part.split_first() else {
            continue;
        };
        let path = PATHS[usize::from(*choice) % PATHS.len()];
        match mock.answer_bytes(path, b"fuzz-key", body, &headers) {
            Ok(output) => {
                let text = serde_json::to_vec(&wrap(output)).expect("an answer serializes");
                let _: Value = serde_json::from_slice(&text).expect("an answer parses");
            }
            Err(error) => {
                assert!(
                    error.status.is_client_error()
                        || matches!(
                            error.status,
                            StatusCode::NOT_IMPLEMENTED | StatusCode::SERVICE_UNAVAILABLE
                        ),
                    "{path} answered {} {}: {}",
                    error.status,
                    error.code,
                    error.message
                );
                let envelope = error.to_json();
                let inner = &envelope["json"];
                assert_eq!(inner["status"], error.status.as_u16(), "{envelope}");
                assert!(inner["defined"].is_boolean(), "{envelope}");
                assert!(
                    inner["code"].as_str().is_some_and(|code| !code.is_empty()),
                    "{envelope}"
                );
                assert!(
                    inner["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{envelope}"
                );
                if inner["message"] == "Input validation failed" {
                    assert!(inner["data"]["issues"].is_array(), "{envelope}");
                }
            }
        }
    }
}
