//! Subscribing to a hall's event stream and reading it event by event.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use super::client;

/// One SSE event as a subscriber received it.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: u64,
    pub event: String,
    pub data: Value,
}

/// Subscribe to a hall's stream; events arrive on the returned channel until the stream ends.
pub async fn subscribe(
    base: &str,
    hall: &str,
    token: &str,
    last_event_id: Option<u64>,
) -> tokio::sync::mpsc::UnboundedReceiver<Sse> {
    let mut rb = client()
        .get(format!("{base}/v1/halls/{hall}/events"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(3600));
    if let Some(id) = last_event_id {
        rb = rb.header("Last-Event-ID", id.to_string());
    }
    let resp = rb.send().await.expect("stream request");
    assert_eq!(resp.status(), StatusCode::OK, "stream answers 200");
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut events = eventsource_stream::EventStream::new(resp.bytes_stream());
        while let Some(Ok(e)) = events.next().await {
            let parsed = Sse {
                id: e.id.parse().expect("numeric event id"),
                event: e.event,
                data: serde_json::from_str(&e.data).expect("JSON data"),
            };
            if tx.send(parsed).is_err() {
                return;
            }
        }
    });
    rx
}

/// The next event, or a panic naming what was awaited.
pub async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Sse>, what: &str) -> Sse {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|| panic!("stream ended while waiting for {what}"))
}
