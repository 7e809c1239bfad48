//! The hall's current state as stored: one hall record plus one record per ticket of the
//! business day. Recovery rebuilds the engine from these alone, never from the event log.
//!
//! Records name services and windows by id, not position, so a restart with an edited config
//! (a window added, services reordered) restores what still exists and reports what does not.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::engine::{HallEngine, Mode, Ticket, WindowRt, business_day};
use super::lanes::Lane;
use super::lanes::Place;
use super::{CallEvent, CallReason, Reclass, TicketClass, TicketStatus};
use crate::model::{DayOverride, Hall};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HallRecord {
    pub day: Date,
    pub seq: u64,
    pub next_order: i64,
    pub next_head: i64,
    pub services: Vec<ServiceRecord>,
    pub windows: Vec<WindowRecord>,
    /// Left out when empty: the store's hall deltas carry the calls beside the record and
    /// splice them in (`store::hall_delta`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_calls: Vec<std::sync::Arc<CallEvent>>,
    /// Overrides of the hours set through the API, today's and later ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hours_overrides: Vec<OverrideRecord>,
    /// Today's closed sign-in intervals and absences per officer (周考勤).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attendance: Vec<super::daybook::Attendance>,
}

/// A dated override as stored: its intervals (empty: closed) and reason.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverrideRecord {
    pub date: Date,
    pub hours: Vec<(jiff::civil::Time, jiff::civil::Time)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub id: String,
    pub next: u32,
    pub issued_today: u32,
    pub avg_service_s: f64,
}

/// `PartialEq`: the shards reuse a window's encoded JSON while its record is unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowRecord {
    pub id: String,
    pub mode: Mode,
    pub pause_reason: Option<String>,
    pub officers: [Option<String>; 2],
    #[serde(default)]
    pub away: [Option<Box<super::Absence>>; 2],
    /// When each post's officer signed in (absent in records older than the reports).
    #[serde(default)]
    pub signed_in_at: [Option<Timestamp>; 2],
    /// Public id of the ticket being called or served.
    pub current: Option<String>,
    pub priority_run: u32,
    pub wrr: Vec<i64>,
    #[serde(default)]
    pub open_s: i64,
    #[serde(default)]
    pub open_since: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketRecord {
    pub id: String,
    pub origin: String,
    pub seq: u32,
    pub service: String,
    pub class: TicketClass,
    pub status: TicketStatus,
    pub lane: Option<Lane>,
    pub order: i64,
    pub first_order: i64,
    pub issued_at: Timestamp,
    pub waiting_since: Timestamp,
    pub slot: Option<Timestamp>,
    pub checked_in_at: Option<Timestamp>,
    pub called_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub window: Option<String>,
    pub call_count: u8,
    pub reason: Option<CallReason>,
    pub evaluation: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    pub transfers: u8,
    pub no_show_at: Option<Timestamp>,
    #[serde(default)]
    pub first_called_at: Option<Timestamp>,
    #[serde(default)]
    pub wait_alarmed: bool,
    #[serde(default)]
    pub start_alarmed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reclassified: Option<Reclass>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<super::TicketContact>,
}

impl HallEngine {
    pub fn hall_record(&self) -> HallRecord {
        HallRecord {
            day: self.day,
            seq: self.seq,
            next_order: self.next_order,
            next_head: self.next_head,
            services: self
                .services
                .iter()
                .zip(&self.cfg.services)
                .map(|(rt, cfg)| ServiceRecord {
                    id: cfg.id.to_string(),
                    next: rt.next,
                    issued_today: rt.issued_today,
                    avg_service_s: rt.avg_service_s,
                })
                .collect(),
            windows: self
                .windows
                .iter()
                .zip(&self.cfg.windows)
                .map(|(rt, cfg)| WindowRecord {
                    id: cfg.id.to_string(),
                    mode: rt.mode,
                    pause_reason: rt.pause_reason.clone(),
                    officers: rt.officers.clone(),
                    away: rt.away.clone(),
                    signed_in_at: rt.signed_in_at,
                    current: rt
                        .current
                        .map(|c| self.ticket_id(&self.tickets[c as usize])),
                    priority_run: rt.priority_run,
                    wrr: rt.wrr.clone(),
                    open_s: rt.open_s,
                    open_since: rt.open_since,
                })
                .collect(),
            recent_calls: self.recent_calls.iter().cloned().collect(),
            hours_overrides: self
                .hours_overrides
                .iter()
                .map(|(date, o)| OverrideRecord {
                    date: *date,
                    hours: o.hours.clone(),
                    reason: o.reason.as_deref().map(str::to_owned),
                })
                .collect(),
            attendance: self.attendance.clone(),
        }
    }

    /// Tickets the engine holds (today's, in issue order); `ticket_record` takes
    /// `0..ticket_count()`.
    pub fn ticket_count(&self) -> u32 {
        self.tickets.len() as u32
    }

    /// The stored form of ticket `idx`: (public id, record).
    pub fn ticket_record(&self, idx: u32) -> TicketRecord {
        let t = &self.tickets[idx as usize];
        let svc = |s: u16| self.cfg.services[s as usize].id.to_string();
        TicketRecord {
            id: self.ticket_id(t),
            origin: svc(t.origin),
            seq: t.seq,
            service: svc(t.service),
            class: t.class,
            status: t.status,
            lane: t.place.map(|p| p.lane),
            order: t.place.map_or(t.first_order, |p| p.order),
            first_order: t.first_order,
            issued_at: t.issued_at,
            waiting_since: t.waiting_since,
            slot: t.slot,
            checked_in_at: t.checked_in_at,
            called_at: t.called_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
            window: t
                .window
                .map(|w| self.cfg.windows[w as usize].id.to_string()),
            call_count: t.call_count,
            reason: t.reason,
            evaluation: t.evaluation,
            officer: t.officer.clone(),
            reasons: t.reasons.clone(),
            transfers: t.transfers,
            no_show_at: t.no_show_at,
            first_called_at: t.first_called_at,
            wait_alarmed: t.wait_alarmed,
            start_alarmed: t.start_alarmed,
            reclassified: t.reclassified,
            contact: t.contact.as_deref().cloned(),
        }
    }

    /// Rebuild a hall from its stored records. Returns the engine and a warning for each
    /// record that no longer fits the config. If the stored day is over, the first command
    /// or tick turns the day as usual (expiring what was open and emitting `day_opened`).
    pub fn restore(
        cfg: Arc<Hall>,
        now: Timestamp,
        hall: HallRecord,
        mut tickets: Vec<TicketRecord>,
    ) -> (HallEngine, Vec<String>) {
        let mut warnings = Vec::new();
        let mut e = HallEngine::new(cfg.clone(), now);
        let (_, ends_of_stored_day) = business_day(&cfg, hall_day_start(&cfg, hall.day));
        e.day = hall.day;
        e.day_ends = ends_of_stored_day;
        e.seq = hall.seq;
        e.next_order = hall.next_order;
        e.next_head = hall.next_head;
        // Shown in the hall's zone as it is configured now: calls stored before views were
        // local say `Z`, and a hall's zone may have been corrected since.
        e.recent_calls = hall
            .recent_calls
            .into_iter()
            .map(|mut call| {
                let c = Arc::make_mut(&mut call);
                c.called_at = e.local(c.called_at.at());
                c.issued_at = e.local(c.issued_at.at());
                call
            })
            .collect();
        e.attendance = hall.attendance;
        e.hours_overrides = hall
            .hours_overrides
            .into_iter()
            .map(|o| {
                let over = DayOverride {
                    hours: o.hours,
                    reason: o.reason.map(Arc::from),
                };
                (o.date, over)
            })
            .collect();
        // The overrides may open or close the hall now; no event (the stream resumes from a
        // snapshot, which carries the schedule).
        e.init_open(now);
        for s in hall.services {
            match cfg.service_index(&s.id) {
                Some(i) => {
                    let rt = &mut e.services[i];
                    rt.next = s.next.clamp(cfg.services[i].first, cfg.services[i].last);
                    rt.issued_today = s.issued_today;
                    rt.avg_service_s = s.avg_service_s;
                }
                None => warnings.push(format!(
                    "hall {}: service `{}` is no longer configured; its counters are dropped",
                    cfg.id, s.id
                )),
            }
        }

        tickets.sort_by_key(|t| t.first_order);
        for r in tickets {
            let (Some(origin), Some(service)) =
                (cfg.service_index(&r.origin), cfg.service_index(&r.service))
            else {
                warnings.push(format!(
                    "hall {}: ticket {} belongs to a service no longer configured; dropped",
                    cfg.id, r.id
                ));
                continue;
            };
            let idx = e.tickets.len() as u32;
            let place = r.lane.map(|lane| Place {
                lane,
                order: r.order,
                since: r.waiting_since.as_second(),
                slot: r.slot.map_or(0, |s| s.as_second()),
            });
            e.tickets.push(Ticket {
                origin: origin as u16,
                seq: r.seq,
                service: service as u16,
                class: r.class,
                status: r.status,
                place,
                first_order: r.first_order,
                issued_at: r.issued_at,
                waiting_since: r.waiting_since,
                slot: r.slot,
                checked_in_at: r.checked_in_at,
                called_at: r.called_at,
                started_at: r.started_at,
                finished_at: r.finished_at,
                window: r
                    .window
                    .as_deref()
                    .and_then(|w| cfg.window_index(w))
                    .map(|w| w as u16),
                call_count: r.call_count,
                reason: r.reason,
                evaluation: r.evaluation,
                officer: r.officer,
                reasons: r.reasons,
                transfers: r.transfers,
                no_show_at: r.no_show_at,
                first_called_at: r.first_called_at,
                wait_alarmed: r.wait_alarmed,
                start_alarmed: r.start_alarmed,
                reclassified: r.reclassified,
                contact: r.contact.map(Box::new),
            });
            e.index.insert((origin as u16, r.seq), idx);
            if let Some(p) = place {
                e.services[service].queue.insert(p, idx);
            }
        }

        for w in hall.windows {
            let Some(i) = cfg.window_index(&w.id) else {
                warnings.push(format!(
                    "hall {}: window `{}` is no longer configured; dropped",
                    cfg.id, w.id
                ));
                continue;
            };
            let current = w.current.as_deref().and_then(|id| e.find(id));
            e.windows[i] = WindowRt {
                mode: w.mode,
                pause_reason: w.pause_reason,
                officers: w.officers,
                away: w.away,
                signed_in_at: w.signed_in_at,
                current,
                priority_run: w.priority_run,
                wrr: if w.wrr.len() == cfg.windows[i].services.len() {
                    w.wrr
                } else {
                    vec![0; cfg.windows[i].services.len()]
                },
                open_s: w.open_s,
                open_since: w.open_since,
            };
        }
        // Counters may have been written by an older config; make them consistent with the
        // tickets actually stored, so a number is never issued twice.
        for (s, rt) in e.services.iter_mut().enumerate() {
            let issued = e.tickets.iter().filter(|t| t.origin as usize == s).count() as u32;
            rt.issued_today = rt.issued_today.max(issued);
        }
        let _ = e.take_changes();
        (e, warnings)
    }
}

/// The instant a business day starts, used to recompute when a stored day ends.
fn hall_day_start(cfg: &Hall, day: Date) -> Timestamp {
    cfg.time_zone
        .to_timestamp(day.to_datetime(cfg.day_starts))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}
