//! `[[webhook]]`: receivers of applicant notifications, checked for shape (an http or https
//! URL with a host, a secret long enough to sign with, known event names, sane retry bounds)
//! and the `ca` file read and parsed here, so a bad certificate is a config error with its
//! line, not a failed delivery hours later. Never connects.

use std::collections::HashSet;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::super::raw::RawWebhook;
use super::super::webhook::{NotifyEvent, Webhook};
use super::{Ctx, Files, check_slug};

/// A secret shorter than this is refused: it signs what a gateway will act on.
const MIN_SECRET: usize = 16;

pub(super) fn webhooks(cx: &mut Ctx, raw: &[RawWebhook], files: &Files) -> Vec<Webhook> {
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, w) in raw.iter().enumerate() {
        let at = |f: &str| format!("webhook[{i}].{f}");
        check_slug(cx, &w.name, &at("name"));
        if !names.insert(w.name.get_ref().clone()) {
            cx.at(
                &w.name,
                at("name"),
                format!("webhook `{}` is defined twice", w.name.get_ref()),
            );
        }
        let url = w.url.get_ref().trim();
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        match rest {
            Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !rest.contains(' ') => {
                if url.parse::<hyper::Uri>().is_err() {
                    cx.at(&w.url, at("url"), format!("`{url}` is not a URL"));
                }
            }
            _ => cx.at(
                &w.url,
                at("url"),
                format!("`{url}` is not an http:// or https:// URL with a host"),
            ),
        }
        let ca = match &w.ca {
            None => Vec::new(),
            Some(file) if !url.starts_with("https://") => {
                cx.at(file, at("ca"), "a CA file is only used for an https:// URL");
                Vec::new()
            }
            Some(file) => ca_file(cx, file, &at("ca"), files),
        };
        if w.secret.get_ref().len() < MIN_SECRET {
            cx.at(
                &w.secret,
                at("secret"),
                format!("must be at least {MIN_SECRET} bytes"),
            );
        }
        let events = match &w.events {
            None => NotifyEvent::ALL.to_vec(),
            Some(list) => {
                let mut events = Vec::new();
                for (j, e) in list.get_ref().iter().enumerate() {
                    match NotifyEvent::parse(e.get_ref()) {
                        Some(ev) if !events.contains(&ev) => events.push(ev),
                        Some(_) => {}
                        None => cx.at(
                            e,
                            at(&format!("events[{j}]")),
                            format!(
                                "unknown event `{}`: use {}",
                                e.get_ref(),
                                NotifyEvent::ALL.map(NotifyEvent::as_str).join(", ")
                            ),
                        ),
                    }
                }
                if list.get_ref().is_empty() {
                    cx.at(list, at("events"), "must name at least one event");
                }
                events
            }
        };
        let mut bounded =
            |v: &Option<toml::Spanned<u64>>, f: &str, lo: u64, hi: u64, def: u64| match v {
                None => def,
                Some(v) if (lo..=hi).contains(v.get_ref()) => *v.get_ref(),
                Some(v) => {
                    cx.at(v, at(f), format!("must be between {lo} and {hi}"));
                    def
                }
            };
        let max_attempts = bounded(&w.max_attempts, "max_attempts", 1, 100, 12) as u32;
        let max_age_s = bounded(&w.max_age_s, "max_age_s", 60, 30 * 86_400, 86_400);
        let backoff_s = bounded(&w.backoff_s, "backoff_s", 1, 3_600, 5);
        let backoff_max_s = bounded(&w.backoff_max_s, "backoff_max_s", 1, 86_400, 600);
        let timeout_s = bounded(&w.timeout_s, "timeout_s", 1, 120, 10);
        if backoff_max_s < backoff_s
            && let Some(v) = &w.backoff_max_s
        {
            cx.at(v, at("backoff_max_s"), "must not be less than backoff_s");
        }
        out.push(Webhook {
            name: Arc::from(w.name.get_ref().as_str()),
            url: url.to_owned(),
            ca,
            secret: w.secret.get_ref().as_bytes().to_vec(),
            events,
            max_attempts,
            max_age_s,
            backoff_s,
            backoff_max_s,
            timeout_s,
        });
    }
    out
}

/// The certificates of a webhook's `ca` file (PEM, relative to the config file), each one
/// checked to be a certificate a TLS client can anchor on.
fn ca_file(
    cx: &mut Ctx,
    file: &toml::Spanned<String>,
    field: &str,
    files: &Files,
) -> Vec<CertificateDer<'static>> {
    let Files::Dir(dir) = files else {
        cx.at(file, field, "the embedded demo reads no files");
        return Vec::new();
    };
    let full = dir.join(file.get_ref());
    let pem = match std::fs::read(&full) {
        Ok(pem) => pem,
        Err(e) => {
            cx.at(
                file,
                field,
                format!("cannot read `{}`: {e}", full.display()),
            );
            return Vec::new();
        }
    };
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    let certs = match certs {
        Ok(certs) if certs.is_empty() => {
            cx.at(
                file,
                field,
                format!("`{}` holds no PEM certificate", full.display()),
            );
            return Vec::new();
        }
        Ok(certs) => certs,
        Err(e) => {
            cx.at(
                file,
                field,
                format!("`{}` is not PEM certificates: {e}", full.display()),
            );
            return Vec::new();
        }
    };
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        if let Err(e) = roots.add(cert.clone()) {
            cx.at(
                file,
                field,
                format!(
                    "certificate {} of `{}` cannot anchor TLS: {e}",
                    i + 1,
                    full.display()
                ),
            );
        }
    }
    certs
}
