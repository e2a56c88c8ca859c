//! `/metrics` on every target: what the roles counted through the `metrics` facade, in the
//! Prometheus text format. One recorder per process, installed on first use; the roles' metrics
//! are named and described here, so an operator finds them all in one place.

use std::sync::OnceLock;

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Seconds buckets: an fsync'd append takes milliseconds, a stalled one seconds.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Appends per group commit: 1 when idle, up to the 512 the writer takes at once.
const APPENDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first call.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("watershed_group_commit_appends".to_owned()),
                        APPENDS,
                    )
                })
                .expect("bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
            }
            describe();
            handle
        })
        .clone()
}

pub fn router() -> Router {
    let handle = handle();
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                // Histograms are folded on read: no background task needed.
                handle.run_upkeep();
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }
        }),
    )
}

fn describe() {
    describe_counter!(
        "watershed_ingest_requests_total",
        "Ingest requests by outcome: accepted, replayed (a known batch id), refused (4xx), failed (5xx)"
    );
    describe_counter!(
        "watershed_ingest_readings_total",
        "Readings stored by ingest"
    );
    describe_histogram!(
        "watershed_ingest_seconds",
        Unit::Seconds,
        "Time to answer an ingest request, durable append included"
    );
    describe_histogram!(
        "watershed_group_commit_appends",
        "Appends per SQLite event-store transaction (one fsync)"
    );
    describe_histogram!(
        "watershed_group_commit_seconds",
        Unit::Seconds,
        "Time to write and fsync one group of appends"
    );
    describe_counter!(
        "watershed_group_commit_errors_total",
        "Event-store transactions that failed; every append in them was refused"
    );
    describe_counter!(
        "watershed_relay_published_events_total",
        "Events the relay published to the bus, confirmed"
    );
    describe_gauge!(
        "watershed_relay_backlog_events",
        "Events in the event store the relay has not published yet (counted up to 100 000)"
    );
    describe_counter!(
        "watershed_projector_events_total",
        "Events applied to the read models, by consumer group"
    );
    describe_counter!(
        "watershed_projector_readings_total",
        "Raw readings written to the read models, by consumer group"
    );
    describe_counter!(
        "watershed_projector_parked_events_total",
        "Events set aside as dead letters, by consumer group"
    );
    describe_counter!(
        "watershed_projector_errors_total",
        "Projection batches that failed and are being retried, by consumer group"
    );
    describe_gauge!(
        "watershed_projector_lag_seconds",
        Unit::Seconds,
        "Age of the newest event applied, when it was applied, by consumer group"
    );
    describe_counter!(
        "watershed_alert_evaluations_total",
        "Readings batches run through the alert rules"
    );
    describe_counter!(
        "watershed_alert_decisions_total",
        "Alerts raised or cleared, by event"
    );
    describe_counter!(
        "watershed_cache_lookups_total",
        "Device-cache lookups by result: hit, miss (the read model answered) or error"
    );
    describe_gauge!("watershed_live_clients", "Live-stream clients connected");
    describe_counter!(
        "watershed_history_events_sent_total",
        "Events streamed to analysts by GET /v1/history"
    );
    describe_counter!(
        "watershed_sink_events_total",
        "Events (or readings) forwarded to a sink, by sink and outcome: delivered or refused"
    );
}
