//! The whole pipeline in one process on embedded storage (`watershed up`): command API, projector,
//! query API and dashboard on one address. `build` opens the stores and binds (port 0 allowed);
//! `run_until_stopped` serves until the shutdown future resolves, then drains.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use watershed_command_api::CommandState;
use watershed_domain::ports::{ChangeFeed, DeviceCache, EventBus, EventStore, LiveFeed, ReadModel};
use watershed_http_edge::{json::BODY_LIMIT, ApiTokens};
use watershed_infra::{
    BroadcastLiveFeed, MemoryDeviceCache, SqliteEventStore, SqliteReadModel, StoreTailBus,
};
use watershed_projectors::{Projector, ProjectorConfig, RawRetention};
use watershed_query_api::{LagSources, QueryState};

use crate::health;
use crate::web;

/// How long background work may take to finish after shutdown begins.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// What `up` needs; see `cli::UpArgs` for the flags and defaults.
#[derive(Debug, Clone)]
pub struct UpConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub web_dir: PathBuf,
    pub admin_token: String,
    pub read_token: String,
    pub raw_retention: chrono::Duration,
    /// Origins allowed to call the API from a browser (a separately hosted dashboard).
    pub cors_origins: Vec<String>,
}

impl UpConfig {
    /// A throwaway instance: a free loopback port, no dashboard, the given tokens. For tests and
    /// benchmarks that start their own Watershed.
    pub fn ephemeral(dir: &std::path::Path, admin_token: &str, read_token: &str) -> Self {
        Self {
            data_dir: dir.join("data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            web_dir: dir.join("no-dashboard"),
            admin_token: admin_token.to_owned(),
            read_token: read_token.to_owned(),
            raw_retention: chrono::Duration::hours(48),
            cors_origins: Vec::new(),
        }
    }
}

/// The embedded stores, opened. Also used by `migrate` and the benchmarks.
pub struct EmbeddedStores {
    pub events: Arc<SqliteEventStore>,
    pub read_model: Arc<SqliteReadModel>,
}

impl EmbeddedStores {
    pub const EVENTS_FILE: &'static str = "events.db";
    pub const READ_MODEL_FILE: &'static str = "read-model.db";

    /// Opens (creating and migrating) both stores under `data_dir`.
    pub async fn open(data_dir: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let events = SqliteEventStore::open(&data_dir.join(Self::EVENTS_FILE))
            .await
            .context("opening the event store")?;
        let read_model = SqliteReadModel::open(&data_dir.join(Self::READ_MODEL_FILE))
            .await
            .context("opening the read model")?;
        Ok(Self {
            events: Arc::new(events),
            read_model: Arc::new(read_model),
        })
    }
}

pub struct App {
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    background: Vec<JoinHandle<()>>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Watershed", description = "Event-sourced telemetry: ingest, device admin, reads, live updates"),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in ["admin_token", "read_token", "device_key"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

impl App {
    pub async fn build(config: UpConfig) -> anyhow::Result<Self> {
        let stores = EmbeddedStores::open(&config.data_dir).await?;
        let feed: Arc<dyn ChangeFeed> = stores.events.clone();
        let store: Arc<dyn EventStore> = stores.events;
        let read_model: Arc<dyn ReadModel> = stores.read_model;
        let cache: Arc<dyn DeviceCache> = Arc::new(MemoryDeviceCache::default());
        let live: Arc<dyn LiveFeed> = Arc::new(BroadcastLiveFeed::default());
        let bus: Arc<dyn EventBus> = Arc::new(StoreTailBus::new(feed));
        let tokens = ApiTokens::new(config.admin_token.clone(), config.read_token.clone());

        let shutdown = CancellationToken::new();
        let projector_config = ProjectorConfig {
            raw_retention: config.raw_retention,
            ..ProjectorConfig::default()
        };
        let lag = LagSources {
            relay: None,
            bus: Arc::clone(&bus),
            group: projector_config.group.clone(),
        };
        let projector = Projector {
            bus,
            read_model: Arc::clone(&read_model),
            cache: Arc::clone(&cache),
            live: Arc::clone(&live),
            config: projector_config,
        };
        let retention = RawRetention {
            read_model: Arc::clone(&read_model),
            keep: config.raw_retention,
            every: Duration::from_secs(300),
        };
        let background = vec![
            tokio::spawn({
                let shutdown = shutdown.clone();
                async move {
                    if let Err(e) = projector.run(shutdown.clone()).await {
                        tracing::error!(error = %e, "projector stopped");
                    }
                }
            }),
            tokio::spawn(retention.run(shutdown.clone())),
        ];

        let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
            .merge(watershed_command_api::router(CommandState::new(
                Arc::clone(&store),
                tokens.clone(),
            )))
            .merge(watershed_query_api::router(QueryState {
                store: Arc::clone(&store),
                read_model: Arc::clone(&read_model),
                cache,
                live,
                lag,
                tokens,
                shutdown: shutdown.clone(),
            }))
            .split_for_parts();
        let router = api
            .route("/openapi.json", get(move || async move { Json(openapi) }))
            .merge(health::router(store, read_model))
            .method_not_allowed_fallback(watershed_http_edge::error::method_not_allowed)
            .fallback_service(web::router(&config.web_dir))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(cors(&config.cors_origins)?)
            .layer(TraceLayer::new_for_http());

        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        Ok(Self {
            listener,
            router,
            shutdown,
            background,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has a local address")
    }

    /// Serves until `signal` resolves, then stops accepting, lets requests in flight finish, and
    /// stops the projector (a batch it had not committed is delivered again on the next start).
    pub async fn run_until_stopped(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            signal.await;
            shutdown.cancel();
        });
        // A client that never closes its connection must not keep the process alive.
        let deadline = async {
            self.shutdown.cancelled().await;
            tokio::time::sleep(DRAIN_DEADLINE).await;
        };
        let served = tokio::select! {
            served = server => served,
            _ = deadline => {
                tracing::warn!("connections still open after the drain deadline; closing them");
                Ok(())
            }
        };
        self.shutdown.cancel();
        let drained =
            tokio::time::timeout(DRAIN_DEADLINE, futures::future::join_all(self.background)).await;
        if drained.is_err() {
            tracing::warn!("background tasks did not stop within the deadline");
        }
        served.context("serving HTTP")
    }
}

fn cors(origins: &[String]) -> anyhow::Result<CorsLayer> {
    let layer = CorsLayer::new()
        .allow_methods(tower_http::cors::Any)
        .allow_headers(tower_http::cors::Any);
    if origins.iter().any(|o| o == "*") {
        return Ok(layer.allow_origin(tower_http::cors::Any));
    }
    let list = origins
        .iter()
        .map(|o| HeaderValue::from_str(o).with_context(|| format!("CORS origin {o:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(layer.allow_origin(AllowOrigin::list(list)))
}
