//! `[[officer]]` and `[rating]` → the roster and the rating policy. Photos are read here,
//! relative to the config file, at most 1 MiB each.

use std::collections::HashSet;
use std::sync::Arc;

use super::super::officers::{Officer, Photo, RatingPolicy};
use super::super::raw::{RawHall, RawOfficer, RawRating};
use super::{Ctx, Files};

const MAX_PHOTO: u64 = 1 << 20;

pub(super) fn officers(cx: &mut Ctx, raw: &[RawOfficer], files: &Files) -> Vec<Officer> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, o) in raw.iter().enumerate() {
        let path = format!("officer[{i}]");
        let staff_no = o.staff_no.get_ref().trim();
        let name = o.name.get_ref().trim();
        if staff_no.is_empty() {
            cx.at(
                &o.staff_no,
                format!("{path}.staff_no"),
                "a staff number (工号) is required",
            );
        }
        if name.is_empty() {
            cx.at(&o.name, format!("{path}.name"), "a name is required");
        }
        if !seen.insert(staff_no.to_owned()) {
            cx.at(
                &o.staff_no,
                format!("{path}.staff_no"),
                format!("duplicate staff number `{staff_no}`"),
            );
        }
        if !seen.insert(format!("name:{name}")) {
            cx.at(
                &o.name,
                format!("{path}.name"),
                format!("duplicate officer name `{name}`"),
            );
        }
        let photo = o.photo.as_ref().and_then(|p| {
            let file = p.get_ref();
            let content_type = match file
                .rsplit('.')
                .next()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("jpg" | "jpeg") => "image/jpeg",
                Some("png") => "image/png",
                Some("webp") => "image/webp",
                Some("svg") => "image/svg+xml",
                _ => {
                    cx.at(
                        p,
                        format!("{path}.photo"),
                        format!("`{file}`: a photo is a .jpg, .png, .webp or .svg file"),
                    );
                    return None;
                }
            };
            let Files::Dir(dir) = files else {
                return None;
            };
            let full = dir.join(file);
            match std::fs::metadata(&full).and_then(|m| {
                if m.len() > MAX_PHOTO {
                    Err(std::io::Error::other(format!(
                        "{} bytes; at most 1 MiB",
                        m.len()
                    )))
                } else {
                    std::fs::read(&full)
                }
            }) {
                Ok(bytes) => Some(Photo {
                    content_type,
                    bytes: Arc::from(bytes),
                }),
                Err(e) => {
                    cx.at(
                        p,
                        format!("{path}.photo"),
                        format!("cannot read `{}`: {e}", full.display()),
                    );
                    None
                }
            }
        });
        out.push(Officer {
            staff_no: Arc::from(staff_no),
            name: Arc::from(name),
            photo,
        });
    }
    out
}

/// Posts may name an officer by staff number (`posts = { a = "0101" }`); sign-ins are
/// resolved to the roster's name, so the posts are too.
pub(super) fn name_posts(halls: &mut [RawHall], officers: &[Officer]) {
    for h in halls {
        for w in &mut h.windows {
            let Some(posts) = &mut w.posts else { continue };
            for post in [&mut posts.a, &mut posts.b].into_iter().flatten() {
                if let Some(o) = officers.iter().find(|o| *o.staff_no == **post) {
                    *post = o.name.to_string();
                }
            }
        }
    }
}

pub(super) fn rating(cx: &mut Ctx, raw: &RawRating) -> RatingPolicy {
    let mut r = RatingPolicy::default();
    if let Some(m) = &raw.window_min {
        if *m.get_ref() == 0 {
            cx.at(m, "rating.window_min", "must be at least 1 minute");
        }
        r.window_s = i64::from(*m.get_ref()) * 60;
    }
    if let Some(m) = &raw.short_absence_min {
        r.short_absence_s = i64::from(*m.get_ref()) * 60;
    }
    if let Some(l) = &raw.complaint_limit {
        match l.get_ref().parse::<crate::calendar::Limit>() {
            Ok(limit) => r.complaint_limit = limit,
            Err(e) => cx.at(l, "rating.complaint_limit", format!("{e}")),
        }
    }
    if let Some(reasons) = &raw.reasons {
        r.reasons = reasons.iter().map(|s| Arc::from(s.trim())).collect();
    }
    r
}
