//! Raw config → validated `Config`. Every problem is collected (not just the first) with its
//! position, so an operator fixes a file in one pass.
//!
//! `load` runs the parts in order and assembles the result: `catalogue` (calendars,
//! suspension reasons, alarm ladders, matters), `halls` (halls, windows, hours, policies) and
//! `settings` (server, store, tokens). The checks every part shares (ids, names) are here.
//! Validation reads the files the config names (calendars, officer photos, webhook CAs) and nothing
//! else; it never opens the store or a socket.

mod booking;
mod catalogue;
mod cluster;
mod halls;
mod officers;
mod schedule;
mod settings;
mod webhooks;

use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;

use self::catalogue::{alarm_policies, calendars, matters, suspensions};
use self::halls::{halls, policy};
use self::settings::{metric_labels, server, store, tokens};
use super::raw::RawConfig;
use super::{Config, SourceError, SourceErrors};
use crate::diag;
use crate::model::{CaseCatalogue, Policy};

struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
    errors: Vec<SourceError>,
}

impl Ctx<'_> {
    fn err(
        &mut self,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        msg: impl Into<String>,
    ) {
        self.errors
            .push(SourceError::at(self.file, self.src, span, field, msg));
    }

    fn at<T>(&mut self, v: &Spanned<T>, field: impl Into<String>, msg: impl Into<String>) {
        self.err(Some(v.span()), field, msg);
    }
}

/// Where `[[calendar]] file = ...` paths are read from.
pub(super) enum Files<'a> {
    /// Relative to this directory (the config file's).
    Dir(&'a std::path::Path),
    /// The calendars built into the binary, for the demo config.
    Embedded,
}

pub(super) fn load(
    file: &str,
    src: &str,
    demo: bool,
    files: Files,
) -> Result<Config, SourceErrors> {
    let mut raw: RawConfig =
        toml::from_str(src).map_err(|e| SourceErrors::from(diag::from_toml(file, src, &e)))?;
    let mut cx = Ctx {
        file,
        src,
        errors: Vec::new(),
    };
    let server = server(&mut cx, &raw);
    let store = store(&mut cx, &raw);
    let metric_labels = metric_labels(&mut cx, &raw);
    let defaults = policy(&mut cx, &Policy::default(), &raw.policy, "policy");
    let calendars = calendars(&mut cx, &raw.calendars, &files);
    let suspension_reasons = suspensions(&mut cx, &raw.suspensions);
    let alarm_policies = alarm_policies(&mut cx, &raw.alarm_policies);
    let rating = officers::rating(&mut cx, &raw.rating);
    let matters = matters(
        &mut cx,
        &raw.matters,
        &calendars,
        &alarm_policies,
        rating.complaint_limit,
    );
    let officers = officers::officers(&mut cx, &raw.officers, &files);
    // Before the halls are built: their window lists are final once built.
    officers::name_posts(&mut raw.halls, &officers);
    let halls = halls(&mut cx, &raw, &defaults, &calendars);
    let catalogue = CaseCatalogue::new(
        halls,
        calendars,
        suspension_reasons,
        alarm_policies,
        matters,
    );
    let tokens = tokens(&mut cx, &raw.tokens, &catalogue, demo);
    let booking = booking::validate(
        file,
        src,
        raw.booking.as_ref(),
        &catalogue.halls,
        &mut cx.errors,
    );
    let cluster = cluster::cluster(&mut cx, &raw);
    let webhooks = webhooks::webhooks(&mut cx, &raw.webhooks, &files);
    if !cx.errors.is_empty() {
        return Err(SourceErrors(cx.errors));
    }
    Ok(Config {
        source: file.to_owned(),
        demo,
        server,
        store,
        metric_labels,
        tokens,
        catalogue: Arc::new(catalogue),
        officers,
        rating,
        booking,
        cluster,
        webhooks,
    })
}

/// Ids are slugs so they can appear in URLs and stream names unescaped.
fn check_slug(cx: &mut Ctx, v: &Spanned<String>, field: &str) {
    let s = v.get_ref();
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-');
    if !ok {
        cx.at(
            v,
            field,
            format!(
                "`{s}` is not a valid id: use 1-64 characters a-z, 0-9 and '-', not starting with '-'"
            ),
        );
    }
}

fn non_empty(cx: &mut Ctx, v: &Spanned<String>, field: &str) -> Arc<str> {
    if v.get_ref().trim().is_empty() {
        cx.at(v, field, "must not be empty");
    }
    Arc::from(v.get_ref().as_str())
}
