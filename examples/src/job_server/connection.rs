//! One connection: served by hyper, after a first request line that is checked here (an
//! over-long one gets a JSON `414`), until it closes or the drain ends it.

use std::io;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::MAX_URI_LEN;

/// Serves one connection with `app` until it closes, or until `closing` is cancelled and the
/// request in flight (if any) is answered.
///
/// The line of the first request is read here, before hyper sees it: hyper answers a request target
/// over 64 KiB with a bare `414` (no body), so an over-long first request line gets its `414` with
/// a JSON body from [`refuse_long_request_line`] instead. The later requests of a kept-alive
/// connection are checked by [`uri_limit`](super::input::uri_limit), which sees every target hyper
/// accepts.
pub(super) async fn connection(
    mut stream: TcpStream,
    app: Router,
    http: http1::Builder,
    header_read_timeout: Duration,
    closing: CancellationToken,
) {
    let first_line = tokio::select! {
        // Not even a request line yet: nothing to answer.
        () = closing.cancelled() => return,
        line = tokio::time::timeout(header_read_timeout, read_request_line(&mut stream)) => line,
    };
    let head = match first_line {
        Ok(Ok(RequestLine::Complete(head))) => head,
        Ok(Ok(RequestLine::TooLong)) => {
            refuse_long_request_line(stream, header_read_timeout).await;
            return;
        }
        // Closed, failed or timed out before the end of the request line.
        Ok(Ok(RequestLine::Closed) | Err(_)) | Err(_) => return,
    };
    // hyper reads the bytes already read first, then the rest of the stream.
    let (reader, writer) = stream.into_split();
    let io = TokioIo::new(tokio::io::join(io::Cursor::new(head).chain(reader), writer));
    let conn = http.serve_connection(io, TowerToHyperService::new(app));
    let mut conn = pin!(conn);
    tokio::select! {
        // An error is the client's doing (a malformed request, a header timeout, a reset):
        // the connection is closed either way.
        _ = conn.as_mut() => return,
        () = closing.cancelled() => {}
    }
    // Answers the request in flight, if any, then closes (at once if idle).
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The longest request line accepted: a request target of [`MAX_URI_LEN`] bytes, and room for
/// the method and the version.
const MAX_REQUEST_LINE: usize = MAX_URI_LEN + 64;

/// How the first request line of a connection ended.
enum RequestLine {
    /// All the bytes read, the whole request line among them.
    Complete(Vec<u8>),
    /// Over [`MAX_REQUEST_LINE`] bytes.
    TooLong,
    /// The client closed the connection before the end of the line.
    Closed,
}

/// Reads from `stream` until the end of the first request line.
async fn read_request_line(stream: &mut TcpStream) -> io::Result<RequestLine> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(RequestLine::Closed);
        }
        head.extend_from_slice(&chunk[..read]);
        match head.iter().position(|&byte| byte == b'\n') {
            Some(end) if end <= MAX_REQUEST_LINE => return Ok(RequestLine::Complete(head)),
            Some(_) => return Ok(RequestLine::TooLong),
            None if head.len() > MAX_REQUEST_LINE => return Ok(RequestLine::TooLong),
            None => {}
        }
    }
}

/// Answers `414` with a JSON body on `stream`, whose request line is over
/// [`MAX_REQUEST_LINE`] bytes, and closes it.
async fn refuse_long_request_line(mut stream: TcpStream, linger: Duration) {
    let body = serde_json::json!({
        "error": format!("the request target is over {MAX_URI_LEN} bytes"),
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(answer.as_bytes()).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    // Reads what the client still sends (the rest of its request) until it closes, for
    // a while: closing with unread bytes would reset the connection, and the client could
    // lose the answer.
    let discard = async {
        let mut sink = [0u8; 4096];
        let mut left: usize = 1 << 20;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(read) => left = left.saturating_sub(read),
            }
        }
    };
    let _ = tokio::time::timeout(linger, discard).await;
}
