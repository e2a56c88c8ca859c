//! Progress bars of the command-line tools: rate and ETA on a terminal, nothing at all when
//! stderr is not one (indicatif hides itself then), so piped and logged runs stay clean.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// What a bar counts.
#[derive(Debug, Clone, Copy)]
pub enum Counting {
    EventsRead,
    BytesSent,
    BytesReceived,
}

impl Counting {
    fn template(self) -> &'static str {
        match self {
            Self::EventsRead => "{bar:40} {pos}/{len} events read {per_sec} eta {eta} {msg}",
            Self::BytesSent => {
                "{bar:40} {bytes}/{total_bytes} sent {bytes_per_sec} eta {eta} {msg}"
            }
            Self::BytesReceived => {
                "{bar:40} {bytes}/{total_bytes} received {bytes_per_sec} eta {eta} {msg}"
            }
        }
    }
}

/// A bar up to `total`, or a spinner when the total is not known.
pub fn bar(total: Option<u64>, counting: Counting) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template(counting.template()).expect("a valid progress template"),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
