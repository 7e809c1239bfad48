//! The HTTP clients the delivery task POSTs with: one per webhook, speaking plain http or
//! https (rustls with ring) to whatever the URL says. An https receiver's certificate must
//! chain to the system's roots (Debian's `/etc/ssl/certs`, read once) or to the webhook's own
//! `ca` file; nothing else is trusted, and a webhook's CA is never trusted for another.
//! Builds clients only: what is sent, and when, is `deliver`'s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::Webhook;

/// What a notification is POSTed with.
pub type HookClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One client per webhook, by name. The system's roots are read once for all of them.
pub fn clients(webhooks: &[Webhook]) -> HashMap<Arc<str>, HookClient> {
    let system = system_roots(webhooks);
    webhooks
        .iter()
        .map(|w| (w.name.clone(), client(w, &system)))
        .collect()
}

/// The system's trusted roots, when some webhook speaks https; unreadable ones are logged
/// (an https receiver then needs its `ca`).
fn system_roots(webhooks: &[Webhook]) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    if !webhooks.iter().any(|w| w.url.starts_with("https://")) {
        return roots;
    }
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "a system CA certificate could not be read");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::info!(
        added,
        ignored,
        "system CA certificates loaded for https webhooks"
    );
    roots
}

fn client(w: &Webhook, system: &rustls::RootCertStore) -> HookClient {
    let mut roots = system.clone();
    // Each was checked when the config was read.
    let (_, ignored) = roots.add_parsable_certificates(w.ca.iter().cloned());
    debug_assert_eq!(ignored, 0);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(connector)
}
