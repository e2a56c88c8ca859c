//! `/healthz`: the process is alive. `/readyz`: its stores answer.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use watershed_domain::ports::{EventStore, ReadModel};
use watershed_domain::DeviceId;

#[derive(Clone)]
struct Dependencies {
    store: Arc<dyn EventStore>,
    read_model: Arc<dyn ReadModel>,
}

pub fn router(store: Arc<dyn EventStore>, read_model: Arc<dyn ReadModel>) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(ready))
        .with_state(Dependencies { store, read_model })
}

async fn ready(State(deps): State<Dependencies>) -> (StatusCode, Json<Value>) {
    // Any stream answers; one that never exists costs the store a single point read.
    let probe = DeviceId::parse("readyz-probe").expect("a valid device id");
    let store = deps
        .store
        .stream_version(&probe)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    let read_model = deps.read_model.ping().await.map_err(|e| e.to_string());
    let check = |r: &Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!({ "error": e }),
    };
    let status = if store.is_ok() && read_model.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "event_store": check(&store), "read_model": check(&read_model) })),
    )
}
