//! Webhooks over https, by the real binary to a real TLS receiver made in this test with a
//! private CA: the webhook whose `ca` file names that CA delivers (signed, once); a webhook
//! to the same receiver without it refuses the certificate, delivers nothing and leaves a dead
//! letter whose error says why. Waits are for what the receiver saw, never a fixed time.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use reqwest::Method;
use serde_json::{Value, json};
use support::*;

const SECRET: &str = "tls-webhook-secret-0123456789";
const PATIENCE: Duration = Duration::from_secs(60);

/// What the receiver saw: every request (delivery id, signature verified) and every TLS
/// handshake it refused or lost.
#[derive(Default)]
struct Seen {
    hits: Vec<(String, bool, Value)>,
    failed_handshakes: usize,
}

/// A private CA and a certificate for 127.0.0.1 it signed: the CA's PEM and the server's
/// rustls config.
fn private_pki() -> (String, rustls::ServerConfig) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hallq test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    (ca.pem(), server)
}

/// Serve https on a loopback port: record each POST and answer 200.
async fn receiver(tls: rustls::ServerConfig) -> (SocketAddr, Arc<Mutex<Seen>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let seen = s.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    seen.lock().unwrap().failed_handshakes += 1;
                    return;
                };
                let service = hyper::service::service_fn(move |req| {
                    let seen = seen.clone();
                    async move { Ok::<_, std::convert::Infallible>(record(&seen, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

async fn record(
    seen: &Mutex<Seen>,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (delivery, signature) = (header("x-hallq-delivery"), header("x-hallq-signature"));
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock()
        .unwrap()
        .hits
        .push((delivery, signature == format!("sha256={hex}"), value));
    hyper::Response::new(Full::new(Bytes::from_static(b"ok")))
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < PATIENCE, "waited too long for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_receiver_is_trusted_through_the_webhooks_own_ca_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, tls) = private_pki();
    std::fs::write(dir.path().join("hall-ca.pem"), ca_pem).unwrap();
    let (addr, seen) = receiver(tls).await;
    let mut config = case_config(dir.path(), 1);
    config += &format!(
        r#"
[booking]
keys = ["test-booking-key-0123456789"]

[[webhook]]
name = "trusted"
url = "https://{addr}/hook"
ca = "hall-ca.pem"
secret = "{SECRET}"
events = ["case.accepted"]

[[webhook]]
name = "stranger"
url = "https://{addr}/hook"
secret = "{SECRET}"
events = ["case.accepted"]
max_attempts = 1
"#
    );
    let daemon = Hallq::config(dir.path(), &config).spawn();
    let http = support::client();
    #[allow(
        clippy::disallowed_methods,
        reason = "the real binary runs on the real clock; the case is accepted now"
    )]
    let now = jiff::Timestamp::now().to_string();
    let accepted = call(
        &http,
        Method::POST,
        format!("{}/v1/cases", daemon.base),
        Some(OFFICER),
        Some(
            json!({
                "id": "TLS-1", "hall": "h1", "matter": "DAYS-2", "accepted_at": now,
                "applicant": {"name": "张三", "contact": "13800138000"},
            })
            .to_string(),
        ),
        &[],
    )
    .await;
    assert_eq!(accepted.status.as_u16(), 201, "{:?}", accepted.body);

    // The stranger's one attempt fails on the certificate: a dead letter saying so.
    let mut dead = Value::Null;
    wait_for("the stranger's dead letter", async || {
        let r = call(
            &http,
            Method::GET,
            format!("{}/v1/webhooks/dead", daemon.base),
            Some(ADMIN),
            None,
            &[],
        )
        .await;
        dead = r.body["dead"].clone();
        dead.as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(dead[0]["webhook"], "stranger");
    let error = dead[0]["last_error"].as_str().unwrap();
    assert!(
        error.contains("certificate") && error.contains("UnknownIssuer"),
        "the error names the untrusted certificate: {error}"
    );

    // The trusted webhook delivers once, signed, over TLS.
    wait_for("the trusted delivery", async || {
        !seen.lock().unwrap().hits.is_empty()
    })
    .await;
    wait_for("the refused handshake", async || {
        seen.lock().unwrap().failed_handshakes >= 1
    })
    .await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.hits.len(), 1, "only the trusted webhook got through");
    let (delivery, signed, body) = &seen.hits[0];
    assert!(*signed, "the signature verifies");
    assert_eq!(body["id"], json!(delivery));
    assert_eq!(body["event"], "case.accepted");
    assert_eq!(body["case"], "TLS-1");
    assert_eq!(seen.failed_handshakes, 1, "the stranger tried once");
}
