//! Window state: closed and paused windows, A/B posts, a busy window.

use super::*;

#[test]
fn closed_and_paused_windows_cannot_call() {
    let mut h = H::new();
    h.issue(0, TicketClass::Normal);
    h.window(
        0,
        WindowAction::Pause {
            reason: "lunch".into(),
        },
    )
    .unwrap();
    let before = h.events.len();
    assert!(matches!(
        h.window(0, WindowAction::CallNext),
        Err(QueueError::WindowPaused { .. })
    ));
    h.window(0, WindowAction::Close).unwrap();
    assert!(matches!(
        h.window(0, WindowAction::CallNext),
        Err(QueueError::WindowClosed { .. })
    ));
    assert_eq!(
        h.events.len(),
        before + 1,
        "only the close emitted an event"
    );
    assert!(matches!(
        h.window(1, WindowAction::Pause { reason: " ".into() }),
        Err(QueueError::PauseReasonRequired)
    ));
}

#[test]
fn ab_posts_accept_only_assigned_officers_and_b_takes_over() {
    let mut h = H::new();
    assert!(matches!(
        h.window(
            0,
            WindowAction::SignIn {
                post: Post::A,
                officer: "mallory".into()
            }
        ),
        Err(QueueError::OfficerNotAssigned { .. })
    ));
    h.window(
        0,
        WindowAction::SignIn {
            post: Post::A,
            officer: "alice".into(),
        },
    )
    .unwrap();
    h.window(
        0,
        WindowAction::SignIn {
            post: Post::B,
            officer: "bob".into(),
        },
    )
    .unwrap();
    assert_eq!(h.e.window_view(0, h.now).active_post, Some(Post::A));
    h.window(
        0,
        WindowAction::SignOut {
            post: Post::A,
            absence: None,
        },
    )
    .unwrap();
    assert_eq!(h.e.window_view(0, h.now).active_post, Some(Post::B));
}

#[test]
fn a_busy_window_cannot_pause_or_close() {
    let mut h = H::new();
    h.issue(0, TicketClass::Normal);
    h.call(0);
    assert!(matches!(
        h.window(0, WindowAction::Close),
        Err(QueueError::WindowBusy { .. })
    ));
    assert!(matches!(
        h.window(
            0,
            WindowAction::Pause {
                reason: "break".into()
            }
        ),
        Err(QueueError::WindowBusy { .. })
    ));
}
