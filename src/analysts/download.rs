//! A history download from a running Watershed (`GET /v1/history`), page by page: each page is
//! the event lines above a checkpoint line, handed over only once its checkpoint arrived, so a
//! consumer never acts on events a broken download may send again.

use anyhow::Context;
use bytes::{Buf, BytesMut};
use futures::StreamExt;
use reqwest::StatusCode;
use watershed_query_api::{Checkpoint, BACKLOG_HEADER};

use super::HistoryArgs;

/// The event lines of one page, exactly as the server sent them, and the checkpoint after them.
pub struct Page {
    /// Whole lines, each ending in a newline.
    pub lines: BytesMut,
    pub events: usize,
    pub checkpoint: Checkpoint,
}

pub struct Download {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: BytesMut,
    /// Events of the store after the resume point, when the server could tell.
    pub backlog: Option<u64>,
    finished: bool,
}

impl Download {
    /// Starts a download with `args`' filters, after `resume` (a checkpoint's token) if given.
    pub async fn start(
        args: &HistoryArgs,
        filters: &[(&str, String)],
        resume: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut query: Vec<(&str, String)> = filters.to_vec();
        query.extend(args.device.iter().map(|d| ("device", d.clone())));
        if let Some(token) = resume {
            query.push(("resume", token.to_owned()));
        }
        let url = format!("{}/v1/history", args.api.trim_end_matches('/'));
        let response = reqwest::Client::new()
            .get(&url)
            .query(&query)
            .bearer_auth(&args.token)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = response.status();
        if status != StatusCode::OK {
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!("GET {url}: {status}: {body}");
        }
        let backlog = response
            .headers()
            .get(BACKLOG_HEADER)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        Ok(Self {
            body: response.bytes_stream().boxed(),
            buffer: BytesMut::new(),
            backlog,
            finished: false,
        })
    }

    /// The next page; `None` after the page whose checkpoint says `complete`. A download cut
    /// short is an error: the caller resumes from the last checkpoint it handled.
    pub async fn next_page(&mut self) -> anyhow::Result<Option<Page>> {
        if self.finished {
            return Ok(None);
        }
        // The page's event lines stay in the buffer, counted, until its checkpoint arrives;
        // then they leave it in one piece, uncopied.
        let mut line_start = 0;
        let mut events = 0;
        loop {
            while let Some(end) = memchr::memchr(b'\n', &self.buffer[line_start..]) {
                let line_end = line_start + end + 1;
                // The server writes checkpoints with this key first; events start with
                // `specversion`.
                if self.buffer[line_start..].starts_with(b"{\"resume_token\"") {
                    let lines = self.buffer.split_to(line_start);
                    let line = self.buffer.split_to(line_end - line_start);
                    let checkpoint: Checkpoint =
                        serde_json::from_slice(&line).context("a malformed checkpoint line")?;
                    self.finished = checkpoint.complete;
                    return Ok(Some(Page {
                        lines,
                        events,
                        checkpoint,
                    }));
                }
                events += 1;
                line_start = line_end;
            }
            match self.body.next().await {
                Some(chunk) => {
                    let chunk = chunk.context("the history download broke off")?;
                    self.buffer.extend_from_slice(chunk.chunk());
                }
                None => anyhow::bail!("the history download ended without its last checkpoint"),
            }
        }
    }
}
