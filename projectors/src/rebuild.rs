//! Rebuilding the read models without downtime. A fresh generation is filled from the whole
//! history while the current one keeps answering and the projectors keep feeding it. Once the
//! rebuild has read to the end of the history, one write of the generations record makes the
//! new generation current; every process follows within a second (`GenerationalReadModel`).
//! For a grace period after that the rebuild goes on applying the history's tail, beside the
//! projectors, which have moved over: the stream positions make whichever applies an event
//! first the only one, and a projector that finds events missing in front of its batch reads
//! them from the store. Then the old generation is removed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use watershed_domain::ports::{
    ChangeFeed, EventHistory, EventStore, FeedCursor, ReadModelError, ReadModelGenerations,
    StoreError,
};
use watershed_domain::{Generations, HistoryFilter, Rebuild, RebuildRefused, RecordedEvent};

use crate::apply::Applier;
use crate::retry::RetryPolicy;
use crate::runner::{ProjectorConfig, ProjectorError};

/// Events counted for the progress estimate at most; a store that counts by reading (Cosmos
/// DB) pays for this once per rebuild.
const HISTORY_COUNT_CAP: usize = 1_000_000;

/// How often the rebuild reports to the record: well within `REBUILD_STALE_AFTER`.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// Tries of one page before the rebuild gives up on it.
const PAGE_TRIES: u32 = 8;

pub struct Rebuilder {
    pub history: Arc<dyn EventHistory>,
    pub feed: Arc<dyn ChangeFeed>,
    pub store: Arc<dyn EventStore>,
    pub generations: Arc<dyn ReadModelGenerations>,
    /// Raw retention and poison policy: the same as the projectors', or the answers differ.
    pub config: ProjectorConfig,
    /// Events read from the history per page.
    pub page: usize,
    /// How long the rebuild applies the tail after switching: longer than processes take to
    /// follow the record.
    pub grace: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Refused(#[from] RebuildRefused),
    #[error(
        "the generations record changed under the rebuild of generation {0}: another took over"
    )]
    TakenOver(u32),
    #[error("stopped before the switch; generation {0} was removed and the current one answers")]
    Cancelled(u32),
    #[error(transparent)]
    ReadModel(#[from] ReadModelError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Projector(#[from] ProjectorError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub generation: u32,
    pub replaced: u32,
    /// Events the rebuild applied itself (the projectors applied the rest of the tail).
    pub applied_events: u64,
}

/// The record as this rebuild last wrote it, written again only where it still is that.
struct Record<'a> {
    generations: &'a dyn ReadModelGenerations,
    last: Generations,
}

impl Record<'_> {
    async fn replace(&mut self, new: Generations, generation: u32) -> Result<(), RebuildError> {
        if !self.generations.replace(&self.last, &new).await? {
            return Err(RebuildError::TakenOver(generation));
        }
        self.last = new;
        Ok(())
    }

    fn rebuild(&self) -> Option<&Rebuild> {
        self.last.rebuild.as_ref()
    }
}

impl Rebuilder {
    /// Builds, switches, catches up and retires the old generation. `progress` hears about every
    /// page. Cancelled before the switch, the new generation is removed and nothing changed.
    pub async fn run(
        &self,
        mut progress: impl FnMut(&Rebuild),
        cancel: &CancellationToken,
    ) -> Result<RebuildReport, RebuildError> {
        let existing = self.generations.existing().await?;
        let counted = self
            .feed
            .backlog(&FeedCursor::default(), HISTORY_COUNT_CAP)
            .await?
            .events;
        let loaded = self.generations.load().await?;
        let begun = loaded.begin_rebuild(&existing, counted, Utc::now())?;
        let generation = begun.rebuild.as_ref().map_or(0, |r| r.generation);
        let replaced = loaded.current;
        let mut record = Record {
            generations: &*self.generations,
            last: loaded,
        };
        record.replace(begun, generation).await?;
        // What a rebuild that died left behind, and any generation retired but not removed.
        for leftover in existing.into_iter().filter(|&g| g != replaced) {
            tracing::info!(
                generation = leftover,
                "removing a read-model generation left behind"
            );
            self.generations.remove(leftover).await?;
        }
        let applier = Applier::new(
            self.generations.open(generation).await?,
            Some(Arc::clone(&self.store)),
            &self.config,
        );
        let mut reader = HistoryReader {
            rebuilder: self,
            applier: &applier,
            cursor: FeedCursor::default(),
            applied: 0,
            reported: Instant::now(),
        };

        tracing::info!(
            generation,
            "building a read-model generation from the history"
        );
        loop {
            if cancel.is_cancelled() {
                let abandoned = Generations {
                    rebuild: None,
                    ..record.last.clone()
                };
                record.replace(abandoned, generation).await?;
                self.generations.remove(generation).await?;
                return Err(RebuildError::Cancelled(generation));
            }
            let at_end = reader.next_page(&mut record, generation).await?;
            reader.show(&record, &mut progress);
            if at_end {
                break;
            }
        }

        let switched = record.last.switched(generation, Utc::now())?;
        record.replace(switched, generation).await?;
        tracing::info!(
            generation,
            replaced,
            "switched read-model generation; catching up"
        );
        let until = Instant::now() + self.grace;
        loop {
            let at_end = reader.next_page(&mut record, generation).await?;
            reader.show(&record, &mut progress);
            if at_end {
                if Instant::now() >= until {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let finished = record.last.finished(generation, Utc::now())?;
        record.replace(finished, generation).await?;
        self.generations.remove(replaced).await?;
        tracing::info!(
            generation,
            replaced,
            "the old read-model generation is removed"
        );
        Ok(RebuildReport {
            generation,
            replaced,
            applied_events: reader.applied,
        })
    }
}

/// Reads the history page by page into the new generation.
struct HistoryReader<'a> {
    rebuilder: &'a Rebuilder,
    applier: &'a Applier,
    cursor: FeedCursor,
    applied: u64,
    reported: Instant,
}

impl HistoryReader<'_> {
    /// Applies the next page; returns whether the history ended there.
    async fn next_page(
        &mut self,
        record: &mut Record<'_>,
        generation: u32,
    ) -> Result<bool, RebuildError> {
        let page = self
            .rebuilder
            .history
            .read_history(&HistoryFilter::default(), &self.cursor, self.rebuilder.page)
            .await?;
        self.apply(&page.events).await?;
        self.applied += page.events.len() as u64;
        self.cursor = page.next;
        // At the end of the history the count is reported at once, if it moved: the switch and
        // the finish carry the last one reported, while the tail is polled every 100 ms.
        let behind = record.rebuild().map(|r| r.applied_events) != Some(self.applied);
        if self.reported.elapsed() >= REPORT_EVERY || (page.at_end && behind) {
            let history = record.rebuild().map_or(0, |r| r.history_events);
            let progressed =
                record
                    .last
                    .progressed(generation, self.applied, history, Utc::now())?;
            record.replace(progressed, generation).await?;
            self.reported = Instant::now();
        }
        Ok(page.at_end)
    }

    /// Tells `progress` where the rebuild stands, with the count of this very page (the record
    /// has it only once a second).
    fn show(&self, record: &Record<'_>, progress: &mut impl FnMut(&Rebuild)) {
        if let Some(rebuild) = record.rebuild() {
            progress(&Rebuild {
                applied_events: self.applied,
                history_events: rebuild.history_events.max(self.applied),
                ..rebuild.clone()
            });
        }
    }

    /// One page, tried again on what waiting can mend: an unavailable store or read model, or a
    /// projector that applied some of it first (after the switch).
    async fn apply(&self, events: &[RecordedEvent]) -> Result<(), RebuildError> {
        let retry = RetryPolicy::default();
        let mut wait = retry.first;
        let mut tries = 1;
        loop {
            match self.applier.apply(events).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_transient() && tries < PAGE_TRIES => {
                    tracing::debug!(error = %e, "a rebuild page failed; trying again");
                    tokio::time::sleep(wait).await;
                    wait = retry.next(wait);
                    tries += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
