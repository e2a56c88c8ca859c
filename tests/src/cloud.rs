//! A cloud deployment for end-to-end tests, on the real servers `scripts/services` starts (tansu
//! for Kafka, PostgreSQL, Redis) and one in-memory Cosmos DB emulator. The command API, relay and
//! query API run in the test process (each with an emulator client of its own, as separate
//! processes would have); the projectors run as a child `watershed projectors` process, or in this
//! process when they append alerts to the emulated store.

use tokio::task::JoinHandle;
use watershed::adapters::{Events, PortUrls};
use watershed::app::{App, AppConfig, Ports, Roles};
use watershed_domain::RuleSpec;
use watershed_infra::{CosmosEmulator, KafkaConfig};

use crate::process::{spawn_watershed, Running};
use crate::servers::{fresh_postgres_database, redis_url, unique_kafka_url, unique_namespace};

pub const ADMIN: &str = "cloud-test-admin-token";
pub const READ: &str = "cloud-test-read-token";

/// One cloud deployment: its servers' URLs and consumer group, its event store, and the roles.
pub struct Cloud {
    /// The `watershed` binary the projectors run from.
    bin: &'static str,
    pub dir: tempfile::TempDir,
    /// Bus, read model, cache.
    pub urls: [String; 3],
    group: String,
    cosmos: CosmosEmulator,
    /// The front's event store: what the audit reads.
    pub events: Events,
    pub front: Served,
    relay: Served,
    /// The partitions each projectors process reads (`None`: all of them).
    shares: Vec<Option<&'static str>>,
    projectors: Vec<Running>,
    /// Projectors serving in this process instead (see `start_with_alert_rules`).
    in_process_projectors: Option<Served>,
}

/// An in-process `App` serving in a task; aborting the task drops the app, which aborts its
/// background work as a killed process would.
pub struct Served {
    pub base: String,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Cloud {
    /// Starts every role, with one projectors process; `bin` is the `watershed` binary (Cargo
    /// tells tests its path).
    pub async fn start(bin: &'static str) -> Self {
        Self::start_shared(bin, &[None]).await
    }

    /// As `start`, with one projectors process per share of the topic's 4 partitions
    /// (`Some("0-1")`), all in one consumer group.
    pub async fn start_shared(bin: &'static str, shares: &[Option<&'static str>]) -> Self {
        let mut cloud = Self::deploy(bin, shares).await;
        cloud.start_projectors().await;
        cloud
    }

    /// As `start`, with the projectors evaluating `rules`. They serve in this process rather than
    /// as a child: appending alerts needs the emulated event store, which only this process holds.
    pub async fn start_with_alert_rules(bin: &'static str, rules: Vec<RuleSpec>) -> Self {
        let mut cloud = Self::deploy(bin, &[]).await;
        let roles = Roles {
            projectors: true,
            ..Roles::NONE
        };
        let events = cosmos_events(&cloud.cosmos).await;
        let (dir, urls, group) = (&cloud.dir, &cloud.urls, &cloud.group);
        let projectors = serve_with(dir, urls, group, &events, roles, |config| {
            config.alert_rules = rules;
        })
        .await;
        cloud.in_process_projectors = Some(projectors);
        cloud
    }

    /// The servers, the event store, the front (command and query API) and the relay; no
    /// projectors yet.
    async fn deploy(bin: &'static str, shares: &[Option<&'static str>]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cache = format!("{}?namespace={}", redis_url(), unique_namespace());
        let urls = [unique_kafka_url(4), fresh_postgres_database().await, cache];
        // Tests share the broker: a consumer group of their own keeps their offsets apart.
        let group = unique_namespace();
        let cosmos = CosmosEmulator::new();
        let events = cosmos_events(&cosmos).await;
        let relay_roles = Roles {
            relay: true,
            ..Roles::NONE
        };
        let relay_events = cosmos_events(&cosmos).await;
        let relay = serve(&dir, &urls, &group, &relay_events, relay_roles).await;
        let front = serve(
            &dir,
            &urls,
            &group,
            &events,
            Roles {
                command_api: true,
                query_api: true,
                ..Roles::NONE
            },
        )
        .await;
        Self {
            bin,
            dir,
            urls,
            group,
            cosmos,
            events,
            front,
            relay,
            shares: shares.to_vec(),
            projectors: Vec::new(),
            in_process_projectors: None,
        }
    }

    pub fn bus(&self) -> KafkaConfig {
        KafkaConfig::from_url(&self.urls[0]).unwrap()
    }

    /// Aborts the relay: no clean shutdown, the page in flight neither confirmed nor saved.
    pub async fn kill_relay(&mut self) {
        self.relay.task.abort();
        let _ = (&mut self.relay.task).await;
    }

    pub async fn start_relay(&mut self) {
        let roles = Roles {
            relay: true,
            ..Roles::NONE
        };
        let events = cosmos_events(&self.cosmos).await;
        self.relay = serve(&self.dir, &self.urls, &self.group, &events, roles).await;
    }

    /// SIGKILLs every projectors process.
    pub async fn kill_projectors(&mut self) {
        for projectors in self.projectors.drain(..) {
            projectors.kill().await;
        }
    }

    pub async fn start_projectors(&mut self) {
        self.kill_projectors().await;
        for share in self.shares.clone() {
            let bus = match share {
                Some(partitions) => format!("{}&assign={partitions}", self.urls[0]),
                None => self.urls[0].clone(),
            };
            let urls = [bus, self.urls[1].clone(), self.urls[2].clone()];
            let running = projectors(self.bin, &self.dir, &urls, &self.group).await;
            self.projectors.push(running);
        }
    }
}

/// A client of the emulated account, as a process of its own would have.
async fn cosmos_events(cosmos: &CosmosEmulator) -> Events {
    Events::of(cosmos.event_store().await.expect("the emulator serves"))
}

async fn serve(
    dir: &tempfile::TempDir,
    urls: &[String; 3],
    group: &str,
    events: &Events,
    roles: Roles,
) -> Served {
    serve_with(dir, urls, group, events, roles, |_| {}).await
}

/// As `serve`, with `configure` changing the config first.
async fn serve_with(
    dir: &tempfile::TempDir,
    urls: &[String; 3],
    group: &str,
    events: &Events,
    roles: Roles,
    configure: impl FnOnce(&mut AppConfig),
) -> Served {
    let [bus, read_model, cache] = urls;
    let mut config = AppConfig::ephemeral(dir.path(), ADMIN, READ);
    config.roles = roles;
    config.consumer_group = group.to_owned();
    config.ports = PortUrls::parse(dir.path(), "sqlite:", bus, read_model, cache).unwrap();
    configure(&mut config);
    let given = Ports {
        events: Some(events.clone()),
        ..Ports::default()
    };
    let app = App::build_with(config, given)
        .await
        .expect("the roles start");
    let base = format!("http://{}", app.address());
    let task = tokio::spawn(app.run_until_stopped(std::future::pending()));
    Served { base, task }
}

async fn projectors(
    bin: &str,
    dir: &tempfile::TempDir,
    urls: &[String; 3],
    group: &str,
) -> Running {
    let [bus, read_model, cache] = urls;
    let args = [
        "projectors",
        "--listen",
        "127.0.0.1:0",
        "--bus",
        bus,
        "--read-model",
        read_model,
        "--cache",
        cache,
        "--consumer-group",
        group,
        "--data-dir",
        dir.path().to_str().unwrap(),
    ];
    spawn_watershed(bin, args, &[]).await
}
