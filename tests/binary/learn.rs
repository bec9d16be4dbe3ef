//! `serve --mock` with the default flags learns the embedded mock's credentials at start-up:
//! `/readyz` turns 200 once the first pass is logged, and no value reaches the logs.

use std::process::Stdio;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::binary::{command, listening_base};
use crate::support::http::TestClient;
use crate::support::mock::DEMO_PASSWORD;

#[tokio::test]
async fn serve_mock_learns_the_tenants_credentials_before_it_is_ready() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin_addr = free.local_addr().unwrap().to_string();
    drop(free);
    let mut child = command()
        .args(["--log-format", "json", "serve", "--mock"])
        .args(["--listen", "127.0.0.1:0", "--admin-listen", &admin_addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let _base = listening_base(&mut child).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    let learned = loop {
        let line = tokio::time::timeout_at(deadline.into(), stderr.next_line())
            .await
            .expect("the first learning pass is logged")
            .unwrap()
            .expect("the process keeps running");
        lines.push(line.clone());
        let Ok(log) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if log["message"] == "Credentials learned; echoes of older jobs are scrubbed" {
            break log;
        }
    };
    // The demo tenant holds three credentials.
    assert_eq!(learned["learned"], 3, "{learned}");
    let admin = TestClient::new(format!("http://{admin_addr}"));
    let ready = loop {
        let status = admin.send(Method::GET, "/readyz", &[], "").await.status;
        if status == 200 || Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ready, 200);
    let all = lines.join("\n");
    for secret in [
        "demo-pa$$w0rd",
        DEMO_PASSWORD,
        "demo-token-123",
        "plain-secret-value",
    ] {
        assert!(!all.contains(secret), "{secret} logged");
    }
}
