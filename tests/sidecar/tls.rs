//! The sidecar in front of an `https` upstream: a local TLS server with a certificate from a
//! CA made in the test, trusted through `--upstream-ca-file`. HTTP/2 and HTTP/1.1 are chosen by
//! ALPN (the server records the version of every request it gets); without the CA file the
//! upstream's certificate is refused.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use http::{Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;

use crate::support::http::{call, Answer, TestClient};
use crate::support::sidecar::{start_sidecar, Options};

use libretto_sidecar::http::envelope::json_response;
use libretto_sidecar::sidecar::UpstreamChoice;

/// A CA certificate (PEM) and a server certificate for 127.0.0.1 signed by it.
struct Pki {
    ca_pem: String,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn make_pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sidecar test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert: leaf.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

/// Starts a TLS upstream offering `alpn`; returns its address and the recorded versions.
async fn tls_upstream(pki: &Pki, alpn: &[&[u8]]) -> (SocketAddr, Arc<Mutex<Vec<Version>>>) {
    let mut config = rustls::ServerConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![pki.cert.clone()], pki.key.clone_key())
    .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let versions = Arc::new(Mutex::new(Vec::new()));
    let seen = versions.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |request: Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        seen.lock().push(request.version());
                        Ok::<_, std::convert::Infallible>(answer(request.uri().path()))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, versions)
}

fn answer(path: &str) -> Response<libretto_sidecar::http::body::Body> {
    match path {
        "/v1/credentials/get" => json_response(
            StatusCode::OK,
            &json!({"json": {"id": "c1", "value": {"password": "over-tls"}}}),
        ),
        _ => json_response(
            StatusCode::OK,
            &json!({"json": {"success": true, "job_id": "job-1", "status": "queued"}}),
        ),
    }
}

fn ca_file(dir: &tempfile::TempDir, pki: &Pki) -> PathBuf {
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, &pki.ca_pem).unwrap();
    path
}

async fn launch(client: &TestClient) -> Answer {
    let job = json!({"workflow": "w", "params": {"p": "{{credential:tls/password}}"}});
    call(client, "jobs/create", job).await
}

async fn tls_sidecar(addr: SocketAddr, ca: Option<PathBuf>) -> TestClient {
    let options = Options {
        ca_file: ca,
        ..Options::default()
    };
    let running = start_sidecar(UpstreamChoice::Url(format!("https://{addr}")), options).await;
    TestClient::new(running.url)
}

#[tokio::test]
async fn a_private_ca_upstream_is_reached_over_http2_and_http1() {
    let pki = make_pki();
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_file(&dir, &pki);
    for (alpn, expected) in [
        (&[&b"h2"[..], b"http/1.1"][..], Version::HTTP_2),
        (&[&b"http/1.1"[..]][..], Version::HTTP_11),
    ] {
        let (addr, versions) = tls_upstream(&pki, alpn).await;
        let client = tls_sidecar(addr, Some(ca.clone())).await;
        let answer = launch(&client).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
        let versions = versions.lock().clone();
        assert_eq!(versions, [expected, expected], "lookup and job");
    }
}

#[tokio::test]
async fn without_the_ca_file_the_certificate_is_refused() {
    let pki = make_pki();
    let (addr, versions) = tls_upstream(&pki, &[b"h2", b"http/1.1"]).await;
    let client = tls_sidecar(addr, None).await;
    let answer = launch(&client).await;
    assert_eq!(answer.status, 502, "{}", answer.json);
    assert_eq!(answer.json["json"]["code"], "UPSTREAM_ERROR");
    assert_eq!(answer.json["json"]["data"]["reason"], "unreachable");
    assert!(versions.lock().is_empty());
}
