//! SSE on the socket. The first request head of every connection is read and parsed once, here:
//! an SSE request (`GET /v1/sse/events`, HTTP/1.x, origin- or absolute-form) is answered by the
//! router as any request (CORS, admission, validation, errors) and its body streams to the socket
//! as chunks; anything else goes to hyper with the bytes read so far replayed in front of the
//! socket ([`Replay`]). A general HTTP connection keeps read and write buffers for its whole life
//! (about 30 KiB per SSE client under hyper); an SSE stream needs neither once its request is
//! read, which keeps an idle SSE client at a few KiB.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::tls::Conn;
use axum::body::Body;
use axum::http::{header, Request, Response, Version};
use axum::Router;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tower::ServiceExt;

use super::PATH;

/// What the first request head of a connection is.
pub enum Head {
    /// An SSE request, parsed: serve it on the socket.
    Sse(Box<Request<Body>>),
    /// Anything else (another path or method, HTTP/2, a head too large or malformed): the bytes
    /// read so far, for hyper.
    Other(Vec<u8>),
    /// An HTTP/1 head that does not parse: answered 400 with what was wrong, whatever its path.
    Malformed(String),
    /// An HTTP/1 head longer than the limit: answered 431.
    TooLarge,
    /// The connection closed before it sent anything.
    Closed,
}

/// Reads the first request head, at most `max_head` bytes (the caller bounds it in time), and
/// decides.
pub async fn read_head(stream: &mut Conn, max_head: usize) -> Head {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut chunk = [0u8; 1024];
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(_) if buf.is_empty() => return Head::Closed,
            Err(_) => return Head::Other(buf),
        };
        if n == 0 {
            return if buf.is_empty() {
                Head::Closed
            } else {
                Head::Other(buf)
            };
        }
        buf.extend_from_slice(&chunk[..n]);
        match decide(buf, max_head) {
            Ok(head) => return head,
            Err(read) => buf = read,
        }
    }
}

/// The decision on the bytes of a head read so far; `Err` gives them back while the head is
/// incomplete and shorter than `max_head` (read more). Public for the fuzz targets.
#[doc(hidden)]
pub fn decide(buf: Vec<u8>, max_head: usize) -> Result<Head, Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&buf) {
        Ok(httparse::Status::Complete(_)) => Ok(match to_request(&parsed) {
            Ok(request) if is_sse(&request) => Head::Sse(Box::new(request)),
            _ => Head::Other(buf),
        }),
        Ok(httparse::Status::Partial) if buf.len() < max_head => Err(buf),
        Ok(httparse::Status::Partial) => Ok(Head::TooLarge),
        // HTTP/2's preface is not an HTTP/1 head: hyper speaks it.
        Err(httparse::Error::Version) => Ok(Head::Other(buf)),
        Err(e) => Ok(Head::Malformed(format!("malformed HTTP request: {e}"))),
    }
}

fn is_sse(request: &Request<Body>) -> bool {
    request.method() == axum::http::Method::GET && request.uri().path() == PATH
}

/// Answers a head that does not parse with 400 and the reason, in the one error shape.
pub async fn refuse_malformed(stream: Conn, message: String, write_timeout: Duration) {
    refuse(
        stream,
        axum::http::StatusCode::BAD_REQUEST,
        message,
        write_timeout,
    )
    .await;
}

/// Answers `status` with the message in the one error shape, and closes.
pub async fn refuse(
    mut stream: Conn,
    status: axum::http::StatusCode,
    message: String,
    write_timeout: Duration,
) {
    let body = crate::error::ApiError::new(status, message).body();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    let _ = write_all(
        &mut stream,
        &[head.as_bytes(), body.as_bytes()],
        write_timeout,
    )
    .await;
    let _ = stream.shutdown().await;
}

/// Lets the router answer an SSE request and streams the answer to the socket.
pub async fn serve(
    mut stream: Conn,
    router: Router,
    request: Request<Body>,
    write_timeout: Duration,
) {
    let http10 = request.version() == Version::HTTP_10;
    let response: Response<Body> = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let _ = respond(&mut stream, response, http10, write_timeout).await;
}

/// A socket with bytes already read from it put back in front, for hyper.
pub struct Replay {
    read: Vec<u8>,
    at: usize,
    io: Conn,
}

impl Replay {
    pub fn new(read: Vec<u8>, io: Conn) -> Replay {
        Replay { read, at: 0, io }
    }
}

impl AsyncRead for Replay {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.at < this.read.len() {
            let n = out.remaining().min(this.read.len() - this.at);
            out.put_slice(&this.read[this.at..this.at + n]);
            this.at += n;
            if this.at == this.read.len() {
                // Given back whole: nothing of it stays with the connection.
                this.read = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, out)
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

fn to_request(parsed: &httparse::Request<'_, '_>) -> Result<Request<Body>, String> {
    let mut request = Request::builder()
        .method(parsed.method.unwrap_or("GET"))
        .uri(parsed.path.unwrap_or("/"))
        .version(match parsed.version {
            Some(0) => Version::HTTP_10,
            _ => Version::HTTP_11,
        });
    for h in parsed.headers.iter() {
        request = request.header(h.name, h.value);
    }
    request
        .body(Body::empty())
        .map_err(|e| format!("malformed HTTP request: {e}"))
}

/// Writes the head, then the body: with its length when it is known, else as chunks (HTTP/1.0:
/// until the connection closes). A client that leaves is noticed by reading.
async fn respond(
    stream: &mut Conn,
    response: Response<Body>,
    http10: bool,
    write_timeout: Duration,
) -> std::io::Result<()> {
    let (parts, body) = response.into_parts();
    let length = http_body::Body::size_hint(&body).exact();
    let chunked = length.is_none() && !http10;
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    match length {
        Some(n) => head.extend_from_slice(format!("content-length: {n}\r\n").as_bytes()),
        None if chunked => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        None => {}
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    write_all(stream, &[&head], write_timeout).await?;
    drop(head);

    let body = body.into_data_stream();
    match stream {
        Conn::Plain(tcp) => {
            let (reader, writer) = tcp.split();
            pump(reader, writer, body, chunked, write_timeout).await
        }
        Conn::Tls(tls) => {
            let (reader, writer) = tokio::io::split(&mut **tls);
            pump(reader, writer, body, chunked, write_timeout).await
        }
    }
}

/// Streams the body's chunks to `writer` while watching `reader` for the client leaving.
async fn pump<R, W>(
    mut reader: R,
    mut writer: W,
    mut body: axum::body::BodyDataStream,
    chunked: bool,
    write_timeout: Duration,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let mut sink = [0u8; 64];
        let chunk = tokio::select! {
            chunk = futures::StreamExt::next(&mut body) => chunk,
            read = reader.read(&mut sink) => match read {
                // The client left (or sent something it should not have: an SSE request has
                // no body, and a pipelined request is not served on a stream).
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => continue,
            },
        };
        let Some(Ok(chunk)) = chunk else { break };
        if chunk.is_empty() {
            continue;
        }
        if chunked {
            let size = format!("{:x}\r\n", chunk.len());
            write_all(
                &mut writer,
                &[size.as_bytes(), &chunk, b"\r\n"],
                write_timeout,
            )
            .await?;
        } else {
            write_all(&mut writer, &[&chunk], write_timeout).await?;
        }
    }
    if chunked {
        write_all(&mut writer, &[b"0\r\n\r\n"], write_timeout).await?;
    }
    let _ = writer.shutdown().await;
    Ok(())
}

/// Writes every part, in order, with vectored writes, within `timeout`.
async fn write_all<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    parts: &[&[u8]],
    timeout: Duration,
) -> std::io::Result<()> {
    let write = async {
        let (mut index, mut offset) = (0, 0);
        while index < parts.len() {
            let mut slices = Vec::with_capacity(parts.len() - index);
            slices.push(IoSlice::new(&parts[index][offset..]));
            slices.extend(parts[index + 1..].iter().map(|p| IoSlice::new(p)));
            let mut written = writer.write_vectored(&slices).await?;
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            while written > 0 && index < parts.len() {
                let left = parts[index].len() - offset;
                if written >= left {
                    written -= left;
                    index += 1;
                    offset = 0;
                } else {
                    offset += written;
                    written = 0;
                }
            }
            while index < parts.len() && parts[index].len() == offset {
                index += 1;
                offset = 0;
            }
        }
        Ok(())
    };
    tokio::time::timeout(timeout, write)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn head_of(bytes: &'static [&'static [u8]]) -> Head {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
            for part in bytes {
                socket.write_all(part).await.unwrap();
                socket.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Nothing sent at all: hang up.
            if bytes.is_empty() {
                drop(socket);
                return None;
            }
            Some(socket)
        });
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = Conn::Plain(stream);
        let head = tokio::time::timeout(Duration::from_secs(5), read_head(&mut stream, 16 << 10))
            .await
            .unwrap();
        drop(client);
        head
    }

    #[tokio::test]
    async fn one_decision_from_the_parsed_head() {
        // In pieces, with the cut inside the request line.
        let head = head_of(&[
            b"GET /v1/sse/ev",
            b"ents?events=tips.update HTTP/1.1\r\nHost: x\r\n\r\n",
        ])
        .await;
        assert!(matches!(head, Head::Sse(r) if r.uri().query() == Some("events=tips.update")));
        // Absolute form, as a proxy sends it.
        let head =
            head_of(&[b"GET http://edge:9121/v1/sse/events HTTP/1.1\r\nHost: edge\r\n\r\n"]).await;
        assert!(matches!(head, Head::Sse(_)));
        // Everything else goes to hyper with every byte read.
        for request in [
            &b"GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"POST /v1/sse/events HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\n\r\n",
            b"GET /v1/sse/eventsX HTTP/1.1\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            let leaked: &'static [u8] = Box::leak(request.to_vec().into_boxed_slice());
            let parts: &'static [&'static [u8]] = Box::leak(vec![leaked].into_boxed_slice());
            match head_of(parts).await {
                Head::Other(bytes) => assert_eq!(bytes, request),
                _ => panic!(
                    "{:?} is not for the socket",
                    String::from_utf8_lossy(request)
                ),
            }
        }
        assert!(matches!(head_of(&[]).await, Head::Closed));
        // A head that does not parse, whatever its path: a reason for the 400.
        let head = head_of(&[b"GET /v1/events HTTP/1.1\r\nno colon here\r\n\r\n"]).await;
        assert!(matches!(head, Head::Malformed(m) if m.starts_with("malformed HTTP request")));
        // A head over the limit, whatever its path: 431.
        let long: &'static [u8] = Box::leak(
            format!(
                "GET /v1/sse/events?events={} HTTP/1.1\r\n",
                "x".repeat(20 << 10)
            )
            .into_bytes()
            .into_boxed_slice(),
        );
        let parts: &'static [&'static [u8]] = Box::leak(vec![long].into_boxed_slice());
        assert!(matches!(head_of(parts).await, Head::TooLarge));
    }
}
