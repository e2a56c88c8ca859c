//! Which adapter serves each port, chosen by URL (`--event-store`, `--bus`, `--read-model`,
//! `--cache`), so any mix of embedded and cloud parts runs: SQLite or Cosmos DB events, the
//! in-process bus or Kafka, SQLite or PostgreSQL read models, memory or Redis cache.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use watershed_domain::ports::{
    ChangeFeed, DeviceCache, EventBus, EventHistory, EventPublisher, EventStore, LiveFeed,
    Notifications, ReadModel, ReadModelGenerations, UsageCounter,
};
use watershed_infra::redis::usage::RedisUsage;
use watershed_infra::sqlite::usage::SqliteUsage;
use watershed_infra::{
    BroadcastLiveFeed, CosmosAccount, CosmosAuth, CosmosEventStore, GenerationalReadModel,
    KafkaBus, KafkaConfig, KafkaPublisher, MemoryDeviceCache, PostgresGenerations,
    PostgresNotifications, RedisDeviceCache, RedisLiveFeed, SqliteEventStore, SqliteGenerations,
    SqliteNotifications, StoreTailBus,
};

use crate::secret_url::SecretUrl;

/// Where each port's adapter is, as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortUrls {
    pub event_store: StoreUrl,
    pub bus: BusUrl,
    pub read_model: ReadModelUrl,
    pub cache: CacheUrl,
    /// Follows the cache: in Redis with a Redis cache (shared by every instance), else a SQLite
    /// file under the data directory.
    pub usage: UsageUrl,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    /// `cosmos://<account>.documents.azure.com[:port]/<database>?region=<region>[&auth=…]`: with
    /// `auth=key` (the default) the account key comes from `WATERSHED_COSMOS_KEY`, never from the
    /// command line; `auth=workload-identity` or `managed-identity` use Entra ID.
    Cosmos(CosmosAccount),
    /// The Cosmos DB adapter on the SDK's in-memory emulator, inside this process only.
    #[cfg(feature = "cosmos-emulator")]
    CosmosEmulator,
}

/// Where the Cosmos DB account key is read from.
pub const COSMOS_KEY_ENV: &str = "WATERSHED_COSMOS_KEY";

fn cosmos_account(url: &str, key: Option<String>) -> anyhow::Result<CosmosAccount> {
    let shape = || {
        anyhow::anyhow!(
            "--event-store {url:?}: expected cosmos://<account>.documents.azure.com/<database>?region=<region>[&auth=key|workload-identity|managed-identity]"
        )
    };
    let rest = url.strip_prefix("cosmos://").ok_or_else(shape)?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (host, database) = path.split_once('/').ok_or_else(shape)?;
    if host.is_empty() || database.is_empty() || database.contains('/') {
        return Err(shape());
    }
    let option = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .filter(|v| !v.is_empty())
    };
    let region = option("region")
        .ok_or_else(|| {
            anyhow::anyhow!("--event-store {url:?}: name the nearest region, ?region=West%20Europe")
        })?
        .replace("%20", " ");
    let auth = match option("auth").unwrap_or("key") {
        "key" => CosmosAuth::Key(key.filter(|k| !k.is_empty()).ok_or_else(|| {
            anyhow::anyhow!(
                "the Cosmos DB account key is read from {COSMOS_KEY_ENV}, which is not set (or use auth=workload-identity)"
            )
        })?),
        "workload-identity" => CosmosAuth::WorkloadIdentity,
        "managed-identity" => CosmosAuth::ManagedIdentity,
        other => anyhow::bail!(
            "--event-store {url:?}: auth={other} is not one of key, workload-identity, managed-identity"
        ),
    };
    Ok(CosmosAccount {
        endpoint: format!("https://{host}/"),
        auth,
        region,
        database: database.to_owned(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusUrl {
    /// Consumers read the event store's change feed in-process.
    Embedded,
    Kafka(KafkaConfig),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadModelUrl {
    Sqlite(PathBuf),
    Postgres(SecretUrl),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheUrl {
    /// Cache and live updates inside this process only.
    Memory,
    /// Cache in Redis, live updates over Redis pub/sub, keys under `namespace` (`?namespace=`,
    /// default `watershed`).
    Redis { url: SecretUrl, namespace: String },
}

/// Where devices' usage against their limits is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageUrl {
    Sqlite(PathBuf),
    Redis { url: SecretUrl, namespace: String },
}

/// A usage counter, and the in-process one's saver to run beside it.
#[derive(Clone)]
pub struct UsageCounters {
    pub counter: Arc<dyn UsageCounter>,
    pub saver: Option<Arc<SqliteUsage>>,
}

impl UsageUrl {
    pub async fn open(&self) -> anyhow::Result<UsageCounters> {
        Ok(match self {
            Self::Sqlite(path) => {
                create_parent(path)?;
                let usage = Arc::new(
                    SqliteUsage::open(path)
                        .await
                        .with_context(|| format!("opening the device usage {}", path.display()))?,
                );
                UsageCounters {
                    counter: Arc::clone(&usage) as Arc<dyn UsageCounter>,
                    saver: Some(usage),
                }
            }
            Self::Redis { url, namespace } => UsageCounters {
                counter: Arc::new(
                    RedisUsage::connect(url.expose(), namespace)
                        .await
                        .context("connecting to Redis for device usage")?,
                ),
                saver: None,
            },
        })
    }
}

/// A `sqlite:` URL: a path (relative to the data directory unless absolute), or the default file.
fn sqlite_path(rest: &str, data_dir: &Path, default_file: &str) -> PathBuf {
    let rest = rest.trim_start_matches("//");
    if rest.is_empty() {
        data_dir.join(default_file)
    } else {
        data_dir.join(rest)
    }
}

fn unknown(port: &str, url: &str, known: &str) -> anyhow::Error {
    anyhow::anyhow!("--{port} {url:?}: unknown adapter (use {known})")
}

impl PortUrls {
    pub const EVENTS_FILE: &'static str = "events.db";
    pub const READ_MODEL_FILE: &'static str = "read-model.db";
    pub const NOTIFICATIONS_FILE: &'static str = "notifications.db";
    pub const USAGE_FILE: &'static str = "usage.db";

    /// Parses the four URLs; `sqlite:` paths are taken relative to `data_dir`.
    pub fn parse(
        data_dir: &Path,
        event_store: &str,
        bus: &str,
        read_model: &str,
        cache: &str,
    ) -> anyhow::Result<Self> {
        let event_store = match event_store.split_once(':') {
            Some(("sqlite", rest)) => {
                StoreUrl::Sqlite(sqlite_path(rest, data_dir, Self::EVENTS_FILE))
            }
            Some(("cosmos", _)) => StoreUrl::Cosmos(cosmos_account(
                event_store,
                std::env::var(COSMOS_KEY_ENV).ok(),
            )?),
            #[cfg(feature = "cosmos-emulator")]
            Some(("cosmos-emulator", "")) => StoreUrl::CosmosEmulator,
            _ => return Err(unknown(
                "event-store",
                event_store,
                "sqlite:[path], cosmos://<account host>/<database>?region=… or cosmos-emulator:",
            )),
        };
        let bus = match bus.split_once(':') {
            Some(("embedded", "")) => BusUrl::Embedded,
            Some(("kafka", _)) => {
                BusUrl::Kafka(KafkaConfig::from_url(bus).with_context(|| format!("--bus {bus:?}"))?)
            }
            _ => return Err(unknown("bus", bus, "embedded: or kafka://host:port/topic")),
        };
        let read_model = match read_model.split_once(':') {
            Some(("sqlite", rest)) => {
                ReadModelUrl::Sqlite(sqlite_path(rest, data_dir, Self::READ_MODEL_FILE))
            }
            Some(("postgres" | "postgresql", _)) => {
                ReadModelUrl::Postgres(SecretUrl::new(read_model))
            }
            _ => {
                return Err(unknown(
                    "read-model",
                    read_model,
                    "sqlite:[path] or postgres://…",
                ))
            }
        };
        let cache = match cache.split_once(':') {
            Some(("memory", "")) => CacheUrl::Memory,
            Some(("redis" | "rediss", _)) => {
                // `?namespace=` is ours (several deployments may share one Redis); Redis gets the rest.
                let (url, namespace) = match cache.split_once("?namespace=") {
                    Some((url, ns)) if !ns.is_empty() && !ns.contains(['&', '?']) => (url, ns),
                    Some(_) => {
                        anyhow::bail!("--cache {cache:?}: namespace=<name> is the only option")
                    }
                    None => (cache, "watershed"),
                };
                CacheUrl::Redis {
                    url: SecretUrl::new(url),
                    namespace: namespace.to_owned(),
                }
            }
            _ => return Err(unknown("cache", cache, "memory: or redis://host:port")),
        };
        let usage = match &cache {
            CacheUrl::Memory => UsageUrl::Sqlite(data_dir.join(Self::USAGE_FILE)),
            CacheUrl::Redis { url, namespace } => UsageUrl::Redis {
                url: url.clone(),
                namespace: namespace.clone(),
            },
        };
        Ok(Self {
            event_store,
            bus,
            read_model,
            cache,
            usage,
        })
    }

    /// The embedded default for every port, under `data_dir`.
    pub fn embedded(data_dir: &Path) -> Self {
        Self::parse(data_dir, "sqlite:", "embedded:", "sqlite:", "memory:")
            .expect("the embedded defaults parse")
    }
}

/// The event store, its change feed and its history: one adapter, three ports.
#[derive(Clone)]
pub struct Events {
    pub store: Arc<dyn EventStore>,
    pub feed: Arc<dyn ChangeFeed>,
    pub history: Arc<dyn EventHistory>,
}

impl Events {
    pub fn of<S: EventStore + ChangeFeed + EventHistory>(store: S) -> Self {
        let store = Arc::new(store);
        Self {
            store: store.clone(),
            feed: store.clone(),
            history: store,
        }
    }
}

impl StoreUrl {
    pub async fn open(&self) -> anyhow::Result<Events> {
        match self {
            Self::Sqlite(path) => {
                create_parent(path)?;
                let store = SqliteEventStore::open(path)
                    .await
                    .with_context(|| format!("opening the event store {}", path.display()))?;
                Ok(Events::of(store))
            }
            Self::Cosmos(account) => {
                let store = CosmosEventStore::connect(account)
                    .await
                    .with_context(|| format!("connecting to Cosmos DB at {}", account.endpoint))?;
                Ok(Events::of(store))
            }
            #[cfg(feature = "cosmos-emulator")]
            Self::CosmosEmulator => {
                tracing::warn!("the event store is an in-memory Cosmos DB emulator: nothing survives this process");
                let store = watershed_infra::CosmosEmulator::new()
                    .event_store()
                    .await
                    .context("starting the in-memory Cosmos DB emulator")?;
                Ok(Events::of(store))
            }
        }
    }
}

/// The bus as projectors consume it, and where the relay publishes (none for the embedded bus,
/// which reads the change feed directly, nor for a process that runs no relay).
#[derive(Clone)]
pub struct Bus {
    pub bus: Arc<dyn EventBus>,
    pub publisher: Option<Arc<dyn EventPublisher>>,
}

impl BusUrl {
    /// Whether events reach this bus through a relay (rather than consumers reading the store).
    pub fn is_relayed(&self) -> bool {
        matches!(self, Self::Kafka(_))
    }

    /// `feed` is the event store's change feed, which the embedded bus reads; a producer is
    /// connected only for a process that relays.
    pub async fn open(
        &self,
        feed: Option<&Arc<dyn ChangeFeed>>,
        relays: bool,
    ) -> anyhow::Result<Bus> {
        match self {
            Self::Embedded => {
                let feed = feed.context("the embedded bus reads the event store: open it too")?;
                Ok(Bus {
                    bus: Arc::new(StoreTailBus::new(Arc::clone(feed))),
                    publisher: None,
                })
            }
            Self::Kafka(config) => {
                let bus = KafkaBus::connect(config.clone())
                    .await
                    .context("connecting to Kafka")?;
                let publisher: Option<Arc<dyn EventPublisher>> = if relays {
                    let producer = KafkaPublisher::connect(config)
                        .await
                        .context("connecting the Kafka producer")?;
                    Some(Arc::new(producer))
                } else {
                    None
                };
                Ok(Bus {
                    bus: Arc::new(bus),
                    publisher,
                })
            }
        }
    }
}

/// The read models of every generation, and the one to use: the current generation, followed
/// across rebuilds.
#[derive(Clone)]
pub struct ReadModels {
    pub current: Arc<dyn ReadModel>,
    pub generations: Arc<dyn ReadModelGenerations>,
}

impl ReadModelUrl {
    pub async fn open(&self) -> anyhow::Result<ReadModels> {
        let generations = self.generations().await?;
        let current = GenerationalReadModel::open(Arc::clone(&generations))
            .await
            .context("opening the current read-model generation")?;
        Ok(ReadModels {
            current,
            generations,
        })
    }

    /// The webhook channels and their outbox, beside the read models: a file of its own next to
    /// the SQLite ones, a schema of its own in the PostgreSQL database.
    pub async fn notifications(&self) -> anyhow::Result<Arc<dyn Notifications>> {
        Ok(match self {
            Self::Sqlite(path) => {
                let path = path.with_file_name(PortUrls::NOTIFICATIONS_FILE);
                create_parent(&path)?;
                Arc::new(
                    SqliteNotifications::open(&path)
                        .await
                        .with_context(|| format!("opening the notifications {}", path.display()))?,
                )
            }
            Self::Postgres(url) => Arc::new(
                PostgresNotifications::connect(url.expose())
                    .await
                    .context("connecting to PostgreSQL for notifications")?,
            ),
        })
    }

    /// The generations alone, for a rebuild.
    pub async fn generations(&self) -> anyhow::Result<Arc<dyn ReadModelGenerations>> {
        Ok(match self {
            Self::Sqlite(path) => {
                create_parent(path)?;
                Arc::new(
                    SqliteGenerations::open(path)
                        .await
                        .with_context(|| format!("opening the read models {}", path.display()))?,
                )
            }
            Self::Postgres(url) => Arc::new(
                PostgresGenerations::connect(url.expose())
                    .await
                    .context("connecting to PostgreSQL")?,
            ),
        })
    }
}

/// The device cache and the live-update fan-out, which travel together.
#[derive(Clone)]
pub struct Cache {
    pub cache: Arc<dyn DeviceCache>,
    pub live: Arc<dyn LiveFeed>,
}

impl CacheUrl {
    pub async fn open(&self) -> anyhow::Result<Cache> {
        Ok(match self {
            Self::Memory => Cache {
                cache: Arc::new(MemoryDeviceCache::default()),
                live: Arc::new(BroadcastLiveFeed::default()),
            },
            Self::Redis { url, namespace } => Cache {
                cache: Arc::new(
                    RedisDeviceCache::connect(url.expose(), namespace)
                        .await
                        .context("connecting the Redis cache")?,
                ),
                live: Arc::new(
                    RedisLiveFeed::connect(url.expose(), namespace)
                        .await
                        .map_err(anyhow::Error::msg)
                        .context("connecting the Redis live feed")?,
                ),
            },
        })
    }
}

fn create_parent(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_embedded_under_the_data_dir() {
        let urls = PortUrls::embedded(Path::new("/d"));
        assert_eq!(urls.event_store, StoreUrl::Sqlite("/d/events.db".into()));
        assert_eq!(urls.bus, BusUrl::Embedded);
        assert_eq!(
            urls.read_model,
            ReadModelUrl::Sqlite("/d/read-model.db".into())
        );
        assert_eq!(urls.cache, CacheUrl::Memory);
        assert_eq!(urls.usage, UsageUrl::Sqlite("/d/usage.db".into()));
    }

    #[test]
    fn cloud_urls_pick_cloud_adapters() {
        let urls = PortUrls::parse(
            Path::new("/d"),
            "sqlite:/abs/e.db",
            "kafka://k:9092/events",
            "postgres://u@db/ws",
            "redis://r:6379",
        )
        .unwrap();
        assert_eq!(urls.event_store, StoreUrl::Sqlite("/abs/e.db".into()));
        assert!(matches!(urls.bus, BusUrl::Kafka(ref c) if c.topic == "events"));
        assert_eq!(
            urls.read_model,
            ReadModelUrl::Postgres(SecretUrl::new("postgres://u@db/ws"))
        );
        assert_eq!(
            urls.cache,
            CacheUrl::Redis {
                url: SecretUrl::new("redis://r:6379"),
                namespace: "watershed".into()
            }
        );
        let named = PortUrls::parse(
            Path::new("/d"),
            "sqlite:",
            "embedded:",
            "sqlite:",
            "redis://r:6379/2?namespace=site-a",
        )
        .unwrap();
        assert_eq!(
            named.cache,
            CacheUrl::Redis {
                url: SecretUrl::new("redis://r:6379/2"),
                namespace: "site-a".into()
            }
        );
    }

    #[test]
    fn a_cosmos_url_names_account_database_and_region_and_the_key_comes_from_the_environment() {
        let url = "cosmos://acme.documents.azure.com/telemetry?region=West%20Europe";
        let account = cosmos_account(url, Some("k3y".into())).unwrap();
        assert_eq!(account.endpoint, "https://acme.documents.azure.com/");
        assert_eq!(account.database, "telemetry");
        assert_eq!(account.region, "West Europe");
        assert!(account.auth == CosmosAuth::Key("k3y".into()));
        let no_key = cosmos_account(url, None).unwrap_err();
        assert!(no_key.to_string().contains(COSMOS_KEY_ENV), "{no_key}");
        let no_region = cosmos_account("cosmos://acme.documents.azure.com/t", Some("k".into()));
        assert!(no_region.unwrap_err().to_string().contains("region"));
        assert!(cosmos_account("cosmos://acme.documents.azure.com", Some("k".into())).is_err());
        let pod = cosmos_account(&format!("{url}&auth=workload-identity"), None).unwrap();
        assert!(pod.auth == CosmosAuth::WorkloadIdentity, "no key needed");
        let vm = cosmos_account(&format!("{url}&auth=managed-identity"), None).unwrap();
        assert!(vm.auth == CosmosAuth::ManagedIdentity);
        let unknown = cosmos_account(&format!("{url}&auth=password"), None).unwrap_err();
        assert!(unknown.to_string().contains("auth=password"), "{unknown}");
    }

    #[test]
    fn unknown_adapters_are_named_in_the_error() {
        let d = Path::new("/d");
        let err = PortUrls::parse(d, "mongo://x", "embedded:", "sqlite:", "memory:").unwrap_err();
        assert!(
            err.to_string().contains("--event-store \"mongo://x\""),
            "{err}"
        );
        let err =
            PortUrls::parse(d, "sqlite:", "kafka://nohost", "sqlite:", "memory:").unwrap_err();
        assert!(
            format!("{err:#}").contains("names at least one broker"),
            "{err:#}"
        );
        let err =
            PortUrls::parse(d, "sqlite:", "embedded:", "sqlite:", "memcached://x").unwrap_err();
        assert!(err.to_string().contains("--cache"), "{err}");
    }
}
