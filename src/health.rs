//! `/healthz`: the process is alive. `/readyz`: the stores its roles depend on answer. The cache is
//! not among them: without Redis the query API still answers from the read model.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use watershed_domain::ports::{EventStore, ReadModel};
use watershed_domain::DeviceId;

/// The dependencies `/readyz` checks, by the name it reports them under.
#[derive(Clone, Default)]
pub struct Readiness {
    event_store: Option<Arc<dyn EventStore>>,
    read_model: Option<Arc<dyn ReadModel>>,
}

impl Readiness {
    pub fn event_store(&mut self, store: Arc<dyn EventStore>) {
        self.event_store = Some(store);
    }

    pub fn read_model(&mut self, read_model: Arc<dyn ReadModel>) {
        self.read_model = Some(read_model);
    }

    pub fn router(self) -> Router {
        Router::new()
            .route(
                "/healthz",
                get(|| async { Json(json!({ "status": "ok" })) }),
            )
            .route("/readyz", get(ready))
            .with_state(self)
    }
}

async fn ready(State(deps): State<Readiness>) -> (StatusCode, Json<Value>) {
    let mut checks: Vec<(&str, Result<(), String>)> = Vec::new();
    if let Some(store) = &deps.event_store {
        // Any stream answers; one that never exists costs the store a single point read.
        let probe = DeviceId::parse("readyz-probe").expect("a valid device id");
        let outcome = store.stream_version(&probe).await;
        checks.push((
            "event_store",
            outcome.map(|_| ()).map_err(|e| e.to_string()),
        ));
    }
    if let Some(read_model) = &deps.read_model {
        let outcome = read_model.ping().await;
        checks.push(("read_model", outcome.map_err(|e| e.to_string())));
    }
    let status = if checks.iter().all(|(_, r)| r.is_ok()) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body: Map<String, Value> = checks
        .into_iter()
        .map(|(name, r)| {
            let value = match r {
                Ok(()) => json!("ok"),
                // Anyone may ask; the reason (host names, driver messages) goes to the log only.
                Err(e) => {
                    tracing::warn!(dependency = name, error = %e, "not ready");
                    json!("unavailable")
                }
            };
            (name.to_owned(), value)
        })
        .collect();
    (status, Json(Value::Object(body)))
}
