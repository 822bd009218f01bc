//! What reqwest cannot do: answers read from a raw TCP stream, and requests that stall.

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::harness::PATIENCE;

/// The head of a `PUT /jobs/stalled` that announces a 100-byte JSON body.
pub(super) const PUT_HEAD_OF_100: &str = "PUT /jobs/stalled HTTP/1.1\r\nhost: test\r\n\
    content-type: application/json\r\ncontent-length: 100\r\n";

/// Reads an answer's head from `stream`: its status and its headers (names in lower case).
pub(super) async fn read_head(stream: &mut TcpStream) -> (StatusCode, Vec<(String, String)>) {
    let read = async {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let byte = stream.read_u8().await.expect("an answer's head");
            head.push(byte);
        }
        head
    };
    let head = tokio::time::timeout(PATIENCE, read)
        .await
        .expect("an answer within the patience");
    let head = String::from_utf8(head).expect("a UTF-8 head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers)
}

/// Reads an answer from `stream`: its status and its JSON body (of `content-length` bytes).
pub(super) async fn read_answer(stream: &mut TcpStream) -> (StatusCode, Value) {
    let (status, headers) = read_head(stream).await;
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("a {status} answer without content-length: {headers:?}"));
    let mut body = vec![0; length];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut body))
        .await
        .expect("the body within the patience")
        .expect("the whole body");
    let body = serde_json::from_slice(&body).unwrap_or_else(|e| {
        let text = String::from_utf8_lossy(&body);
        panic!("a {status} answer that is not JSON ({e}): {text:?}")
    });
    (status, body)
}

/// Waits for the server to close `stream` without answering anything more.
pub(super) async fn assert_closed(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest))
        .await
        .expect("the server closes the connection within the patience");
    // A reset is a close too.
    if read.is_ok() {
        assert!(
            rest.is_empty(),
            "unexpected bytes: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}
