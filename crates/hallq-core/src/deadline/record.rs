//! A case as stored. Only the inputs of its deadline are kept (acceptance, stage, suspensions,
//! extensions) and its alarm state (which levels fired, how often); the deadline itself is
//! recomputed on recovery with the current calendar, so a calendar replaced while the daemon
//! was down still applies.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::engine::{Case, DeadlineEngine, ExtensionRec, Extra, SuspensionRec};
use super::{CaseOrigin, CaseState, CaseView, ClosingRecord, Stage};
use crate::calendar::Limit;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseRecord {
    pub id: String,
    pub hall: String,
    pub matter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    pub state: CaseState,
    pub stage: Stage,
    pub accepted_at: Timestamp,
    pub stage_start: Timestamp,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suspensions: Vec<SuspensionRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<ExtensionRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
    #[serde(default)]
    pub open_children: u16,
    /// Bitmask of levels fired in the current arming.
    pub fired: u8,
    /// Times each level has fired.
    pub counts: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    /// The deadline when the record was written, for readers of closed cases; recovery
    /// recomputes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
    /// The bad rating or complaint it answers (absent in records older than the rating
    /// loop, and for applications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<CaseOrigin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing: Option<ClosingRecord>,
    /// Obligations, outcome, delivery and notices, as the engine holds them.
    #[serde(default, skip_serializing_if = "super::Details::is_empty")]
    pub details: super::Details,
}

/// A stored case in the engine's form, its deadline counted: what `DeadlineEngine::prepare`
/// gives `restore_prepared`.
pub struct PreparedCase(Case);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuspensionRecord {
    pub reason: String,
    pub from: Timestamp,
    pub until: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtensionRecord {
    pub amount: String,
    pub reason: String,
    pub approver: String,
    pub at: Timestamp,
}

impl DeadlineEngine {
    pub(crate) fn record(&self, idx: u32) -> CaseRecord {
        let c = self.cases[idx as usize].as_ref().expect("a live case");
        let m = &self.catalogue.matters[c.matter as usize];
        let extra = c.extra();
        CaseRecord {
            id: c.id.to_string(),
            hall: self.catalogue.halls[c.hall as usize].id.to_string(),
            matter: m.id.to_string(),
            department: c.dept.map(|d| m.departments[d as usize].id.to_string()),
            state: c.state,
            stage: c.stage,
            accepted_at: c.accepted_at,
            stage_start: c.stage_start,
            suspensions: extra
                .suspensions
                .iter()
                .map(|s| SuspensionRecord {
                    reason: self.catalogue.suspension_reasons[s.reason as usize]
                        .id
                        .to_string(),
                    from: s.from,
                    until: s.until,
                })
                .collect(),
            extensions: extra
                .extensions
                .iter()
                .map(|e| ExtensionRecord {
                    amount: e.amount.to_string(),
                    reason: e.reason.clone(),
                    approver: e.approver.clone(),
                    at: e.at,
                })
                .collect(),
            lead: extra.lead.as_deref().map(str::to_owned),
            children: extra.children.iter().map(|c| c.to_string()).collect(),
            open_children: extra.open_children,
            fired: c.fired,
            counts: c.counts.to_vec(),
            closed_at: c.closed_at,
            deadline: c.due.map(|d| d.at),
            origin: extra.origin.as_deref().cloned(),
            closing: extra.closing.as_deref().cloned(),
            details: extra.details.clone(),
        }
    }

    /// Add a stored case. Returns a warning instead when the record no longer fits the config
    /// (its hall, matter, department or a suspension reason was removed) or its deadline can
    /// no longer be counted; the record stays in the store untouched.
    pub fn restore(&mut self, r: CaseRecord) -> Result<(), String> {
        let case = self.case_from_record(r)?;
        self.insert_restored(case);
        Ok(())
    }

    /// An engine without cases on the same catalogue and calendars, to run the first half of
    /// `restore` (`prepare`: names resolved, deadline counted on the calendar) on another
    /// thread while this engine does the second (`restore_prepared`: slab, index, wheel).
    /// Recovery splits it so because counting ten million deadlines on the thread that also
    /// inserts them made that thread the slower one (BENCHMARKS.md, recovery).
    pub fn preparer(&self) -> DeadlineEngine {
        let mut e = DeadlineEngine::new(self.catalogue.clone(), Timestamp::UNIX_EPOCH);
        e.calendars = self.calendars.clone();
        e
    }

    /// The first half of `restore`, with its warning.
    pub fn prepare(&self, r: CaseRecord) -> Result<PreparedCase, String> {
        self.case_from_record(r).map(PreparedCase)
    }

    /// The second half of `restore` (slab, index, gauge counts, timer), for a case
    /// `prepare`d on an engine from `preparer` before any calendar changed. The next timer is
    /// found here rather than in `prepare`: with it there, the preparing thread became the
    /// slower one (62 % of the start-up's CPU against 17 %).
    pub fn restore_prepared(&mut self, c: PreparedCase) {
        self.insert_restored(c.0);
    }

    /// Put case `id` back as the store holds it, after a commit that changed it was lost:
    /// `stored` is its open record, or `None` when the store has it closed or not at all (then
    /// it leaves the engine).
    pub fn reload(&mut self, id: &str, stored: Option<CaseRecord>) -> Result<(), String> {
        self.forget(id);
        match stored {
            Some(r) => self.restore(r),
            None => Ok(()),
        }
    }

    /// How a closed case (no longer in the engine) looks, from its stored record.
    pub fn closed_view(&self, r: CaseRecord, now: Timestamp) -> Result<CaseView, String> {
        let case = self.case_from_record(r)?;
        Ok(self.view_case(&case, now))
    }

    pub(super) fn case_from_record(&self, r: CaseRecord) -> Result<Case, String> {
        let hall = self
            .catalogue
            .hall_index(&r.hall)
            .ok_or_else(|| format!("case {}: hall `{}` is no longer configured", r.id, r.hall))?;
        let matter = self.catalogue.matter_index(&r.matter).ok_or_else(|| {
            format!(
                "case {}: matter `{}` is no longer configured",
                r.id, r.matter
            )
        })?;
        let m = &self.catalogue.matters[matter];
        let dept = match &r.department {
            None => None,
            Some(d) => Some(
                m.departments
                    .iter()
                    .position(|x| &*x.id == d)
                    .ok_or_else(|| {
                        format!(
                            "case {}: department `{d}` of matter `{}` is no longer configured",
                            r.id, r.matter
                        )
                    })? as u16,
            ),
        };
        let suspensions = r
            .suspensions
            .iter()
            .map(|s| {
                Ok(SuspensionRec {
                    reason: self.catalogue.suspension_index(&s.reason).ok_or_else(|| {
                        format!(
                            "case {}: suspension reason `{}` is no longer configured",
                            r.id, s.reason
                        )
                    })? as u16,
                    from: s.from,
                    until: s.until,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let extensions = r
            .extensions
            .iter()
            .map(|e| {
                Ok(ExtensionRec {
                    amount: e
                        .amount
                        .parse::<Limit>()
                        .map_err(|err| format!("case {}: {err}", r.id))?,
                    reason: e.reason.clone(),
                    approver: e.approver.clone(),
                    at: e.at,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut counts = [0u8; 8];
        for (slot, n) in counts.iter_mut().zip(&r.counts) {
            *slot = *n;
        }
        let extra = Extra {
            suspensions,
            extensions,
            lead: r.lead.map(Into::into),
            children: r.children.into_iter().map(Into::into).collect(),
            open_children: r.open_children,
            origin: r.origin.map(Box::new),
            closing: r.closing.map(Box::new),
            details: r.details,
        };
        let empty = extra.suspensions.is_empty()
            && extra.extensions.is_empty()
            && extra.lead.is_none()
            && extra.children.is_empty()
            && extra.origin.is_none()
            && extra.closing.is_none()
            && extra.details.is_empty();
        let mut case = Case {
            id: r.id.as_str().into(),
            hall: hall as u32,
            matter: matter as u32,
            dept,
            state: r.state,
            stage: r.stage,
            accepted_at: r.accepted_at,
            stage_start: r.stage_start,
            due: None,
            fired: r.fired,
            counts,
            timer: None,
            closed_at: r.closed_at,
            extra: (!empty).then(|| Box::new(extra)),
            counted: None,
        };
        case.due = self
            .compute(&case)
            .map_err(|e| format!("case {}: {e}", r.id))?
            .due()
            .copied();
        Ok(case)
    }
}
