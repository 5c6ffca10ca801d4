//! The node's SSE stream, `GET /v1/sse/events` (shared/CONTRACT.md): frames of `event: <dotted
//! name>` and `data: <event JSON>`, a `: heartbeat` comment after 15 s without an event. The
//! parser keeps at most one frame's worth of bytes: a longer line is dropped as it streams in.

use std::collections::VecDeque;

use futures::StreamExt;
use serde_json::Value;

use super::node::{BadFrame, Item, NodeError, NodeSettings};
use super::node_ws::sample;

type Body = futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>;

pub struct SseConnection {
    body: Body,
    parser: Parser,
    ready: VecDeque<Item>,
    settings: NodeSettings,
}

impl SseConnection {
    pub async fn open(settings: &NodeSettings) -> Result<SseConnection, NodeError> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .build()
            .map_err(|e| NodeError::Connect(e.to_string()))?;
        let response = client
            .get(&settings.url)
            .header("Accept", "text/event-stream")
            .send()
            .await
            .map_err(|e| NodeError::Connect(e.to_string()))?;
        if !response.status().is_success() {
            return Err(NodeError::Status(response.status().to_string()));
        }
        Ok(SseConnection {
            body: response.bytes_stream().boxed(),
            parser: Parser::new(settings.max_frame_bytes),
            ready: VecDeque::new(),
            settings: settings.clone(),
        })
    }

    pub async fn next(&mut self) -> Result<Item, NodeError> {
        let silence = self.settings.ping_interval * 2;
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Ok(item);
            }
            match tokio::time::timeout(silence, self.body.next()).await {
                Err(_) => return Err(NodeError::Silent(silence)),
                Ok(None) => return Err(NodeError::Closed),
                Ok(Some(Err(e))) => return Err(NodeError::Read(e.to_string())),
                Ok(Some(Ok(chunk))) => self.parser.feed(&chunk, &mut self.ready),
            }
        }
    }
}

/// An incremental `text/event-stream` parser (LF or CRLF line ends).
pub struct Parser {
    max: usize,
    line: Vec<u8>,
    /// The current line grew past `max`: the rest of it is dropped.
    line_over: bool,
    name: Option<String>,
    data: Option<String>,
    /// The current frame's data grew past `max`.
    frame_over: bool,
}

impl Parser {
    pub fn new(max: usize) -> Parser {
        Parser {
            max,
            line: Vec::new(),
            line_over: false,
            name: None,
            data: None,
            frame_over: false,
        }
    }

    /// Parses `chunk`, appending every frame it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut VecDeque<Item>) {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.take(&rest[..end]);
            rest = &rest[end + 1..];
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let over = std::mem::take(&mut self.line_over);
            self.line(&line, over, out);
            line.clear();
            self.line = line;
        }
        self.take(rest);
    }

    fn take(&mut self, bytes: &[u8]) {
        if self.line_over {
            return;
        }
        // "data: " plus a frame's worth.
        if self.line.len() + bytes.len() > self.max + 8 {
            self.line_over = true;
            self.line.clear();
        } else {
            self.line.extend_from_slice(bytes);
        }
    }

    fn line(&mut self, line: &[u8], over: bool, out: &mut VecDeque<Item>) {
        if over {
            self.frame_over = true;
            return;
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // a comment: the heartbeat
        }
        let Ok(text) = std::str::from_utf8(line) else {
            out.push_back(Item::Bad {
                reason: BadFrame::NotJson,
                detail: "a line that is not UTF-8".into(),
            });
            return;
        };
        let (field, value) = text.split_once(':').unwrap_or((text, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = Some(value.to_owned()),
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
                if data.len() > self.max {
                    self.frame_over = true;
                    self.data = Some(String::new());
                }
            }
            // `id:` and `retry:` (a newer node's) and unknown fields are ignored, per the spec.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut VecDeque<Item>) {
        let name = self.name.take();
        let data = self.data.take();
        if std::mem::take(&mut self.frame_over) {
            out.push_back(Item::Bad {
                reason: BadFrame::Oversize,
                detail: format!(
                    "a frame over {} bytes (event {:?})",
                    self.max,
                    name.as_deref().unwrap_or("")
                ),
            });
            return;
        }
        // A frame without data (e.g. a newer node's id-only progress frame) dispatches nothing.
        let Some(data) = data else { return };
        out.push_back(match serde_json::from_str::<Value>(&data) {
            Ok(event @ Value::Object(_)) => Item::Event { event, name },
            Ok(_) => Item::Bad {
                reason: BadFrame::BadEvent,
                detail: format!("data that is not an event object: {}", sample(&data)),
            },
            Err(e) => Item::Bad {
                reason: BadFrame::NotJson,
                detail: format!("{e}: {}", sample(&data)),
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(max: usize, chunks: &[&[u8]]) -> Vec<Item> {
        let mut parser = Parser::new(max);
        let mut out = VecDeque::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        out.into()
    }

    #[test]
    fn frames_split_anywhere_are_reassembled() {
        let text = b"event: tips.update\ndata: {\"type\":\"TipsUpdated\",\"data\":{\"timestamp\":1}}\n\n: heartbeat\n\nevent: x\r\ndata: {\"type\":\"X\",\r\ndata: \"data\":{}}\r\n\r\n";
        for split in 0..text.len() {
            let items = parse(1024, &[&text[..split], &text[split..]]);
            assert_eq!(items.len(), 2, "split at {split}: {items:?}");
            match &items[0] {
                Item::Event { event, name } => {
                    assert_eq!(event["type"], "TipsUpdated");
                    assert_eq!(name.as_deref(), Some("tips.update"));
                }
                other => panic!("{other:?}"),
            }
            match &items[1] {
                Item::Event { event, .. } => assert_eq!(event["type"], "X"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn bad_frames_are_classified_and_the_stream_goes_on() {
        let big = format!("data: {}\n\n", "x".repeat(5000));
        let items = parse(
            100,
            &[
                b"data: nope\n\n",
                b"data: [1]\n\n",
                big.as_bytes(),
                b"id: 1-2\n\n",
                b"data: {\"type\":\"A\",\"data\":{}}\n\n",
            ],
        );
        let reasons: Vec<_> = items
            .iter()
            .map(|i| match i {
                Item::Bad { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect();
        assert_eq!(
            reasons,
            [
                Some(BadFrame::NotJson),
                Some(BadFrame::BadEvent),
                Some(BadFrame::Oversize),
                None
            ]
        );
    }

    #[test]
    fn an_oversize_line_is_not_buffered() {
        let mut parser = Parser::new(100);
        let mut out = VecDeque::new();
        parser.feed(b"data: ", &mut out);
        for _ in 0..1000 {
            parser.feed(&[b'x'; 1000], &mut out);
        }
        assert!(parser.line.capacity() < 4096, "{}", parser.line.capacity());
        parser.feed(b"\n\n", &mut out);
        assert!(matches!(
            out.pop_front(),
            Some(Item::Bad {
                reason: BadFrame::Oversize,
                ..
            })
        ));
    }
}
