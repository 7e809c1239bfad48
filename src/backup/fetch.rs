//! `hallq backup --target URL`: fetch `GET /v1/admin/backup` from a running daemon into a
//! file, over plain HTTP/1.1 on a std socket (the daemon listens on loopback or behind a
//! proxy that terminates TLS; the binary carries no HTTP client for one request).
//!
//! The file is written beside its final name and renamed only after `verify` accepted it,
//! so a cut-off transfer never looks like a backup.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{BackupError, Summary, verify};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("--target must look like http://HOST:PORT (plain HTTP), not `{0}`")]
    Url(String),
    #[error("cannot reach {target}: {source}")]
    Connect {
        target: String,
        source: std::io::Error,
    },
    #[error("{target} answered {status}: {body}")]
    Refused {
        target: String,
        status: u16,
        body: String,
    },
    #[error("the transfer from {target} broke off: {source}")]
    Transfer {
        target: String,
        source: std::io::Error,
    },
    #[error("{0} already exists; choose another --out directory or move it away")]
    Exists(PathBuf),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Backup(#[from] BackupError),
}

/// Fetch a backup from `target` (e.g. `http://127.0.0.1:8080`) into `out/hallq.backup`.
pub fn fetch(target: &str, token: &str, out: &Path) -> Result<(PathBuf, Summary), FetchError> {
    let host = target
        .strip_prefix("http://")
        .map(|h| h.trim_end_matches('/'))
        .filter(|h| !h.is_empty() && !h.contains('/'))
        .ok_or_else(|| FetchError::Url(target.to_owned()))?;
    let file = out.join("hallq.backup");
    if file.exists() {
        return Err(FetchError::Exists(file));
    }
    let partial = out.join("hallq.backup.partial");
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| FetchError::Write { path, source }
    };
    std::fs::create_dir_all(out).map_err(write_err(out))?;
    let transfer = |source| FetchError::Transfer {
        target: target.to_owned(),
        source,
    };
    let mut stream = TcpStream::connect(host).map_err(|source| FetchError::Connect {
        target: target.to_owned(),
        source,
    })?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(transfer)?;
    write!(
        stream,
        "GET /v1/admin/backup HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .map_err(transfer)?;
    let mut input = BufReader::with_capacity(1 << 16, stream);
    let mut line = String::new();
    input.read_line(&mut line).map_err(transfer)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut chunked = false;
    let mut length = None;
    loop {
        line.clear();
        input.read_line(&mut line).map_err(transfer)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked") {
                chunked = true;
            } else if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<u64>().ok();
            }
        }
    }
    let mut body: Box<dyn Read> = if chunked {
        Box::new(Chunked {
            input,
            left: 0,
            done: false,
        })
    } else {
        match length {
            Some(n) => Box::new(input.take(n)),
            None => Box::new(input),
        }
    };
    if status != 200 {
        let mut text = String::new();
        let _ = body.take(4096).read_to_string(&mut text);
        return Err(FetchError::Refused {
            target: target.to_owned(),
            status,
            body: text,
        });
    }
    let mut f = std::fs::File::create(&partial).map_err(write_err(&partial))?;
    std::io::copy(&mut body, &mut f).map_err(transfer)?;
    f.sync_all().map_err(write_err(&partial))?;
    drop(f);
    let summary = verify(&partial)?;
    std::fs::rename(&partial, &file).map_err(write_err(&file))?;
    Ok((file, summary))
}

/// HTTP/1.1 chunked transfer coding, read as the plain body.
struct Chunked<R> {
    input: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            self.input.read_line(&mut line)?;
            if line.trim().is_empty() {
                // The CRLF after the previous chunk's data.
                line.clear();
                self.input.read_line(&mut line)?;
            }
            let size = line.trim().split(';').next().unwrap_or("");
            self.left = usize::from_str_radix(size, 16).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the response ended inside a chunk",
                )
            })?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let n = self.left.min(buf.len());
        let n = self.input.read(&mut buf[..n])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n;
        Ok(n)
    }
}
