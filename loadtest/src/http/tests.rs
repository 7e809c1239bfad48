use super::*;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A chunked body with an extension and a trailer, cut at every byte: the same data
/// comes out, and the end is found only once the trailers' blank line arrived.
#[test]
fn chunked_bodies_decode_whatever_the_reads() {
    let wire: &[u8] = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n";
    for cut in 0..=wire.len() {
        let (mut chunks, mut out, mut buf) = (Chunks::default(), BytesMut::new(), BytesMut::new());
        buf.extend_from_slice(&wire[..cut]);
        let early = chunks.decode(&mut buf, &mut out).expect("valid so far");
        assert_eq!(early, cut == wire.len(), "cut at {cut}");
        buf.extend_from_slice(&wire[cut..]);
        assert!(
            chunks.decode(&mut buf, &mut out).expect("valid"),
            "cut {cut}"
        );
        assert_eq!(&out[..], b"hello, world", "cut at {cut}");
        assert!(buf.is_empty());
    }
    let mut buf = BytesMut::from(&b"3\r\nabcX\r\n"[..]);
    let err = Chunks::default().decode(&mut buf, &mut BytesMut::new());
    assert!(matches!(err, Err(Failure::Protocol(_))), "{err:?}");
}

/// A daemon that answers each request it reads with the next of `answers` (written
/// byte by byte, to split every read), and hands back the requests' heads and bodies.
async fn daemon(answers: Vec<&'static [u8]>) -> (Target, tokio::task::JoinHandle<Vec<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = Target::local(listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (read, mut write) = tcp.into_split();
        let mut read = BufReader::new(read);
        let mut seen = Vec::new();
        for answer in answers {
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                read.read_line(&mut line).await.unwrap();
                if let Some(n) = line.strip_prefix("content-length: ") {
                    length = n.trim().parse().unwrap();
                }
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            read.read_exact(&mut body).await.unwrap();
            seen.push(head + &String::from_utf8(body).unwrap());
            for b in answer {
                write.write_all(&[*b]).await.unwrap();
            }
        }
        seen
    });
    (target, task)
}

#[tokio::test]
async fn answers_are_framed_as_http_1_1_says() {
    let (target, daemon) = daemon(vec![
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 409 Conflict\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
    ])
    .await;
    let auth = Target::bearer("t");
    let mut conn = Conn::open(&target).await.unwrap();
    let body = Bytes::from_static(b"{\"service\":\"s\"}");
    let r = conn
        .send(target.request(Method::POST, path("/v1/a?x=1"), &auth, body))
        .await
        .unwrap();
    assert_eq!((r.status, &r.body[..]), (201, &b"hello"[..]));
    assert!(conn.is_usable());
    let r = conn
        .send(target.request(Method::POST, path("/v1/b"), &auth, Bytes::new()))
        .await
        .unwrap();
    assert_eq!((r.status, &r.body[..]), (409, &b"abcde"[..]));
    let r = conn
        .send(target.request(Method::GET, path("/v1/c"), &auth, Bytes::new()))
        .await
        .unwrap();
    assert_eq!((r.status, r.body.len()), (204, 0));
    assert!(conn.is_usable());
    let r = conn
        .send(target.request(Method::GET, path("/v1/d"), &auth, Bytes::new()))
        .await
        .unwrap();
    assert_eq!((r.status, &r.body[..]), (200, &b"ok"[..]));
    assert!(!conn.is_usable(), "the daemon said it closes");

    let host = target.host.to_str().unwrap();
    let seen = daemon.await.unwrap();
    assert_eq!(
        seen[0],
        format!(
            "POST /v1/a?x=1 HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer t\r\n\
             content-type: application/json\r\ncontent-length: 15\r\n\r\n{{\"service\":\"s\"}}"
        )
    );
    assert!(
        seen[1].ends_with("content-length: 0\r\n\r\n"),
        "{}",
        seen[1]
    );
    assert!(!seen[2].contains("content-length"), "{}", seen[2]);
}

#[tokio::test]
async fn a_stream_yields_its_body_as_it_arrives_and_ends_with_it() {
    let (target, daemon) = daemon(vec![
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nid: 1\n\r\n7\r\ndata: x\r\n0\r\n\r\n",
    ])
    .await;
    let req = target
        .request(Method::GET, path("/e"), &Target::bearer("t"), Bytes::new())
        .resume_after(41);
    let mut stream = Conn::open(&target)
        .await
        .unwrap()
        .stream(req)
        .await
        .unwrap();
    assert_eq!(stream.status, 200);
    let mut body = Vec::new();
    while let Some(b) = stream.next().await {
        body.extend_from_slice(b);
    }
    assert_eq!(body, b"id: 1\ndata: x");
    let seen = daemon.await.unwrap();
    assert!(seen[0].contains("\r\nlast-event-id: 41\r\n"), "{}", seen[0]);
}

#[tokio::test]
async fn a_connection_closed_midway_is_a_failure_and_retired() {
    let (target, _daemon) =
        daemon(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf"]).await;
    let mut conn = Conn::open(&target).await.unwrap();
    let req = target.request(Method::GET, path("/"), &Target::bearer("t"), Bytes::new());
    let r = conn.send(req).await;
    assert!(matches!(r, Err(Failure::Closed)), "{r:?}");
    assert!(!conn.is_usable());
    let again = target.request(Method::GET, path("/"), &Target::bearer("t"), Bytes::new());
    assert!(matches!(conn.send(again).await, Err(Failure::Closed)));
}

#[tokio::test]
async fn a_connection_the_daemon_closed_while_idle_is_not_used_again() {
    let (target, daemon) = daemon(vec![b"HTTP/1.1 204 No Content\r\n\r\n"]).await;
    let mut conn = Conn::open(&target).await.unwrap();
    let req = target.request(Method::GET, path("/"), &Target::bearer("t"), Bytes::new());
    assert_eq!(conn.send(req).await.unwrap().status, 204);
    // The daemon closes once its answers are sent; the client has not read since.
    daemon.await.unwrap();
    assert!(conn.is_usable(), "a connection just used is not probed");
    conn.last_used -= IDLE_PROBE_AFTER * 2;
    let mut closed = false;
    for _ in 0..100 {
        if !conn.is_usable() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed, "the idle probe sees the daemon's close");
}
