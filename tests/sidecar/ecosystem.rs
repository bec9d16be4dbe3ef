//! How the sidecar fits the tools around it, over real HTTP: `/metrics` read by the Prometheus
//! Python client's OpenMetrics parser (every family typed, names by the Prometheus conventions), the
//! loop guard (`Via` appended upstream, a request coming back refused with 508), the
//! sidecar's own `Origin` accepted, `Allow` on 405s, 415 for a non-JSON POST, small answers
//! sent with a `Content-Length`, and trace context passed upstream untouched.

use std::sync::{Arc, OnceLock};

use http::{header, Method};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

use crate::support::http::{call, refused, TestClient};
use crate::support::openmetrics;
use crate::support::sidecar::{fake_and_sidecar, start_sidecar, Options};

use libretto_sidecar::sidecar::guard::Guard;
use libretto_sidecar::sidecar::UpstreamChoice;

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test]
async fn metrics_parse_as_openmetrics_with_every_family_typed() {
    let (_fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let job = call(
        &client,
        "jobs/create",
        crate::support::sidecar::portal_job(),
    )
    .await;
    assert_eq!(job.status, 200, "{}", job.json);
    assert_eq!(call(&client, "jobs/list", json!({})).await.status, 200);
    let missing = json!({"workflow": "w", "params": {"p": "{{credential:nope}}"}});
    assert_eq!(call(&client, "jobs/create", missing).await.status, 422);
    let admin = TestClient::new(&sidecar.admin_url);
    let answer = admin.send(Method::GET, "/metrics", &[], "").await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = String::from_utf8(answer.bytes.to_vec()).unwrap();
    let text_for_parser = text.clone();
    let parsed = tokio::task::spawn_blocking(move || openmetrics::parse(&text_for_parser))
        .await
        .unwrap();
    let expected = [
        ("libretto_sidecar_requests", "counter"),
        ("libretto_sidecar_errors", "counter"),
        ("libretto_sidecar_placeholders_resolved", "counter"),
        ("libretto_sidecar_cache_hits", "counter"),
        ("libretto_sidecar_cache_misses", "counter"),
        ("libretto_sidecar_cache_evictions", "counter"),
        ("libretto_sidecar_stale_serves", "counter"),
        ("libretto_sidecar_upstream_requests", "counter"),
        (
            "libretto_sidecar_upstream_request_duration_seconds",
            "histogram",
        ),
        ("libretto_sidecar_requests_in_flight", "gauge"),
        ("libretto_sidecar_open_connections", "gauge"),
        ("libretto_sidecar_cache_entries", "gauge"),
        ("libretto_sidecar_cache_weight_kib", "gauge"),
        ("libretto_sidecar_known_secret_values", "gauge"),
        ("libretto_sidecar_known_secret_bytes", "gauge"),
        ("libretto_sidecar_job_memory_entries", "gauge"),
        ("libretto_sidecar_job_memory_weight_kib", "gauge"),
        ("libretto_sidecar_build", "info"),
        ("process_cpu_seconds", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ];
    for (name, kind) in expected {
        assert_eq!(
            parsed.get(name).map(|f| &f["type"]),
            Some(&json!(kind)),
            "{name}\n{text}"
        );
    }
    assert_eq!(
        parsed.len(),
        expected.len(),
        "no family left unchecked: {parsed:?}"
    );
    let duration = &parsed["libretto_sidecar_upstream_request_duration_seconds"];
    assert_eq!(duration["unit"], "seconds");
    let sample = |family: &str, name: &str, labels: Value| -> Option<f64> {
        parsed[family]["samples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s[0] == name && s[1] == labels)
            .and_then(|s| s[2].as_f64())
    };
    assert_eq!(
        sample(
            "libretto_sidecar_requests",
            "libretto_sidecar_requests_total",
            json!({"route": "jobs/create", "status": "200"})
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            "libretto_sidecar_upstream_request_duration_seconds",
            "libretto_sidecar_upstream_request_duration_seconds_count",
            json!({"route": "jobs/create", "status": "2xx"})
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            "libretto_sidecar_build",
            "libretto_sidecar_build_info",
            json!({"version": env!("CARGO_PKG_VERSION")})
        ),
        Some(1.0)
    );
    assert!(
        sample(
            "process_cpu_seconds",
            "process_cpu_seconds_total",
            json!({})
        )
        .is_some(),
        "{text}"
    );
    // The samples as a scraper sees them.
    for line in [
        r#"libretto_sidecar_requests_total{route="jobs/create",status="200"} 1"#,
        r#"libretto_sidecar_upstream_requests_total{route="jobs/create",status="2xx"} 1"#,
        r#"libretto_sidecar_upstream_requests_total{route="credentials/get",status="2xx"} 1"#,
        "libretto_sidecar_requests_in_flight 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}\n{text}");
    }
    let build = format!(
        r#"libretto_sidecar_build_info{{version="{}"}} 1"#,
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.lines().any(|l| l == build), "{text}");
    let resident = text
        .lines()
        .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
        .unwrap();
    assert!(resident.parse::<f64>().unwrap() > 1e6, "{resident}");
}

#[tokio::test]
async fn an_upstream_with_no_answer_is_counted_as_error() {
    // Nothing listens on the discard port: the forward fails without an answer.
    let sidecar = start_sidecar(
        UpstreamChoice::Url("http://127.0.0.1:9".into()),
        Options::default(),
    )
    .await;
    let client = TestClient::new(&sidecar.url);
    assert_eq!(call(&client, "jobs/list", json!({})).await.status, 502);
    let text = sidecar.metrics.encode();
    assert!(
        text.contains(
            r#"libretto_sidecar_upstream_requests_total{route="jobs/list",status="error"} 1"#
        ),
        "{text}"
    );
}

/// A TCP relay on its own port that sends every connection to the address set later.
async fn relay() -> (String, Arc<OnceLock<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let target = Arc::new(OnceLock::<String>::new());
    let to = Arc::clone(&target);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let Some(addr) = to.get().cloned() else {
                continue;
            };
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(addr).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (url, target)
}

#[tokio::test]
async fn a_request_that_comes_back_is_refused_as_a_loop() {
    let (relay_url, target) = relay().await;
    let sidecar = start_sidecar(UpstreamChoice::Url(relay_url), Options::default()).await;
    target.set(sidecar.addr.to_string()).unwrap();
    let client = TestClient::new(&sidecar.url);
    let answer = client
        .send(
            Method::POST,
            "/v1/jobs/list",
            &[JSON, ("via", "1.1 app-gateway")],
            "{}",
        )
        .await;
    let body = refused(&answer, 508, "LOOP_DETECTED");
    assert_eq!(body["defined"], true);
    assert!(
        body["message"].as_str().unwrap().contains("--upstream"),
        "{body}"
    );
    let pseudonym = body["data"]["via"].as_str().unwrap();
    assert!(pseudonym.starts_with("libretto-sidecar-"), "{pseudonym}");
    assert_eq!(
        pseudonym,
        sidecar.proxy.guard().via.pseudonym(),
        "this instance's own entry"
    );
}

#[tokio::test]
async fn forwarded_requests_carry_via_and_trace_context_untouched() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
    for path in ["/v1/jobs/list", "/v1/jobs/create"] {
        let body = if path.ends_with("create") {
            json!({"json": crate::support::sidecar::portal_job()}).to_string()
        } else {
            "{}".to_owned()
        };
        let answer = client
            .send(
                Method::POST,
                path,
                &[
                    JSON,
                    ("via", "1.0 fred, 1.1 p.example"),
                    ("traceparent", traceparent),
                    ("tracestate", tracestate),
                ],
                body,
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.json);
        let seen = &fake.recorded_at(path)[0];
        let pseudonym = sidecar.proxy.guard().via.pseudonym();
        assert_eq!(
            seen.headers[header::VIA],
            format!("1.0 fred, 1.1 p.example, 1.1 {pseudonym}").as_str()
        );
        assert_eq!(seen.headers["traceparent"], traceparent);
        assert_eq!(seen.headers["tracestate"], tracestate);
    }
}

#[tokio::test]
async fn the_sidecars_own_origin_is_accepted_and_others_refused() {
    let guard = Guard {
        allowed_hosts: vec!["sidecar.test".into()],
        allowed_origins: vec!["https://console.example".into()],
        ..Guard::default()
    };
    let (fake, sidecar) = fake_and_sidecar(Options {
        guard,
        ..Options::default()
    })
    .await;
    let client = TestClient::new(&sidecar.url);
    let port = sidecar.addr.port();
    let own = [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://sidecar.test:{port}"),
        "https://console.example".to_owned(),
    ];
    for origin in &own {
        let answer = client
            .send(
                Method::POST,
                "/v1/jobs/list",
                &[JSON, ("origin", origin)],
                "{}",
            )
            .await;
        assert_eq!(answer.status, 200, "{origin}: {}", answer.json);
    }
    assert_eq!(fake.recorded_at("/v1/jobs/list").len(), own.len());
    for origin in [
        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
        format!("https://127.0.0.1:{port}"),
        format!("http://evil.example:{port}"),
        "null".to_owned(),
    ] {
        let answer = client
            .send(
                Method::POST,
                "/v1/jobs/list",
                &[JSON, ("origin", &origin)],
                "{}",
            )
            .await;
        let body = refused(&answer, 403, "FORBIDDEN");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("--allowed-origin"),
            "{body}"
        );
    }
    assert_eq!(fake.recorded_at("/v1/jobs/list").len(), own.len());
}

#[tokio::test]
async fn refusals_carry_allow_the_right_status_and_a_length() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let get = client.send(Method::GET, "/v1/jobs/create", &[], "").await;
    refused(&get, 405, "METHOD_NOT_SUPPORTED");
    assert_eq!(get.headers[header::ALLOW], "POST");
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let headers: Vec<(&str, &str)> = content_type
            .map(|value| ("content-type", value))
            .into_iter()
            .collect();
        let answer = client
            .send(Method::POST, "/v1/jobs/create", &headers, "{}")
            .await;
        let body = refused(&answer, 415, "UNSUPPORTED_MEDIA_TYPE");
        assert_no_chunking(&answer);
        assert_eq!(body["defined"], true);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("application/json"),
            "{body}"
        );
    }
    assert!(fake.recorded().is_empty(), "nothing reached upstream");
    // The sidecar's own answers are small and sent whole, with their length.
    assert_no_chunking(&get);
    let missing = call(
        &client,
        "jobs/create",
        json!({"workflow": "w", "params": {"p": "{{credential:nope}}"}}),
    )
    .await;
    assert_eq!(missing.status, 422);
    assert_no_chunking(&missing);
    let admin = TestClient::new(&sidecar.admin_url);
    for path in ["/healthz", "/readyz", "/metrics", "/nope"] {
        assert_no_chunking(&admin.send(Method::GET, path, &[], "").await);
    }
    let post = admin.send(Method::POST, "/metrics", &[], "").await;
    assert_eq!(post.status, 405);
    assert_eq!(post.headers[header::ALLOW], "GET, HEAD");
    assert_no_chunking(&post);
}

fn assert_no_chunking(answer: &crate::support::http::Answer) {
    assert!(
        !answer.headers.contains_key(header::TRANSFER_ENCODING),
        "{:?}",
        answer.headers
    );
    assert_eq!(
        answer.headers[header::CONTENT_LENGTH],
        answer.bytes.len().to_string().as_str()
    );
}
