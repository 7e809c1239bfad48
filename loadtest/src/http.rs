//! A minimal HTTP/1.1 client: one keep-alive TCP connection per `Conn`, so "N connections"
//! means exactly N sockets, and a pool of them for the open loop.
//!
//! Written by hand rather than over hyper's client: the generator shares the machine with the
//! daemon it measures, and every cycle it spends is one the daemon does not get. hyper's
//! client runs each connection as a task of its own, so a request crossed two tasks and a
//! channel each way and built a header map; here the task that sends a request writes it
//! from a reused buffer and parses the answer in place (BENCHMARKS.md, "The load
//! generator's own cost").
//!
//! It understands what HTTP/1.1 requires a client to: the status line, headers, a body
//! framed by `Content-Length`, by chunked transfer-coding or by the end of the connection,
//! `Connection: close` (and HTTP/1.0's default), and 1xx interim answers, which it skips. One
//! request at a time on a connection, never pipelined; any failure retires the connection.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, Method, Uri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Where the daemon listens.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// `Host` header value.
    pub host: HeaderValue,
    /// For the report.
    pub url: String,
}

impl Target {
    pub fn local(addr: SocketAddr) -> Target {
        Target {
            addr,
            host: HeaderValue::from_str(&addr.to_string()).expect("an address is a valid header"),
            url: format!("http://{addr}"),
        }
    }

    /// `http://host:port` (plain HTTP only: the daemon does not terminate TLS).
    pub async fn parse(url: &str) -> Result<Target, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("--target `{url}` is not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "--target `{url}`: only http:// is supported (put TLS in front of hallq, not in the load generator)"
            ));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("--target `{url}` has no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((authority.host(), port))
            .await
            .map_err(|e| format!("--target `{url}`: cannot resolve the host: {e}"))?
            .next()
            .ok_or_else(|| format!("--target `{url}`: the host has no address"))?;
        Ok(Target {
            addr,
            host: HeaderValue::from_str(authority.as_str())
                .map_err(|e| format!("--target `{url}`: {e}"))?,
            url: url.trim_end_matches('/').to_owned(),
        })
    }

    pub fn bearer(token: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Bearer {token}")).expect("tokens are visible ASCII")
    }

    /// A request with the headers every call carries (`Host` is the connection's).
    pub fn request(&self, method: Method, path: Uri, auth: &HeaderValue, body: Bytes) -> Req {
        Req {
            method,
            uri: path,
            auth: auth.clone(),
            body,
            last_event_id: None,
        }
    }
}

/// What the generator sends: a method, a path, a bearer token and a JSON body, if any. The
/// parts are shared (`Bytes`), so building one copies no text.
#[derive(Debug, Clone)]
pub struct Req {
    method: Method,
    uri: Uri,
    auth: HeaderValue,
    body: Bytes,
    /// `Last-Event-ID`, for resuming an event stream.
    last_event_id: Option<u64>,
}

#[cfg(test)]
impl Req {
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

impl Req {
    /// Resume an event stream after the event `id`.
    pub fn resume_after(mut self, id: u64) -> Req {
        self.last_event_id = Some(id);
        self
    }

    /// The request as it goes on the wire, appended to `out`.
    fn write(&self, host: &HeaderValue, out: &mut Vec<u8>) {
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        for part in [
            self.method.as_str().as_bytes(),
            b" ",
            path.as_bytes(),
            b" HTTP/1.1\r\nhost: ",
            host.as_bytes(),
            b"\r\nauthorization: ",
            self.auth.as_bytes(),
            b"\r\n",
        ] {
            out.extend_from_slice(part);
        }
        if !self.body.is_empty() {
            out.extend_from_slice(b"content-type: application/json\r\n");
        }
        // A body's length is always said, and an empty one's where the method has a body.
        if !self.body.is_empty() || ![Method::GET, Method::HEAD].contains(&self.method) {
            out.extend_from_slice(b"content-length: ");
            push_decimal(out, self.body.len() as u64);
            out.extend_from_slice(b"\r\n");
        }
        if let Some(id) = self.last_event_id {
            out.extend_from_slice(b"last-event-id: ");
            push_decimal(out, id);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
    }
}

fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A path as a request URI (origin form).
pub fn path(p: &str) -> Uri {
    p.parse().expect("generated paths are valid URIs")
}

/// An answer, read to its end so the connection can carry the next request.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The problem `type` slug of an error answer (`urn:hallq:problem:window-busy` →
    /// `window-busy`), for grouping errors in the report.
    pub fn problem_type(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Problem<'a> {
            #[serde(rename = "type", borrow)]
            kind: Option<std::borrow::Cow<'a, str>>,
        }
        serde_json::from_slice::<Problem<'_>>(&self.body)
            .ok()
            .and_then(|p| p.kind)
            .map(|t| t.rsplit(':').next().unwrap_or(&t).to_owned())
            .unwrap_or_else(|| "no-problem-document".to_owned())
    }
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum Failure {
    Connect(std::io::Error),
    /// Reading or writing the connection failed.
    Io(std::io::Error),
    /// The daemon closed the connection before the answer was whole.
    Closed,
    /// The answer is not HTTP/1.1 as this client reads it.
    Protocol(String),
    Timeout,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "connect: {e}"),
            Failure::Io(e) => write!(f, "http: {e}"),
            Failure::Closed => f.write_str("http: connection closed before the answer ended"),
            Failure::Protocol(e) => write!(f, "http: {e}"),
            Failure::Timeout => f.write_str("timeout"),
        }
    }
}

impl Failure {
    /// A short, stable label for the error table.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Connect(_) => "connect",
            Failure::Io(_) | Failure::Closed | Failure::Protocol(_) => "transport",
            Failure::Timeout => "timeout",
        }
    }
}

/// No request may hang a worker for longer than this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection idle this long is probed for a close before it carries a request.
const IDLE_PROBE_AFTER: Duration = Duration::from_secs(1);

/// How many header lines an answer may have (hallq sends three to six).
const MAX_HEADERS: usize = 32;
/// What one read asks the socket for at least.
const READ_SIZE: usize = 8 * 1024;

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    /// Neither length nor chunks: the body is everything until the daemon closes.
    UntilClose,
}

/// A parsed status line and headers.
#[derive(Debug, Clone, Copy)]
struct Head {
    status: u16,
    framing: Framing,
    /// The daemon closes the connection after this answer.
    close: bool,
}

/// One HTTP/1.1 keep-alive connection.
pub struct Conn {
    io: TcpStream,
    host: HeaderValue,
    /// Bytes read and not consumed yet: the answer being parsed.
    buf: BytesMut,
    /// The request being written, kept for its allocation.
    out: Vec<u8>,
    /// False once an answer said `Connection: close` or an exchange failed midway: the
    /// connection carries no more requests.
    usable: bool,
    /// When the last exchange ended (or the connection opened).
    last_used: Instant,
}

impl Conn {
    pub async fn open(target: &Target) -> Result<Conn, Failure> {
        let io = TcpStream::connect(target.addr)
            .await
            .map_err(Failure::Connect)?;
        io.set_nodelay(true).map_err(Failure::Connect)?;
        Ok(Conn {
            io,
            host: target.host.clone(),
            buf: BytesMut::with_capacity(READ_SIZE),
            out: Vec::with_capacity(512),
            usable: true,
            last_used: Instant::now(),
        })
    }

    /// Whether the connection may carry another request: no exchange on it failed, and, if
    /// it sat idle for a while, the daemon has not closed it meanwhile (keep-alive timeout,
    /// eviction): a read that would block is the only answer of an open, idle connection;
    /// end of stream or stray bytes mean it is done. Busy connections skip that probe (a
    /// system call per request).
    pub fn is_usable(&self) -> bool {
        if !self.usable || !self.buf.is_empty() {
            return false;
        }
        if self.last_used.elapsed() < IDLE_PROBE_AFTER {
            return true;
        }
        let mut probe = [0u8; 1];
        matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Send and read the whole answer, within `REQUEST_TIMEOUT`. A connection retired by an
    /// earlier failure refuses: a late answer to the abandoned request may still arrive on
    /// it and would be read as this one's.
    pub async fn send(&mut self, req: Req) -> Result<Reply, Failure> {
        if !self.usable {
            return Err(Failure::Closed);
        }
        // Marked unusable until the exchange ends well: a timeout or an error may leave half
        // an answer on the socket.
        self.usable = false;
        let result = tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(&req))
            .await
            .unwrap_or(Err(Failure::Timeout));
        if let Ok((_, close)) = &result {
            self.usable = !close;
        }
        self.last_used = Instant::now();
        result.map(|(reply, _)| reply)
    }

    async fn exchange(&mut self, req: &Req) -> Result<(Reply, bool), Failure> {
        let head = self.ask(req).await?;
        let body = match head.framing {
            Framing::Length(0) => Bytes::new(),
            Framing::Length(n) => {
                while self.buf.len() < n {
                    self.fill().await?;
                }
                self.buf.split_to(n).freeze()
            }
            Framing::Chunked => {
                let mut body = BytesMut::new();
                let mut chunks = Chunks::default();
                while !chunks.decode(&mut self.buf, &mut body)? {
                    self.fill().await?;
                }
                body.freeze()
            }
            Framing::UntilClose => {
                loop {
                    match self.fill().await {
                        Ok(()) => {}
                        Err(Failure::Closed) => break,
                        Err(e) => return Err(e),
                    }
                }
                self.buf.split().freeze()
            }
        };
        let close = head.close || head.framing == Framing::UntilClose;
        Ok((
            Reply {
                status: head.status,
                body,
            },
            close,
        ))
    }

    /// Write `req` and read the answer's head (after any 1xx interim answers).
    async fn ask(&mut self, req: &Req) -> Result<Head, Failure> {
        // What an earlier answer left unread would be taken for this one's.
        if !self.buf.is_empty() {
            return Err(Failure::Protocol("bytes after the previous answer".into()));
        }
        self.out.clear();
        req.write(&self.host, &mut self.out);
        self.io.write_all(&self.out).await.map_err(Failure::Io)?;
        loop {
            match parse_head(&mut self.buf, req.method == Method::HEAD)? {
                Some(head) if (100..200).contains(&head.status) => {}
                Some(head) => return Ok(head),
                None => self.fill().await?,
            }
        }
    }

    /// Read more of the answer into `buf`.
    async fn fill(&mut self) -> Result<(), Failure> {
        self.buf.reserve(READ_SIZE);
        match self.io.read_buf(&mut self.buf).await {
            Ok(0) => Err(Failure::Closed),
            Ok(_) => Ok(()),
            Err(e) => Err(Failure::Io(e)),
        }
    }

    /// Send `req` and return its answer's status and a reader of its body as it arrives
    /// (event streams); the connection goes with it. The head must come within
    /// `REQUEST_TIMEOUT`, the body may take forever.
    pub async fn stream(mut self, req: Req) -> Result<Stream, Failure> {
        let head = tokio::time::timeout(REQUEST_TIMEOUT, self.ask(&req))
            .await
            .unwrap_or(Err(Failure::Timeout))?;
        Ok(Stream {
            status: head.status,
            framing: head.framing,
            chunks: Chunks::default(),
            conn: self,
            data: BytesMut::new(),
        })
    }
}

/// Parse an answer's head off the front of `buf`, or `None` if it is not all there yet.
fn parse_head(buf: &mut BytesMut, to_head: bool) -> Result<Option<Head>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let n = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Failure::Protocol(format!("a malformed answer head: {e}"))),
    };
    let status = resp.code.unwrap_or_default();
    let mut close = resp.version == Some(0);
    let (mut length, mut chunked) = (None, false);
    for h in resp.headers.iter() {
        // Only the values of the headers read here are decoded.
        let value = || std::str::from_utf8(h.value).unwrap_or_default();
        if h.name.eq_ignore_ascii_case("content-length") {
            let value = value();
            let n = value.trim().parse::<usize>().map_err(|_| {
                Failure::Protocol(format!("a bad Content-Length `{value}` in an answer"))
            })?;
            if length.is_some_and(|l| l != n) {
                return Err(Failure::Protocol("two different Content-Lengths".into()));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let value = value();
            // Chunked is the last coding when it is there at all (RFC 9112, 6.1).
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value().split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && resp.version == Some(0) {
                    close = false;
                }
            }
        }
    }
    // RFC 9112, 6.3: no body after HEAD, 1xx, 204 or 304; chunked wins over a length.
    let framing = if to_head || (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    buf.advance(n);
    Ok(Some(Head {
        status,
        framing,
        close,
    }))
}

/// Where a chunked body's decoding stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Chunks {
    /// Before a chunk's size line.
    #[default]
    Size,
    /// Inside a chunk, with this many bytes of it to come.
    Data(u64),
    /// After a chunk's data, before its CRLF.
    DataEnd,
    /// After the last (empty) chunk: trailer lines until an empty one.
    Trailers,
    Done,
}

impl Chunks {
    /// Move the data of the chunks `buf` holds to `out`; true once the body ended.
    fn decode(&mut self, buf: &mut BytesMut, out: &mut BytesMut) -> Result<bool, Failure> {
        loop {
            match *self {
                Chunks::Size => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        buf.advance(n);
                        *self = if size == 0 {
                            Chunks::Trailers
                        } else {
                            Chunks::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) => return Ok(false),
                    Err(_) => return Err(Failure::Protocol("a malformed chunk size".into())),
                },
                Chunks::Data(left) => {
                    if buf.is_empty() {
                        return Ok(false);
                    }
                    let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    out.extend_from_slice(&buf[..take]);
                    buf.advance(take);
                    let left = left - take as u64;
                    *self = if left == 0 {
                        Chunks::DataEnd
                    } else {
                        Chunks::Data(left)
                    };
                }
                Chunks::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(false);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(Failure::Protocol("a chunk without its CRLF".into()));
                    }
                    buf.advance(2);
                    *self = Chunks::Size;
                }
                Chunks::Trailers => {
                    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                        return Ok(false);
                    };
                    buf.advance(end + 2);
                    if end == 0 {
                        *self = Chunks::Done;
                    }
                }
                Chunks::Done => return Ok(true),
            }
        }
    }
}

/// An answer's body read as it arrives (an event stream), with the connection it comes on.
pub struct Stream {
    pub status: u16,
    framing: Framing,
    chunks: Chunks,
    conn: Conn,
    /// What `next` returned last, kept for its allocation.
    data: BytesMut,
}

impl Stream {
    /// The next bytes of the body; `None` once it ended or the connection broke.
    pub async fn next(&mut self) -> Option<&[u8]> {
        self.data.clear();
        loop {
            let buf = &mut self.conn.buf;
            match &mut self.framing {
                Framing::Chunked => {
                    let done = self.chunks.decode(buf, &mut self.data).ok()?;
                    if !self.data.is_empty() {
                        return Some(&self.data);
                    }
                    if done {
                        return None;
                    }
                }
                Framing::Length(0) => return None,
                Framing::Length(left) => {
                    if !buf.is_empty() {
                        let take = buf.len().min(*left);
                        *left -= take;
                        self.data.extend_from_slice(&buf[..take]);
                        buf.advance(take);
                        return Some(&self.data);
                    }
                }
                Framing::UntilClose => {
                    if !buf.is_empty() {
                        self.data.extend_from_slice(buf);
                        buf.clear();
                        return Some(&self.data);
                    }
                }
            }
            self.conn.fill().await.ok()?;
        }
    }
}

/// At most `size` connections, shared by the open loop's concurrent requests. A request
/// waits for a free connection (that wait is part of its measured latency, as it would be
/// for a real client), and a broken connection is replaced on the next use.
pub struct Pool {
    target: Target,
    free: Mutex<Vec<Conn>>,
    permits: Semaphore,
}

impl Pool {
    pub fn new(target: Target, size: usize) -> Pool {
        Pool {
            target,
            free: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size),
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub async fn send(&self, req: Req) -> Result<Reply, Failure> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the pool is never closed");
        let idle = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match idle {
            Some(c) if c.is_usable() => c,
            _ => Conn::open(&self.target).await?,
        };
        let result = conn.send(req).await;
        if conn.is_usable() {
            self.free
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
        result
    }
}

#[cfg(test)]
mod tests;
