//! The sidecar's security layer over real HTTP, by concern: credential reads ([`reads`]), the
//! policy ([`policy`]), what answers, echoes and logs give back ([`scrubbing`]), who may drive
//! the sidecar ([`access`]), and the size and connection limits ([`limits`]). Also the ways an
//! app could get a secret back or around the policy: pushing a value out of the scrubber by
//! rotating it, a prefetched value never learned, the scrubber as an oracle for guesses,
//! renaming credentials under a policy, a browser page or a DNS-rebound name driving the
//! sidecar, and a secret equal to a word of the envelope.

mod access;
mod ambiguous;
mod body_budget;
mod hosts;
mod limits;
mod lookups;
mod numbers_and_headers;
mod policy;
mod probes;
mod reads;
mod scrubbing;
mod secret_budget;

use libretto_sidecar::sidecar::guard::Guard;
use serde_json::{json, Value};

use crate::support::http::TestClient;
use crate::support::mock::{fast_config, MockServer, DEMO_KEY, DEMO_PASSWORD};
use crate::support::sidecar::{mock_and_sidecar, Options};

/// The demo fixtures' secrets: the portal username and password, and the API token.
pub const USERNAME: &str = "demo-user";
pub const PASSWORD: &str = DEMO_PASSWORD;
pub const TOKEN: &str = "demo-token-123";
/// The distinctive part of [`PASSWORD`], which nothing given back may show.
pub const PASSWORD_PART: &str = "demo-pa$$w0rd";

/// A demo mock whose jobs finish within milliseconds, and a sidecar in front of it.
pub async fn fast_mock_and_sidecar(guard: Guard) -> (MockServer, TestClient) {
    mock_and_sidecar(
        fast_config(),
        Options {
            guard,
            ..Options::default()
        },
    )
    .await
}

/// The portal job under `workflow`, with the API token too.
pub fn portal_job_as(workflow: &str) -> Value {
    json!({"workflow": workflow,
           "params": {"memberId": "12345",
                      "username": "{{credential:portal-production/username}}",
                      "password": "{{credential:portal-production/password}}",
                      "auth": "Bearer {{credential:api/token}}"}})
}

/// Asserts that `text` holds none of the demo secrets nor the demo key.
pub fn holds_no_secret(text: &str) {
    for secret in [USERNAME, PASSWORD_PART, TOKEN, DEMO_KEY] {
        assert!(!text.contains(secret), "`{secret}` leaked in {text}");
    }
}

/// The id of the credential called `name` in a `credentials/list` answer.
pub fn credential_id(listed: &Value, name: &str) -> String {
    listed["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["credential_id"]
        .as_str()
        .unwrap()
        .to_owned()
}
