//! `watershed rebuild read-models`: a fresh generation of the read models built from the whole
//! history beside the running system, then switched to (see `watershed_projectors::rebuild`).
//! It talks to the stores directly, like the projectors, so it runs wherever they could.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;
use watershed_domain::RebuildPhase;
use watershed_projectors::{ProjectorConfig, RebuildReport, Rebuilder};

use crate::adapters::PortUrls;

/// Events read from the history per page, each applied in one read-model transaction.
const PAGE_EVENTS: usize = 2_000;

pub async fn read_models(
    urls: &PortUrls,
    config: ProjectorConfig,
    grace: Duration,
    cancel: &CancellationToken,
) -> anyhow::Result<RebuildReport> {
    let events = urls.event_store.open().await?;
    let rebuilder = Rebuilder {
        history: events.history,
        feed: events.feed,
        store: events.store,
        generations: urls.read_model.generations().await?,
        config,
        page: PAGE_EVENTS,
        grace,
    };
    // Drawn on a terminal only: indicatif hides it when stderr is not one.
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "generation {prefix} {bar:40} {pos}/{len} events {per_sec} eta {eta} {msg}",
        )
        .expect("a valid progress template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let report = rebuilder
        .run(
            |rebuild| {
                bar.set_prefix(rebuild.generation.to_string());
                bar.set_length(rebuild.history_events);
                bar.set_position(rebuild.applied_events);
                bar.set_message(match rebuild.phase {
                    RebuildPhase::Building => "building",
                    RebuildPhase::CatchingUp => "switched, catching up",
                });
            },
            cancel,
        )
        .await;
    bar.finish_and_clear();
    Ok(report?)
}
