//! Assembles Watershed from its roles (command API, relay, projectors, query API) and the adapters
//! the port URLs name. `watershed up` runs every role in one process; each role target runs one.
//! `build` opens what the roles need and binds (port 0 allowed); `run_until_stopped` serves until
//! the shutdown future resolves, then drains.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::middleware;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use watershed_command_api::{CommandState, Limiter, MqttGateway};
use watershed_domain::limits::LimitPolicy;
use watershed_domain::ports::Notifications;
use watershed_domain::{Backoff, ModelRuntime, PoisonPolicy, RuleSpec};
use watershed_http_edge::{json::BODY_LIMIT, limits, ApiToken, ApiTokens, RequestLimits};
use watershed_infra::{SplunkHec, TractRuntime, WebhookClient};
use watershed_projectors::{
    AlertConfig, AlertEvaluator, AlertWatch, DeadLetterDesk, DispatchConfig, Dispatcher, Notifier,
    NotifierConfig, Projector, ProjectorConfig, RawRetention, Relay, RelayConfig, RuleFollower,
    SinkRunner,
};
use watershed_query_api::{LagSources, QueryState};

use crate::adapters::{Bus, BusUrl, Cache, Events, PortUrls, ReadModels, UsageCounters};
use crate::alert_actions::{self, AlertActionState};
use crate::alert_rules::{self, RuleState};
use crate::dead_letters::{self, DeadLetterState};
use crate::health::Readiness;
use crate::prometheus;
use crate::sinks::SplunkSink;
use crate::web;
use crate::webhooks::{self, WebhookState};

/// How long background work may take to finish after shutdown begins.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// The parts of the pipeline one process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub command_api: bool,
    pub relay: bool,
    pub projectors: bool,
    pub query_api: bool,
    /// Forwarding the bus to the configured sinks (Splunk).
    pub sinks: bool,
}

impl Roles {
    pub const ALL: Self = Self {
        command_api: true,
        relay: true,
        projectors: true,
        query_api: true,
        sinks: true,
    };
    pub const NONE: Self = Self {
        command_api: false,
        relay: false,
        projectors: false,
        query_api: false,
        sinks: false,
    };

    /// Projectors read events from the store on the embedded bus, append alerts to it, and read
    /// from it the events a read model lacks (a rebuilt generation behind the bus).
    fn need_events(self, bus: &BusUrl) -> bool {
        self.command_api
            || self.relay
            || self.query_api
            || self.projectors
            || (self.sinks && !bus.is_relayed())
    }

    fn need_read_side(self) -> bool {
        self.projectors || self.query_api
    }
}

/// What a process needs; see `cli` for the flags and defaults.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub roles: Roles,
    pub ports: PortUrls,
    pub listen: SocketAddr,
    /// The devices' MQTT gateway, served with the command API when given.
    pub mqtt_listen: Option<SocketAddr>,
    /// The built dashboard, served with the query API.
    pub web_dir: PathBuf,
    pub admin_token: ApiToken,
    pub read_token: ApiToken,
    /// Reads the whole history; without one, only the admin token does.
    pub analyst_token: Option<ApiToken>,
    pub raw_retention: chrono::Duration,
    /// The projectors' consumer group: one per set of read models fed from the bus.
    pub consumer_group: String,
    /// Origins allowed to call the API from a browser (a separately hosted dashboard).
    pub cors_origins: Vec<String>,
    /// Imported into the rules stream at start (created, or replaced when they differ); the
    /// projectors evaluate the stream's rules, changed through the API.
    pub alert_rules: Vec<RuleSpec>,
    /// Ingest limits per device kind (and the default); devices may have their own.
    pub device_limits: Arc<LimitPolicy>,
    pub limits: Limits,
    /// What the projectors do with an event they cannot apply.
    pub poison: PoisonPolicy,
    /// Forwarded by the `sinks` role; none by default.
    pub splunk: Option<SplunkSink>,
    pub webhooks: WebhookSettings,
}

/// How alert webhooks are sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WebhookSettings {
    /// One attempt's deadline: a receiver slower than this counts as failed, and is tried again.
    pub timeout: Duration,
    pub backoff: Backoff,
}

impl WebhookSettings {
    pub const DEFAULT: Self = Self {
        timeout: Duration::from_secs(10),
        backoff: Backoff::DEFAULT,
    };
}

/// How much one process takes on before it refuses with 503 (see README, "Overload").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// API requests being answered at once.
    pub max_in_flight: usize,
    /// Connected live-stream clients.
    pub max_live_clients: usize,
    /// To produce a response, and separately to receive a request body.
    pub request_timeout: Duration,
    /// Distinct sensors one device may report in all; each grows every device listing.
    pub max_sensors_per_device: usize,
}

impl Limits {
    pub const DEFAULT: Self = Self {
        max_in_flight: 512,
        max_live_clients: 256,
        request_timeout: Duration::from_secs(30),
        max_sensors_per_device: 1000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl AppConfig {
    /// A throwaway `up`: embedded storage under `dir`, a free loopback port, no dashboard, the given
    /// tokens. For tests and benchmarks that start their own Watershed.
    pub fn ephemeral(dir: &std::path::Path, admin_token: &str, read_token: &str) -> Self {
        Self {
            roles: Roles::ALL,
            ports: PortUrls::embedded(&dir.join("data")),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            mqtt_listen: None,
            web_dir: dir.join("no-dashboard"),
            admin_token: ApiToken::parse("admin", admin_token)
                .expect("a test's admin token is valid"),
            read_token: ApiToken::parse("read", read_token).expect("a test's read token is valid"),
            analyst_token: None,
            raw_retention: chrono::Duration::hours(48),
            consumer_group: ProjectorConfig::default().group,
            cors_origins: Vec::new(),
            alert_rules: Vec::new(),
            device_limits: Arc::default(),
            limits: Limits::default(),
            poison: PoisonPolicy::Stop,
            splunk: None,
            webhooks: WebhookSettings::DEFAULT,
        }
    }
}

/// The adapters a process's roles use, opened. Tests may open some themselves (an in-memory
/// Cosmos DB emulator shared by two processes' worth of roles) and hand them in.
#[derive(Clone, Default)]
pub struct Ports {
    pub events: Option<Events>,
    pub bus: Option<Bus>,
    pub read_model: Option<ReadModels>,
    pub cache: Option<Cache>,
    pub notifications: Option<Arc<dyn Notifications>>,
    pub usage: Option<UsageCounters>,
}

impl Ports {
    /// Opens, in `given`'s place where it has none, every adapter `config.roles` needs.
    pub async fn open(config: &AppConfig, given: Ports) -> anyhow::Result<Self> {
        let roles = config.roles;
        let urls = &config.ports;
        let events = match given.events {
            Some(events) => Some(events),
            None if roles.need_events(&urls.bus) => Some(urls.event_store.open().await?),
            None => None,
        };
        let bus = match given.bus {
            Some(bus) => Some(bus),
            None if roles.relay || roles.sinks || roles.need_read_side() => {
                let feed = events.as_ref().map(|e| Arc::clone(&e.feed));
                Some(urls.bus.open(feed.as_ref(), roles.relay).await?)
            }
            None => None,
        };
        let read_model = match given.read_model {
            Some(rm) => Some(rm),
            None if roles.need_read_side() => Some(urls.read_model.open().await?),
            None => None,
        };
        let cache = match given.cache {
            Some(cache) => Some(cache),
            None if roles.need_read_side() => Some(urls.cache.open().await?),
            None => None,
        };
        // Webhook channels are managed with the query API and sent by the projectors, where
        // alerts are evaluated.
        let notifications = match given.notifications {
            Some(n) => Some(n),
            None if roles.query_api || roles.projectors => {
                Some(urls.read_model.notifications().await?)
            }
            None => None,
        };
        let usage = match given.usage {
            Some(usage) => Some(usage),
            None if roles.command_api => Some(urls.usage.open().await?),
            None => None,
        };
        Ok(Self {
            events,
            bus,
            read_model,
            cache,
            notifications,
            usage,
        })
    }
}

/// Runs background work that may stop for good; if it does, the whole process stops with the reason.
fn spawn_stopping_on_failure<E: std::fmt::Display>(
    what: &'static str,
    work: impl std::future::Future<Output = Result<(), E>> + Send + 'static,
    shutdown: &CancellationToken,
    failure: &Arc<OnceLock<String>>,
) -> AbortOnDropHandle<()> {
    let (shutdown, failure) = (shutdown.clone(), Arc::clone(failure));
    AbortOnDropHandle::new(tokio::spawn(async move {
        if let Err(e) = work.await {
            tracing::error!(error = %e, "{what} stopped");
            let _ = failure.set(format!("{what} stopped: {e}"));
            shutdown.cancel();
        }
    }))
}

fn required<T: Clone>(port: &Option<T>, what: &str) -> T {
    port.clone()
        .unwrap_or_else(|| panic!("Ports::open opens the {what} every enabled role needs"))
}

pub struct App {
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    /// Set by background work that stopped for good (a projection gap, say); the process then
    /// stops too, so that an orchestrator sees it and a person reads why.
    failure: Arc<OnceLock<String>>,
    /// Aborted when the app is dropped without a clean stop, as a killed process would stop them.
    background: Vec<AbortOnDropHandle<()>>,
    mqtt: Option<MqttGateway>,
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
        for name in ["admin_token", "read_token", "analyst_token", "device_key"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
        // The whole header: `SharedAccessSignature sr=…&sig=…&se=…` (`watershed token`).
        components.add_security_scheme(
            "device_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "a signed, expiring device token in IoT Hub's SAS format",
            ))),
        );
    }
}

impl App {
    /// Opens every adapter the roles need and binds.
    pub async fn build(config: AppConfig) -> anyhow::Result<Self> {
        Self::build_with(config, Ports::default()).await
    }

    /// As `build`, using the adapters `given` holds instead of opening those.
    pub async fn build_with(config: AppConfig, given: Ports) -> anyhow::Result<Self> {
        // The recorder first: what the adapters and workers register as they start (counters
        // at zero) would go nowhere before it.
        let metrics = prometheus::router();
        let ports = Ports::open(&config, given).await?;
        let roles = config.roles;
        let tokens = ApiTokens::with_analyst(
            config.admin_token.clone(),
            config.read_token.clone(),
            config.analyst_token.clone(),
        )?;
        let shutdown = CancellationToken::new();
        let failure = Arc::new(OnceLock::new());
        let mut background = Vec::new();
        let mut api = OpenApiRouter::with_openapi(ApiDoc::openapi());
        let mut readiness = Readiness::default();
        if let Some(events) = &ports.events {
            readiness.event_store(Arc::clone(&events.store));
            let imported = alert_rules::stream::import(&*events.store, &config.alert_rules)
                .await
                .context("importing the alert rules file")?;
            if imported > 0 {
                tracing::info!(rules = imported, "alert rules imported from the rules file");
            }
        }
        let models: Arc<dyn ModelRuntime> = Arc::new(TractRuntime);
        if let Some(read_model) = &ports.read_model {
            readiness.read_model(Arc::clone(&read_model.current));
        }

        let mut mqtt = None;
        if roles.command_api {
            let events = required(&ports.events, "event store");
            let usage = required(&ports.usage, "usage counter");
            if let Some(saver) = usage.saver {
                background.push(spawn_stopping_on_failure(
                    "saving device usage",
                    saver.run(shutdown.clone()),
                    &shutdown,
                    &failure,
                ));
            }
            let limiter = Limiter {
                policy: Arc::clone(&config.device_limits),
                counter: usage.counter,
            };
            let commands = CommandState::new(
                events.store,
                tokens.clone(),
                config.limits.max_sensors_per_device,
                limiter,
            );
            if let Some(address) = config.mqtt_listen {
                let listener = std::net::TcpListener::bind(address)
                    .with_context(|| format!("binding MQTT to {address}"))?;
                mqtt = Some(
                    MqttGateway::start(commands.clone(), listener)
                        .await
                        .context("starting the MQTT gateway")?,
                );
            }
            api = api.merge(watershed_command_api::router(commands));
        } else if config.mqtt_listen.is_some() {
            anyhow::bail!("MQTT is served by the command API: --mqtt-listen needs that role");
        }
        if roles.relay {
            let events = required(&ports.events, "event store");
            match required(&ports.bus, "bus").publisher {
                Some(publisher) => {
                    let relay = Relay {
                        feed: events.feed,
                        publisher,
                        config: RelayConfig::default(),
                    };
                    background.push(AbortOnDropHandle::new(tokio::spawn(
                        relay.run(shutdown.clone()),
                    )));
                }
                // The embedded bus reads the change feed itself: nothing to relay.
                None if roles.projectors => {}
                None => anyhow::bail!(
                    "the relay publishes to Kafka: give --bus kafka://host:port/topic"
                ),
            }
        }
        let projector_config = ProjectorConfig {
            group: config.consumer_group.clone(),
            raw_retention: config.raw_retention,
            poison: config.poison,
            ..ProjectorConfig::default()
        };
        if roles.projectors {
            let bus = required(&ports.bus, "bus");
            let read_model = required(&ports.read_model, "read model").current;
            let cache = required(&ports.cache, "cache");
            let projector = Projector {
                bus: Arc::clone(&bus.bus),
                read_model: Arc::clone(&read_model),
                cache: cache.cache,
                live: cache.live,
                store: ports.events.as_ref().map(|e| Arc::clone(&e.store)),
                config: projector_config.clone(),
            };
            let retention = RawRetention {
                read_model: Arc::clone(&read_model),
                keep: config.raw_retention,
                every: Duration::from_secs(300),
            };
            background.push(spawn_stopping_on_failure(
                "the projector",
                projector.run(shutdown.clone()),
                &shutdown,
                &failure,
            ));
            background.push(AbortOnDropHandle::new(tokio::spawn(
                retention.run(shutdown.clone()),
            )));
            let store = required(&ports.events, "event store").store;
            let (follower, rules) = RuleFollower::new(
                Arc::clone(&store),
                Arc::clone(&models),
                Duration::from_secs(1),
            );
            background.push(AbortOnDropHandle::new(tokio::spawn(
                follower.run(shutdown.clone()),
            )));
            let alerts = AlertEvaluator {
                bus: Arc::clone(&bus.bus),
                store: Arc::clone(&store),
                rules: rules.clone(),
                config: AlertConfig::for_projector_group(&projector_config.group),
            };
            background.push(spawn_stopping_on_failure(
                "the alert evaluator",
                alerts.run(shutdown.clone()),
                &shutdown,
                &failure,
            ));
            let watch = AlertWatch {
                read_model: Arc::clone(&read_model),
                store,
                rules,
                every: Duration::from_secs(1),
            };
            background.push(AbortOnDropHandle::new(tokio::spawn(
                watch.run(shutdown.clone()),
            )));
            background.extend(notifying(
                &config,
                &projector_config.group,
                bus.bus,
                required(&ports.notifications, "notification store"),
                &shutdown,
                &failure,
            )?);
        }
        if let (true, Some(splunk)) = (roles.sinks, &config.splunk) {
            let sink = SinkRunner {
                bus: required(&ports.bus, "bus").bus,
                sink: Arc::new(SplunkHec::new(splunk.hec.clone())?),
                name: "splunk",
                config: splunk.runner.clone(),
            };
            tracing::info!(group = %splunk.runner.group, "forwarding events to Splunk HEC");
            background.push(spawn_stopping_on_failure(
                "the Splunk sink",
                sink.run(shutdown.clone()),
                &shutdown,
                &failure,
            ));
        }
        let mut router = Router::new().fallback(watershed_http_edge::error::not_found);
        if roles.query_api {
            let events = required(&ports.events, "event store");
            let bus = required(&ports.bus, "bus");
            let cache = required(&ports.cache, "cache");
            let relay = config.ports.bus.is_relayed().then(|| {
                (
                    Arc::clone(&events.feed),
                    RelayConfig::DEFAULT_NAME.to_owned(),
                )
            });
            let ReadModels {
                current: read_model,
                generations,
            } = required(&ports.read_model, "read model");
            api = api.merge(alert_actions::router(AlertActionState {
                store: Arc::clone(&events.store),
                read_model: Arc::clone(&read_model),
                tokens: tokens.clone(),
            }));
            api = api.merge(alert_rules::router(RuleState {
                store: Arc::clone(&events.store),
                runtime: Arc::clone(&models),
                tokens: tokens.clone(),
            }));
            api = api.merge(webhooks::router(WebhookState {
                store: required(&ports.notifications, "notification store"),
                tokens: tokens.clone(),
            }));
            api = api.merge(dead_letters::router(DeadLetterState {
                desk: Arc::new(DeadLetterDesk {
                    read_model: Arc::clone(&read_model),
                    cache: Arc::clone(&cache.cache),
                    store: Some(Arc::clone(&events.store)),
                    raw_retention: config.raw_retention,
                }),
                tokens: tokens.clone(),
            }));
            api = api.merge(watershed_query_api::router(QueryState {
                store: events.store,
                history: events.history,
                feed: events.feed,
                read_model,
                generations,
                cache: cache.cache,
                live: cache.live,
                lag: LagSources {
                    relay,
                    bus: bus.bus,
                    group: projector_config.group.clone(),
                },
                tokens,
                shutdown: shutdown.clone(),
                live_clients: Arc::new(tokio::sync::Semaphore::new(config.limits.max_live_clients)),
                downloads: Arc::new(tokio::sync::Semaphore::new(
                    watershed_query_api::MAX_DOWNLOADS,
                )),
            }));
            router = Router::new().fallback_service(web::router(&config.web_dir));
        }
        let (api, openapi) = api.split_for_parts();
        // Health checks stay outside the limits: an orchestrator must see a busy process alive.
        let limits = &config.limits;
        let api = api
            .layer(middleware::from_fn_with_state(
                RequestLimits::new(limits.max_in_flight, limits.request_timeout),
                limits::enforce,
            ))
            .layer(RequestBodyTimeoutLayer::new(limits.request_timeout));
        let mut router = router.merge(api).merge(readiness.router()).merge(metrics);
        if roles.command_api || roles.query_api {
            router = router.route("/openapi.json", get(move || async move { Json(openapi) }));
        }
        let router = router
            .method_not_allowed_fallback(watershed_http_edge::error::method_not_allowed)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(cors(&config.cors_origins)?)
            .layer(TraceLayer::new_for_http().make_span_with(request_span));

        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        Ok(Self {
            listener,
            router,
            shutdown,
            failure,
            background,
            mqtt,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has a local address")
    }

    /// Where the MQTT gateway listens, if it runs.
    pub fn mqtt_address(&self) -> Option<SocketAddr> {
        self.mqtt.as_ref().map(MqttGateway::address)
    }

    /// Serves until `signal` resolves, then stops accepting, lets requests in flight finish, and
    /// stops the projector (a batch it had not committed is delivered again on the next start).
    pub async fn run_until_stopped(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            tokio::select! {
                _ = signal => shutdown.cancel(),
                _ = shutdown.cancelled() => {}
            }
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
        if let Some(mqtt) = self.mqtt {
            if tokio::time::timeout(DRAIN_DEADLINE, mqtt.stop())
                .await
                .is_err()
            {
                tracing::warn!("the MQTT gateway did not stop within the deadline");
            }
        }
        let drained =
            tokio::time::timeout(DRAIN_DEADLINE, futures::future::join_all(self.background)).await;
        if drained.is_err() {
            tracing::warn!("background tasks did not stop within the deadline");
        }
        if let Some(failure) = self.failure.get() {
            anyhow::bail!("{failure}");
        }
        served.context("serving HTTP")
    }
}

/// The notifier, which turns alert events into deliveries in the outbox, and the dispatcher,
/// which sends them.
fn notifying(
    config: &AppConfig,
    projector_group: &str,
    bus: Arc<dyn watershed_domain::ports::EventBus>,
    store: Arc<dyn Notifications>,
    shutdown: &CancellationToken,
    failure: &Arc<OnceLock<String>>,
) -> anyhow::Result<[AbortOnDropHandle<()>; 2]> {
    let settings = config.webhooks;
    let enqueued = Arc::new(Notify::new());
    let notifier = Notifier {
        bus,
        store: Arc::clone(&store),
        config: NotifierConfig::for_projector_group(
            projector_group,
            settings.backoff.give_up_after,
        ),
        enqueued: Arc::clone(&enqueued),
    };
    let dispatcher = Dispatcher {
        store,
        transport: Arc::new(
            WebhookClient::new(settings.timeout).context("building the webhook client")?,
        ),
        config: DispatchConfig::with_timeout(settings.timeout, settings.backoff),
        enqueued,
    };
    Ok([
        spawn_stopping_on_failure(
            "the webhook notifier",
            notifier.run(shutdown.clone()),
            shutdown,
            failure,
        ),
        AbortOnDropHandle::new(tokio::spawn(dispatcher.run(shutdown.clone()))),
    ])
}

/// The span of one request: method and path, never the query string, which may carry the
/// live stream's `access_token`.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
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
