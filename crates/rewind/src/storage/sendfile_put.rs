//! Whole-file PUTs to a plain-HTTP endpoint with sendfile(2).
//!
//! Uploading is what S3 adds to recording, and most of it was one copy: a spool file's
//! bytes, long gone from the CPU's caches, copied from user space into the socket
//! (object_store's client sends buffers). Over plain HTTP — a MinIO, Ceph or Garage in
//! the operator's own network (`allow_http`) — the kernel can send the file's page-cache
//! pages itself. object_store still decides what the request is: it presigns the PUT
//! (the signature in the query, the payload unsigned, as every upload is), and this
//! module only carries it: the request head, the file by sendfile, the response read and
//! checked. Over HTTPS the bytes must pass through TLS in user space, so those uploads go
//! through object_store's client as before.
//!
//! A PUT runs on a blocking thread (at most `uploads::WORKERS` at once) with socket
//! timeouts, so a file whose pages left the page cache is read from disk off the async
//! threads. Connections are kept alive and reused; one that the server closed while it
//! was idle is replaced once (a PUT may be repeated).

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::time::Duration;
use url::{Position, Url};

/// Time to connect to one of the endpoint's addresses.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the socket to take more bytes, or for the answer (object_store's
/// requests have the same bound).
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections kept for reuse: one per upload worker, and a few spare.
const MAX_IDLE: usize = 8;
/// An answer's head larger than this is not an S3 server's.
const MAX_HEAD: usize = 16 << 10;
/// Error bodies are read up to this (S3's are a few hundred bytes of XML).
const MAX_BODY: usize = 64 << 10;

/// Idle keep-alive connections, by `host:port`.
#[derive(Debug, Default)]
pub struct Conns(Mutex<Vec<(String, TcpStream)>>);

impl Conns {
    fn take(&self, authority: &str) -> Option<TcpStream> {
        let mut idle = crate::lock::lock(&self.0);
        let i = idle.iter().position(|(a, _)| a == authority)?;
        Some(idle.swap_remove(i).1)
    }

    fn give(&self, authority: &str, conn: TcpStream) {
        let mut idle = crate::lock::lock(&self.0);
        if idle.len() < MAX_IDLE {
            idle.push((authority.to_string(), conn));
        }
    }
}

/// PUTs the first `len` bytes of `file` to the presigned `url`. Blocks.
pub fn put(conns: &Conns, url: &Url, file: &std::fs::File, len: u64) -> io::Result<()> {
    let authority = &url[Position::BeforeHost..Position::AfterPort];
    let target = &url[Position::BeforePath..Position::AfterQuery];
    let head = format!("PUT {target} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {len}\r\n\r\n");
    if let Some(conn) = conns.take(authority) {
        // A kept connection the server closed meanwhile fails at once: try a fresh one.
        if let Ok(answer) = exchange(&conn, &head, file, len) {
            return settle(conns, authority, conn, answer);
        }
    }
    let conn = connect(url)?;
    let answer = exchange(&conn, &head, file, len)?;
    settle(conns, authority, conn, answer)
}

/// What the server answered.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    /// The body, when it was read (an error's, up to `MAX_BODY`).
    body: Vec<u8>,
    /// Whether the connection may carry another request.
    reusable: bool,
}

fn settle(conns: &Conns, authority: &str, conn: TcpStream, a: Answer) -> io::Result<()> {
    if a.reusable {
        conns.give(authority, conn);
    }
    if (200..300).contains(&a.status) {
        return Ok(());
    }
    let body = String::from_utf8_lossy(&a.body);
    // S3's error body names the error: <Error><Code>AccessDenied</Code>…
    let code = body.split_once("<Code>").and_then(|(_, r)| r.split_once("</Code>")).map(|(c, _)| c);
    Err(io::Error::other(match code {
        Some(code) => format!("PUT answered {}: {code}", a.status),
        None => format!("PUT answered {}", a.status),
    }))
}

fn connect(url: &Url) -> io::Result<TcpStream> {
    let host = url.host_str().ok_or_else(|| io::Error::other("the upload URL has no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let mut last = io::Error::other(format!("{host} has no address"));
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(conn) => {
                conn.set_read_timeout(Some(IO_TIMEOUT))?;
                conn.set_write_timeout(Some(IO_TIMEOUT))?;
                conn.set_nodelay(true)?;
                return Ok(conn);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// One request on `conn`: the head, the file, then the answer. A server that refuses
/// an upload may answer before the body is in (a 403 for a bad signature) and close:
/// sending then fails, and the answer it left is the error to report.
fn exchange(conn: &TcpStream, head: &str, file: &std::fs::File, len: u64) -> io::Result<Answer> {
    match send(conn, head, file, len) {
        Ok(()) => read_answer(conn),
        Err(e) if matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) => {
            match read_answer(conn) {
                Ok(a) if !(200..300).contains(&a.status) => Ok(Answer { reusable: false, ..a }),
                _ => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Sends the request head, then the file's first `len` bytes by sendfile.
fn send(mut conn: &TcpStream, head: &str, file: &std::fs::File, len: u64) -> io::Result<()> {
    conn.write_all(head.as_bytes())?;
    let mut offset: libc::off_t = 0;
    while (offset as u64) < len {
        let left = (len - offset as u64).min(1 << 30) as usize;
        // SAFETY: both descriptors are open for the call; `offset` is ours.
        let n = unsafe { libc::sendfile(conn.as_raw_fd(), file.as_raw_fd(), &mut offset, left) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the endpoint stopped taking the upload",
                    ));
                }
                _ => return Err(e),
            }
        }
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file is shorter than its upload"));
        }
    }
    Ok(())
}

fn read_answer(mut conn: impl Read) -> io::Result<Answer> {
    let mut buf = Vec::with_capacity(1024);
    let (status, reusable, length, head_len) = loop {
        read_more(&mut conn, &mut buf, "the endpoint closed without an answer")?;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut headers);
        match res.parse(&buf).map_err(|e| io::Error::other(format!("a bad answer to the upload: {e}")))? {
            httparse::Status::Complete(head_len) => {
                let header = |name: &str| {
                    res.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
                };
                let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
                let close = header("connection").is_some_and(|v| v.contains("close"));
                let chunked = header("transfer-encoding").is_some();
                let reusable = res.version == Some(1) && !close && !chunked && length.is_some();
                break (res.code.unwrap_or(0), reusable, length, head_len);
            }
            httparse::Status::Partial if buf.len() > MAX_HEAD => {
                return Err(io::Error::other("the answer to the upload has an oversized head"));
            }
            httparse::Status::Partial => {}
        }
    };
    let mut body = buf.split_off(head_len);
    let Some(length) = length else {
        // No length (chunked, or to the close): what came with the head is the text.
        return Ok(Answer { status, body, reusable: false });
    };
    if length > MAX_BODY {
        return Ok(Answer { status, body, reusable: false });
    }
    while body.len() < length {
        read_more(&mut conn, &mut body, "the endpoint closed within its answer")?;
    }
    // More than the length said: the connection is out of step.
    let reusable = reusable && body.len() == length;
    body.truncate(length);
    Ok(Answer { status, body, reusable })
}

/// Appends what the next read gives; the peer closing is an error saying `closed`.
fn read_more(conn: &mut impl Read, to: &mut Vec<u8>, closed: &'static str) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    let n = conn.read(&mut chunk)?;
    if n == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, closed));
    }
    to.extend_from_slice(&chunk[..n]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    fn answer(s: &str) -> io::Result<Answer> {
        read_answer(s.as_bytes())
    }

    #[test]
    fn answers_are_read_whole_and_keep_the_connection_only_when_http_1_1_says_how_long() {
        let ok = answer("HTTP/1.1 200 OK\r\nETag: \"x\"\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!(ok, Answer { status: 200, body: vec![], reusable: true });
        let xml = "<Error><Code>AccessDenied</Code><Message/></Error>";
        let a =
            answer(&format!("HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\n\r\n{xml}", xml.len())).unwrap();
        assert_eq!((a.status, a.reusable, a.body.len()), (403, true, xml.len()));
        let e = settle(&Conns::default(), "h:1", dummy().unwrap(), a);
        assert_eq!(e.unwrap_err().to_string(), "PUT answered 403: AccessDenied");
        assert!(!answer("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap().reusable);
        assert!(
            !answer("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").unwrap().reusable
        );
        assert!(!answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").unwrap().reusable);
        assert!(!answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nextra").unwrap().reusable);
        assert!(answer("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
        assert!(answer("HTTP/1.1 200 OK\r\nContent-").is_err());
        assert!(answer("garbage\r\n\r\n").is_err());
        assert!(answer("").is_err());
    }

    /// A connected socket, for `settle` to keep or drop.
    fn dummy() -> io::Result<TcpStream> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        TcpStream::connect(l.local_addr()?)
    }

    /// One request as a server saw it: its head lines and its body.
    fn serve_one(conn: &TcpStream, reply: &str) -> (Vec<String>, Vec<u8>) {
        let mut r = BufReader::new(conn);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let line = line.trim_end().to_string();
            if line.is_empty() {
                break;
            }
            head.push(line);
        }
        let len: usize =
            head.iter().find_map(|h| h.strip_prefix("Content-Length: ")).unwrap().parse().unwrap();
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        (&*conn).write_all(reply.as_bytes()).unwrap();
        (head, body)
    }

    #[test]
    fn a_file_is_sent_with_the_presigned_target_and_a_closed_kept_connection_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.ts");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let url =
            Url::parse(&format!("http://127.0.0.1:{port}/bucket/a/seg.ts?X-Amz-Signature=ab%2Fc")).unwrap();
        let server = std::thread::spawn(move || {
            let (first, _) = l.accept().unwrap();
            let got = serve_one(&first, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            // The kept connection is closed before the second request; it comes on a new one.
            drop(first);
            let (second, _) = l.accept().unwrap();
            let again = serve_one(&second, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            (got, again)
        });
        let conns = Conns::default();
        let f = std::fs::File::open(&path).unwrap();
        put(&conns, &url, &f, data.len() as u64).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        put(&conns, &url, &f, data.len() as u64).unwrap();
        let ((head, body), (head2, body2)) = server.join().unwrap();
        assert_eq!(head[0], "PUT /bucket/a/seg.ts?X-Amz-Signature=ab%2Fc HTTP/1.1");
        assert!(head.contains(&format!("Host: 127.0.0.1:{port}")), "{head:?}");
        assert!(body == data && body2 == data && head2 == head);
    }

    #[test]
    fn an_answer_given_before_the_body_and_a_close_is_the_error_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.flv");
        std::fs::write(&path, vec![7u8; 16 << 20]).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (conn, _) = l.accept().unwrap();
            let mut r = BufReader::new(&conn);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let xml = "<Error><Code>SignatureDoesNotMatch</Code></Error>";
            let reply = format!("HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\n\r\n{xml}", xml.len());
            (&conn).write_all(reply.as_bytes()).unwrap();
            // Closed with the body unread, as servers that refuse early do.
        });
        let url = Url::parse(&format!("http://127.0.0.1:{port}/b/big.flv")).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let e = put(&Conns::default(), &url, &f, 16 << 20).unwrap_err();
        server.join().unwrap();
        assert_eq!(e.to_string(), "PUT answered 403: SignatureDoesNotMatch");
    }

    #[test]
    fn a_refused_connection_is_an_error() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/b/k")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let f = std::fs::File::open(dir.path().join("f")).unwrap();
        assert_eq!(put(&Conns::default(), &url, &f, 1).unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
    }
}
