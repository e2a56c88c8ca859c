//! Generations of the read models. A rebuild fills a fresh generation from the whole history
//! while the current one keeps answering, then one record names the new one current: every
//! process follows that record, so the switch is one write. The record also tells `/v1/status`
//! how a rebuild is going.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A rebuild that has not reported for this long is taken to be dead: another may take over.
pub const REBUILD_STALE_AFTER: Duration = Duration::seconds(30);

/// Which generation answers, and what rebuilding is going on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generations {
    /// The generation queries read and projectors write.
    pub current: u32,
    /// The rebuild in progress, if any.
    pub rebuild: Option<Rebuild>,
    /// The last rebuild that switched.
    pub last_rebuild: Option<FinishedRebuild>,
}

impl Default for Generations {
    /// Before any rebuild: the read models as first created.
    fn default() -> Self {
        Self {
            current: 1,
            rebuild: None,
            last_rebuild: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rebuild {
    /// The generation being built.
    pub generation: u32,
    pub phase: RebuildPhase,
    /// Events applied to the new generation so far.
    pub applied_events: u64,
    /// Events in the history when the rebuild last counted, for a progress estimate.
    pub history_events: u64,
    pub started_at: DateTime<Utc>,
    /// When the rebuild last reported; a stale one may be taken over.
    pub heartbeat_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RebuildPhase {
    /// Filling the new generation from the history; the current one answers.
    Building,
    /// Switched: the new generation answers, and the rebuild applies the tail the projectors may
    /// not have written to it yet, before retiring the old one.
    CatchingUp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishedRebuild {
    pub generation: u32,
    pub applied_events: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebuildRefused {
    #[error("generation {generation} is being rebuilt (last report {heartbeat_at}); wait for it, or for it to go quiet for {}s", REBUILD_STALE_AFTER.num_seconds())]
    Running {
        generation: u32,
        heartbeat_at: DateTime<Utc>,
    },
    #[error("no rebuild of generation {0} is in progress here: another took over")]
    NotOurs(u32),
}

impl Generations {
    /// Starts rebuilding into a generation newer than any that exists (`existing`, which a
    /// crashed rebuild may have left behind). A live rebuild is refused; a stale one is replaced.
    pub fn begin_rebuild(
        &self,
        existing: &[u32],
        history_events: u64,
        now: DateTime<Utc>,
    ) -> Result<Self, RebuildRefused> {
        if let Some(running) = &self.rebuild {
            if now - running.heartbeat_at < REBUILD_STALE_AFTER {
                return Err(RebuildRefused::Running {
                    generation: running.generation,
                    heartbeat_at: running.heartbeat_at,
                });
            }
        }
        let newest = existing
            .iter()
            .copied()
            .chain([self.current])
            .chain(self.rebuild.as_ref().map(|r| r.generation))
            .max()
            .unwrap_or(self.current);
        Ok(Self {
            rebuild: Some(Rebuild {
                generation: newest + 1,
                phase: RebuildPhase::Building,
                applied_events: 0,
                history_events,
                started_at: now,
                heartbeat_at: now,
            }),
            ..self.clone()
        })
    }

    /// The rebuild of `generation`, if it is still the one in progress.
    fn ours(&self, generation: u32) -> Result<&Rebuild, RebuildRefused> {
        self.rebuild
            .as_ref()
            .filter(|r| r.generation == generation)
            .ok_or(RebuildRefused::NotOurs(generation))
    }

    /// Records how far the rebuild of `generation` has come.
    pub fn progressed(
        &self,
        generation: u32,
        applied_events: u64,
        history_events: u64,
        now: DateTime<Utc>,
    ) -> Result<Self, RebuildRefused> {
        let rebuild = self.ours(generation)?;
        Ok(Self {
            rebuild: Some(Rebuild {
                applied_events,
                history_events: history_events.max(applied_events),
                heartbeat_at: now,
                ..rebuild.clone()
            }),
            ..self.clone()
        })
    }

    /// Makes the rebuilt generation current; the rebuild goes on catching up.
    pub fn switched(&self, generation: u32, now: DateTime<Utc>) -> Result<Self, RebuildRefused> {
        let rebuild = self.ours(generation)?;
        Ok(Self {
            current: generation,
            rebuild: Some(Rebuild {
                phase: RebuildPhase::CatchingUp,
                heartbeat_at: now,
                ..rebuild.clone()
            }),
            last_rebuild: self.last_rebuild.clone(),
        })
    }

    /// Ends the rebuild of `generation`, which must already be current.
    pub fn finished(&self, generation: u32, now: DateTime<Utc>) -> Result<Self, RebuildRefused> {
        let rebuild = self
            .ours(generation)
            .ok()
            .filter(|_| self.current == generation)
            .ok_or(RebuildRefused::NotOurs(generation))?;
        Ok(Self {
            current: generation,
            rebuild: None,
            last_rebuild: Some(FinishedRebuild {
                generation,
                applied_events: rebuild.applied_events,
                started_at: rebuild.started_at,
                finished_at: now,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).expect("a valid instant")
    }

    #[test]
    fn a_rebuild_goes_to_a_generation_newer_than_any_left_behind() {
        let started = Generations::default()
            .begin_rebuild(&[1, 4], 10, at(0))
            .expect("nothing runs");
        let rebuild = started.rebuild.as_ref().expect("a rebuild is recorded");
        assert_eq!((started.current, rebuild.generation), (1, 5));
        assert_eq!(rebuild.phase, RebuildPhase::Building);
    }

    #[test]
    fn a_live_rebuild_is_refused_and_a_stale_one_replaced() {
        let first = Generations::default()
            .begin_rebuild(&[1], 10, at(0))
            .expect("nothing runs");
        let refused = first.begin_rebuild(&[1, 2], 10, at(29));
        assert!(
            matches!(refused, Err(RebuildRefused::Running { generation: 2, .. })),
            "{refused:?}"
        );
        let replaced = first
            .begin_rebuild(&[1, 2], 10, at(30))
            .expect("the first went quiet");
        assert_eq!(replaced.rebuild.map(|r| r.generation), Some(3));
    }

    #[test]
    fn switching_and_finishing_make_the_new_generation_current_and_remember_the_rebuild() {
        let started = Generations::default()
            .begin_rebuild(&[1], 10, at(0))
            .expect("nothing runs");
        let going = started.progressed(2, 7, 12, at(5)).expect("ours");
        assert_eq!(going.rebuild.as_ref().map(|r| r.applied_events), Some(7));
        let switched = going.switched(2, at(6)).expect("ours");
        assert_eq!(switched.current, 2);
        assert_eq!(
            switched.rebuild.as_ref().map(|r| r.phase),
            Some(RebuildPhase::CatchingUp)
        );
        let done = switched.finished(2, at(9)).expect("ours");
        assert_eq!(done.rebuild, None);
        assert_eq!(
            done.last_rebuild,
            Some(FinishedRebuild {
                generation: 2,
                applied_events: 7,
                started_at: at(0),
                finished_at: at(9)
            })
        );
    }

    #[test]
    fn a_rebuild_that_was_taken_over_cannot_report_switch_or_finish() {
        let started = Generations::default()
            .begin_rebuild(&[1], 10, at(0))
            .expect("nothing runs");
        let taken = started.begin_rebuild(&[1, 2], 10, at(60)).expect("stale");
        assert_eq!(
            taken.progressed(2, 1, 1, at(61)),
            Err(RebuildRefused::NotOurs(2))
        );
        assert_eq!(taken.switched(2, at(61)), Err(RebuildRefused::NotOurs(2)));
        assert_eq!(taken.finished(3, at(61)), Err(RebuildRefused::NotOurs(3)));
    }
}
