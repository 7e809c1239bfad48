//! The case thread's passes against a writer the test holds: what a pass stores, and what
//! it answers once its batch is durable.

use std::sync::mpsc;

use super::*;
use crate::clock::ManualClock;
use crate::config::Config;
use crate::deadline::CaseState;
use crate::runtime::Answer;
use crate::runtime::shard::HallResult;
use tokio::sync::oneshot;

/// The tests send no `Idempotency-Key`, so nothing is ever rendered to be kept.
struct NoRendering;

impl Render for NoRendering {
    fn hall(&self, _: &str, reply: &HallResult) -> Answer {
        panic!("nothing is kept without an Idempotency-Key: {reply:?}")
    }

    fn case(&self, reply: &CaseResult) -> Answer {
        panic!("nothing is kept without an Idempotency-Key: {reply:?}")
    }
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

struct Setup {
    worker: Worker,
    batches: Receiver<Batch>,
    config: Arc<Config>,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::demo();
    config.store.max_batch = 64;
    config.store.idempotency_ttl_s = 3600;
    let config = Arc::new(config);
    let store = Arc::new(Store::open(dir.path(), &config.store).unwrap());
    let now = ts("2026-03-02T02:00:00Z");
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(now));
    // The test holds the batches: nothing is committed until it says so.
    let (writer, batches) = channel::unbounded();
    let (_mail, rx) = channel::bounded(16);
    let engine = DeadlineEngine::new(config.catalogue.clone(), now);
    Setup {
        worker: Worker::new(
            engine,
            config.clone(),
            Context {
                store,
                writer,
                clock,
                render: Arc::new(NoRendering),
            },
            (rx, Arc::default()),
        ),
        batches,
        config,
        _dir: dir,
    }
}

fn accept(config: &Config, id: &str) -> CaseCommand {
    CaseCommand::Accept {
        id: id.into(),
        hall: config.hall_index("city").unwrap(),
        matter: config.matter_index("330100-CN-0001").unwrap(),
        accepted_at: ts("2026-03-02T10:00:00+08:00"),
        origin: None,
        applicant: None,
        bundle: None,
    }
}

/// One pass over `cmds`; returns the batch it sent and the answers, which arrive once the
/// batch's completions run.
fn pass(s: &mut Setup, cmds: Vec<CaseCommand>) -> (Batch, Vec<oneshot::Receiver<CaseResult>>) {
    let mut answers = Vec::new();
    let mut pending: Vec<CaseRequest> = cmds
        .into_iter()
        .map(|cmd| {
            let (reply, rx) = oneshot::channel();
            answers.push(rx);
            CaseRequest {
                op: CaseOp::Apply {
                    cmd,
                    scope: Box::new(|_| true),
                },
                idem: None,
                reply: Some(reply),
            }
        })
        .collect();
    s.worker.pass(&mut pending);
    (s.batches.try_recv().expect("a pass sends a batch"), answers)
}

fn answered(batch: Batch, answers: Vec<oneshot::Receiver<CaseResult>>) -> Vec<CaseResult> {
    for done in batch.done {
        done(Ok(()));
    }
    answers
        .into_iter()
        .map(|mut rx| rx.try_recv().expect("answered once durable"))
        .collect()
}

fn state(answer: &CaseResult) -> (CaseState, bool) {
    match answer {
        Ok(CaseReply::View { view, created }) => (view.state, *created),
        other => panic!("expected a case, got {other:?}"),
    }
}

#[test]
fn a_close_on_its_way_to_the_store_is_still_closed_for_the_next_passes() {
    let mut s = setup();
    let config = s.config.clone();
    let withdraw = CaseCommand::Withdraw {
        id: "Z-1".into(),
        reason: "申请人撤回".into(),
        at: ts("2026-03-02T02:00:00Z"),
    };
    let (first, answers) = pass(&mut s, vec![accept(&config, "Z-1"), withdraw]);
    assert!(
        first
            .ops
            .iter()
            .any(|op| matches!(op, Op::CloseCase { id, .. } if id == "Z-1"))
    );
    // The close is not committed (the test holds its batch) and the engine has let go of
    // the case: the replay must still find it closed, in this pass and the next.
    for _ in 0..2 {
        let (batch, replay) = pass(&mut s, vec![accept(&config, "Z-1")]);
        assert!(batch.ops.is_empty(), "a replay stores nothing");
        assert_eq!(
            state(&answered(batch, replay)[0]),
            (CaseState::Withdrawn, false)
        );
    }
    assert_eq!(s.worker.closing.records.len(), 1);

    // Now the writer commits the first batch for real and runs its completions.
    let hub = Arc::new(crate::runtime::hub::Hub::new(16));
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(ts("2026-03-02T02:00:00Z")));
    let writer = s.worker.store.start_writer(&config.store, hub, clock);
    let (committed, durable) = mpsc::channel();
    let mut first = first;
    first.done.push(Box::new(move |r| {
        let _ = committed.send(r.is_ok());
    }));
    writer.sender().send(first).unwrap();
    assert!(durable.recv().unwrap(), "the first batch commits");
    for (i, a) in answers.into_iter().enumerate() {
        let mut a = a;
        let got = a.try_recv().unwrap();
        let want = [(CaseState::Open, true), (CaseState::Withdrawn, false)][i];
        assert_eq!(state(&got), want);
    }

    // The next pass lets the record go: the closed-case table answers from now on.
    let (batch, replay) = pass(&mut s, vec![accept(&config, "Z-1")]);
    assert!(s.worker.closing.records.is_empty());
    assert_eq!(
        state(&answered(batch, replay)[0]),
        (CaseState::Withdrawn, false)
    );
    let (batch, late) = pass(
        &mut s,
        vec![CaseCommand::Complete {
            id: "Z-1".into(),
            at: ts("2026-03-02T02:00:00Z"),
            closing: None,
        }],
    );
    match &answered(batch, late)[0] {
        Err(CaseFailure::Case(e)) => assert_eq!(e.code(), "case-closed"),
        other => panic!("{other:?}"),
    }
    drop(s.worker);
    writer.stop();
}
