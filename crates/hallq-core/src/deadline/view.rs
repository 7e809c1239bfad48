//! What the outside sees of a case: its view (deadline, state, alarms, a joint case's
//! departments) and the events it emits, every instant in its hall's time zone.
//!
//! Reads only: never changes a case, never reads the clock, never does I/O.
use std::sync::Arc;

use jiff::Timestamp;

use super::engine::*;
use super::*;
use crate::calendar::SuspensionMode;

impl DeadlineEngine {
    pub(super) fn case_event(&self, c: &Case, at: Timestamp, body: CaseEventBody) -> CaseEvent {
        CaseEvent {
            stream: Stream::Cases,
            hall: c.hall as usize,
            at: self.local(c.hall, at),
            body,
        }
    }

    /// The case `id`, open or closed, as the API shows it.
    pub fn find_view(
        &self,
        id: &str,
        now: Timestamp,
        closed: &dyn ClosedCases,
    ) -> Result<Option<CaseView>, CaseError> {
        if let Some(view) = self.get(id, now) {
            return Ok(Some(view));
        }
        match closed.closed(id) {
            // A record that no longer fits the config (its hall or matter was removed) is
            // not shown; the store keeps it.
            Ok(Some(r)) => Ok(self.closed_view(r, now).ok()),
            Ok(None) => Ok(None),
            Err(reason) => Err(CaseError::Unavailable {
                id: id.to_owned(),
                reason,
            }),
        }
    }

    /// The hall of the case `id` as [`find_view`](Self::find_view) would show it (`None`
    /// where it shows no case), without building the view: what a scope check needs.
    pub fn find_hall(
        &self,
        id: &str,
        closed: &dyn ClosedCases,
    ) -> Result<Option<Arc<str>>, CaseError> {
        let hall_id = |hall: u32| self.catalogue.halls[hall as usize].id.clone();
        if let Some(idx) = self.lookup(id) {
            return Ok(Some(hall_id(self.case(idx).hall)));
        }
        match closed.closed(id) {
            Ok(Some(r)) => Ok(self.case_from_record(r).ok().map(|c| hall_id(c.hall))),
            Ok(None) => Ok(None),
            Err(reason) => Err(CaseError::Unavailable {
                id: id.to_owned(),
                reason,
            }),
        }
    }

    pub fn get(&self, id: &str, now: Timestamp) -> Option<CaseView> {
        self.lookup(id).map(|i| self.view(i, now))
    }

    pub(crate) fn view(&self, idx: u32, now: Timestamp) -> CaseView {
        self.view_case(self.case(idx), now)
    }

    /// Which calendar lacks which days, when the case's deadline is provisional.
    pub(super) fn provisional_reason(&self, c: &Case) -> Option<ProvisionalReason> {
        let day = c.due?.first_uncovered?;
        let pos = self.calendar_of(c.hall, c.matter).ok()?;
        Some(ProvisionalReason::new(
            self.catalogue.calendars[pos].id.clone(),
            self.calendars[pos].range(),
            day,
        ))
    }

    pub(crate) fn view_case(&self, c: &Case, now: Timestamp) -> CaseView {
        let m = &self.catalogue.matters[c.matter as usize];
        let policy = &self.catalogue.alarm_policies[m.policy];
        let cal_pos = self.calendar_of(c.hall, c.matter).ok();
        let cal = cal_pos.map(|p| &self.calendars[p]);
        let remaining = match (c.due, cal, c.state.is_closed()) {
            (Some(due), Some(cal), false) => Some(cal.remaining(&due, now)),
            _ => None,
        };
        let extra = c.extra();
        let extension = extra.extensions.iter().fold(self.base_limit(c), |l, e| {
            l.checked_add(e.amount).unwrap_or(l)
        });
        CaseView {
            id: c.id.to_string(),
            hall: self.catalogue.halls[c.hall as usize].id.clone(),
            matter: m.id.clone(),
            matter_name: m.name.clone(),
            kind: m.kind,
            state: c.state,
            stage: c.stage,
            accepted_at: self.local(c.hall, c.accepted_at),
            limit: extension.to_string(),
            deadline: c.due.map(|d| self.local(c.hall, d.at)),
            provisional: c.due.is_some_and(|d| d.provisional),
            provisional_reason: self.provisional_reason(c),
            remaining_working_s: remaining.map(|r| r.working_seconds),
            remaining_working_days: remaining.map(|r| r.working_days),
            overdue: match c.closed_at {
                Some(at) => c.due.is_some_and(|d| at > d.at),
                None => remaining.is_some_and(|r| r.overdue),
            },
            level: (0..policy.levels.len())
                .rev()
                .find(|l| c.fired & (1 << l) != 0)
                .map(|l| policy.levels[l].name.clone()),
            alarms: (0..policy.levels.len())
                .filter(|l| c.fired & (1 << l) != 0)
                .map(|l| self.alarm_id(c, l))
                .collect(),
            calendar: cal_pos
                .map_or_else(|| Arc::from(""), |p| self.catalogue.calendars[p].id.clone()),
            suspensions: extra
                .suspensions
                .iter()
                .map(|s| {
                    let r = &self.catalogue.suspension_reasons[s.reason as usize];
                    SuspensionView {
                        reason: r.id.clone(),
                        mode: match r.mode {
                            SuspensionMode::Pause => "pause",
                            SuspensionMode::Restart => "restart",
                        },
                        from: self.local(c.hall, s.from),
                        until: s.until.map(|u| self.local(c.hall, u)),
                    }
                })
                .collect(),
            extensions: extra
                .extensions
                .iter()
                .map(|e| ExtensionView {
                    amount: e.amount.to_string(),
                    reason: e.reason.clone(),
                    approver: e.approver.clone(),
                    at: self.local(c.hall, e.at),
                })
                .collect(),
            children: extra.children.iter().map(|c| c.to_string()).collect(),
            lead: extra.lead.as_ref().map(|l| l.to_string()),
            department: c.dept.map(|d| m.departments[d as usize].id.clone()),
            closed_at: c.closed_at.map(|at| self.local(c.hall, at)),
            on_time: c.closed_at.map(|at| c.due.is_none_or(|d| at <= d.at)),
            origin: extra.origin.as_deref().cloned(),
            closing: extra.closing.as_deref().cloned(),
            details: self.details_view(c),
        }
    }
}
