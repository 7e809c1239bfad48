//! A connection's socket as hyper sees it (`Guarded`): reads mark the start of a request
//! head, a write the client leaves pending for `write_timeout` fails (which closes the
//! connection), and the bare error answers hyper writes itself go out as problem+json.
//!
//! It watches one socket; it must never change an answer to a request hyper could parse.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::Conn;
use super::limits::{HEAD_LIMIT, URI_LIMIT};
use crate::api::problem::{Answer, Problem};
use crate::metrics::CONNECTIONS_CLOSED;

/// The socket, seen by hyper: reads mark the start of a head, a write the client leaves
/// pending for `write_timeout` fails, and hyper's bare error answers become problems.
pub(super) struct Guarded {
    pub(super) io: TcpStream,
    pub(super) conn: Arc<Conn>,
    pub(super) write_timeout: Duration,
    /// Runs while a write is pending.
    pub(super) stall: Option<Pin<Box<Sleep>>>,
    /// A problem answer written in place of hyper's bare one: bytes, how many are written,
    /// and the length hyper asked to write (reported once the replacement is out).
    pub(super) swap: Option<(Bytes, usize, usize)>,
}

impl Guarded {
    /// `r` from a write: pending starts (or continues) the stall timer, which fails the
    /// write once it expires; progress stops it.
    fn stalled<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match r {
            Poll::Pending => {
                let limit = self.write_timeout;
                let stall = self
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if stall.as_mut().poll(cx).is_ready() {
                    metrics::counter!(CONNECTIONS_CLOSED, "reason" => "write_timeout").increment(1);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client did not read the answer within the write timeout",
                    )));
                }
                Poll::Pending
            }
            ready => {
                self.stall = None;
                ready
            }
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.on_read();
        }
        r
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.swap.is_none()
            && let Some(status) = bare_error(buf)
        {
            this.swap = Some((problem_answer(status), 0, buf.len()));
        }
        let r = match &mut this.swap {
            Some((bytes, written, asked)) if *written < bytes.len() => {
                match Pin::new(&mut this.io).poll_write(cx, &bytes[*written..]) {
                    Poll::Ready(Ok(n)) => {
                        *written += n;
                        if *written == bytes.len() {
                            Poll::Ready(Ok(*asked))
                        } else {
                            // Ask to be polled again for the rest.
                            cx.waker().wake_by_ref();
                            Poll::Pending
                        }
                    }
                    other => other,
                }
            }
            _ => Pin::new(&mut this.io).poll_write(cx, buf),
        };
        this.stalled(cx, r)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        self.stalled(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    // hyper then copies each answer into one buffer per write, so an answer head it made
    // up itself arrives here whole and alone.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// The status of a bare error answer hyper wrote itself (it cannot parse the request):
/// a 4xx or 5xx head with `content-length: 0` and nothing after it. The API never answers
/// an error without a problem body, so nothing else matches.
fn bare_error(buf: &[u8]) -> Option<u16> {
    let head = buf.strip_prefix(b"HTTP/1.1 ")?;
    if !matches!(head.first(), Some(b'4' | b'5')) || !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(buf).ok()?;
    if text.matches("\r\n\r\n").count() != 1
        || !text
            .to_ascii_lowercase()
            .contains("\r\ncontent-length: 0\r\n")
    {
        return None;
    }
    text.get(9..12)?.parse().ok()
}

/// The whole HTTP answer sent instead of hyper's bare one for `status`.
fn problem_answer(status: u16) -> Bytes {
    let (code, title, detail) = match status {
        431 => (
            "headers-too-large",
            "Request header fields too large",
            format!("the request line and headers must fit in {HEAD_LIMIT} bytes"),
        ),
        414 => (
            "uri-too-long",
            "URI too long",
            format!("the request target must fit in {URI_LIMIT} bytes"),
        ),
        505 => (
            "http-version",
            "HTTP version not supported",
            "this server speaks HTTP/1.1 (and 1.0)".to_owned(),
        ),
        _ => (
            "malformed-request",
            "Bad request",
            "the request is not valid HTTP/1.1".to_owned(),
        ),
    };
    let status = if (400..600).contains(&status) {
        status
    } else {
        400
    };
    let body = Answer::from(Problem::new(status, code, title, detail)).body;
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    Bytes::from(format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_error_heads_are_replaced() {
        assert_eq!(
            bare_error(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n"),
            Some(431)
        );
        assert_eq!(
            bare_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"),
            Some(400)
        );
        // An answer with a body, a success, or more than one message is left alone.
        assert_eq!(
            bare_error(b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}"),
            None
        );
        assert_eq!(
            bare_error(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"),
            None
        );
        assert_eq!(
            bare_error(b"HTTP/1.1 400 X\r\ncontent-length: 0\r\n\r\nHTTP/1.1 400 X\r\ncontent-length: 0\r\n\r\n"),
            None
        );
        let answer = problem_answer(431);
        let text = std::str::from_utf8(&answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let doc: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(doc["type"], "urn:hallq:problem:headers-too-large");
        assert_eq!(doc["status"], 431);
    }
}
