//! A minimal HTTP/1.1 client over hyper's connection API: one keep-alive TCP connection per
//! `Conn`, so "N connections" means exactly N sockets, and a pool of them for the open loop.
//!
//! hyper-util's pooled `Client` would open a connection per concurrent request on its own;
//! owning the connections makes the closed loop's concurrency exact and keeps the client's
//! own cost (it shares the machine with the daemon) as small as hyper allows.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
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

    /// A request with the headers every call carries.
    pub fn request(&self, method: Method, path: Uri, auth: &HeaderValue, body: Bytes) -> Req {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone())
            .header(AUTHORIZATION, auth.clone());
        if !body.is_empty() {
            b = b.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        b.body(Full::new(body)).expect("a well-formed request")
    }
}

pub type Req = Request<Full<Bytes>>;

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
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("type")?.as_str().map(str::to_owned))
            .map(|t| t.rsplit(':').next().unwrap_or(&t).to_owned())
            .unwrap_or_else(|| "no-problem-document".to_owned())
    }
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum Failure {
    Connect(std::io::Error),
    Http(hyper::Error),
    Timeout,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "connect: {e}"),
            Failure::Http(e) => write!(f, "http: {e}"),
            Failure::Timeout => f.write_str("timeout"),
        }
    }
}

impl Failure {
    /// A short, stable label for the error table.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Connect(_) => "connect",
            Failure::Http(_) => "transport",
            Failure::Timeout => "timeout",
        }
    }
}

/// No request may hang a worker for longer than this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP/1.1 keep-alive connection.
pub struct Conn {
    tx: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(target: &Target) -> Result<Conn, Failure> {
        let tcp = TcpStream::connect(target.addr)
            .await
            .map_err(Failure::Connect)?;
        tcp.set_nodelay(true).map_err(Failure::Connect)?;
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(Failure::Http)?;
        tokio::spawn(async move {
            // Ends when the daemon or we close the connection; errors surface on `send`.
            let _ = conn.await;
        });
        Ok(Conn { tx })
    }

    pub fn is_usable(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Send and read the whole answer, within `REQUEST_TIMEOUT`.
    pub async fn send(&mut self, req: Req) -> Result<Reply, Failure> {
        let exchange = async {
            self.tx.ready().await.map_err(Failure::Http)?;
            let resp = self.tx.send_request(req).await.map_err(Failure::Http)?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(Failure::Http)?
                .to_bytes();
            Ok(Reply { status, body })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .unwrap_or(Err(Failure::Timeout))
    }

    /// The response head only; the body is left to the caller (SSE streams).
    pub async fn stream(
        &mut self,
        req: Req,
    ) -> Result<http::Response<hyper::body::Incoming>, Failure> {
        self.tx.ready().await.map_err(Failure::Http)?;
        match tokio::time::timeout(REQUEST_TIMEOUT, self.tx.send_request(req)).await {
            Ok(r) => r.map_err(Failure::Http),
            Err(_) => Err(Failure::Timeout),
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
        if result.is_ok() {
            self.free
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
        result
    }
}
