//! Reaching a Cosmos DB account: an SDK client with the store's retry budget, over HTTPS with an
//! account key or an Entra ID identity, or over the SDK's in-memory emulator, and the containers
//! the store needs.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::models::ContainerProperties;
use azure_data_cosmos::options::{
    MaxItemCountHint, OperationOptionsBuilder, Region, RoutingStrategy,
    ThrottlingRetryOptionsBuilder,
};
use azure_data_cosmos::{AccountEndpoint, AccountReference, CosmosClient, CosmosClientBuilder};
use azure_identity::{ManagedIdentityCredential, WorkloadIdentityCredential};
use watershed_domain::ports::StoreError;

use super::failure::unavailable;
use super::items::{
    EVENTS_CONTAINER, EVENTS_PARTITION_KEY, LEASES_CONTAINER, LEASES_PARTITION_KEY,
};

/// How the store proves who it is to the account.
#[derive(Clone, PartialEq, Eq)]
pub enum CosmosAuth {
    /// The account's primary or secondary key.
    Key(String),
    /// Entra ID through AKS workload identity: the pod's federated token (`AZURE_TENANT_ID`,
    /// `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE`, set by the webhook).
    WorkloadIdentity,
    /// Entra ID through the host's managed identity (VMs, App Service).
    ManagedIdentity,
}

/// A Cosmos DB account and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct CosmosAccount {
    /// `https://<account>.documents.azure.com:443/`
    pub endpoint: String,
    pub auth: CosmosAuth,
    /// The region to prefer, e.g. `West Europe`; the SDK fails over by proximity from it.
    pub region: String,
    /// Created with the store's containers when missing.
    pub database: String,
}

impl fmt::Debug for CosmosAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosmosAccount")
            .field("endpoint", &self.endpoint)
            .field(
                "auth",
                &match self.auth {
                    CosmosAuth::Key(_) => "key <redacted>",
                    CosmosAuth::WorkloadIdentity => "workload identity",
                    CosmosAuth::ManagedIdentity => "managed identity",
                },
            )
            .field("region", &self.region)
            .field("database", &self.database)
            .finish()
    }
}

/// How long the SDK may keep retrying a throttled request. Its data-plane default is 18 retries
/// and up to 270 s, longer than any ingest client waits; past this budget the store answers
/// `Unavailable` and the device resends, which idempotency keys make safe.
const THROTTLE_RETRIES: u32 = 9;
const THROTTLE_WAIT: Duration = Duration::from_secs(5);

/// The SDK client builder with the store's retry budget. Add diagnostics handlers (or, in tests,
/// fault injection rules) before building.
pub fn client_builder() -> CosmosClientBuilder {
    CosmosClientBuilder::new().with_default_operation_options(
        OperationOptionsBuilder::new()
            .with_throttling_retry_options(
                ThrottlingRetryOptionsBuilder::new()
                    .with_max_retry_count(THROTTLE_RETRIES)
                    .with_max_retry_wait_time(THROTTLE_WAIT)
                    .build(),
            )
            .build(),
    )
}

/// The most items a page of a query or of the change feed asks for: large enough that a backlog
/// drains in few round trips, small enough to stay far below the service's 4 MB page.
const MAX_PAGE: u32 = 1000;

/// The page size to ask for when `wanted` items are wanted.
pub(super) fn page_size(wanted: usize) -> MaxItemCountHint {
    let size = u32::try_from(wanted).unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    MaxItemCountHint::Limit(NonZeroU32::new(size).expect("clamped to at least 1"))
}

impl CosmosAccount {
    /// A client over HTTPS, authenticated as `auth` says.
    pub async fn client(&self, builder: CosmosClientBuilder) -> Result<CosmosClient, StoreError> {
        let endpoint: AccountEndpoint = self
            .endpoint
            .parse()
            .map_err(|e| unavailable("parsing the account endpoint", e))?;
        let identity = |credential: azure_core::Result<Arc<dyn TokenCredential>>| {
            credential.map_err(|e| StoreError::Unavailable(format!("Entra ID credential: {e}")))
        };
        let account = match &self.auth {
            CosmosAuth::Key(key) => {
                AccountReference::with_authentication_key(endpoint, key.clone())
            }
            CosmosAuth::WorkloadIdentity => AccountReference::with_credential(
                endpoint,
                identity(WorkloadIdentityCredential::new(None).map(|c| c as _))?,
            ),
            CosmosAuth::ManagedIdentity => AccountReference::with_credential(
                endpoint,
                identity(ManagedIdentityCredential::new(None).map(|c| c as _))?,
            ),
        };
        let routing = RoutingStrategy::ProximityTo(Region::from(self.region.clone()));
        builder
            .build(account, routing)
            .await
            .map_err(|e| unavailable("connecting", e))
    }
}

/// The store's two containers.
pub(super) struct Containers {
    pub events: ContainerClient,
    pub leases: ContainerClient,
}

impl Containers {
    /// Opens the database's containers, creating the database and containers when missing.
    pub(super) async fn open(client: &CosmosClient, database: &str) -> Result<Self, StoreError> {
        match client.create_database(database, None).await {
            Ok(_) => tracing::info!(database, "created the cosmos db database"),
            // Someone created it first: what we wanted.
            Err(e) if e.status().is_conflict() => {}
            Err(e) => return Err(unavailable("creating the database", e)),
        }
        Ok(Self {
            events: container(client, database, EVENTS_CONTAINER, EVENTS_PARTITION_KEY).await?,
            leases: container(client, database, LEASES_CONTAINER, LEASES_PARTITION_KEY).await?,
        })
    }
}

async fn container(
    client: &CosmosClient,
    database: &str,
    name: &'static str,
    partition_key: &'static str,
) -> Result<ContainerClient, StoreError> {
    let db = client.database_client(database);
    let properties = ContainerProperties::new(name, partition_key.into());
    match db.create_container(properties, None).await {
        Ok(_) => tracing::info!(database, container = name, "created a cosmos db container"),
        Err(e) if e.status().is_conflict() => {}
        Err(e) => return Err(unavailable("creating a container", e)),
    }
    db.container_client(name, None)
        .await
        .map_err(|e| unavailable("opening a container", e))
}

#[cfg(feature = "cosmos-emulator")]
pub use emulator::CosmosEmulator;

#[cfg(feature = "cosmos-emulator")]
mod emulator {
    use std::sync::Arc;

    use azure_data_cosmos::options::{Region, RoutingStrategy};
    use azure_data_cosmos::{
        AccountEndpoint, AccountReference, CosmosClient, CosmosClientBuilder, CosmosRuntimeBuilder,
    };
    use azure_data_cosmos_driver::in_memory_emulator::{
        ConsistencyLevel, InMemoryEmulatorHttpClient, VirtualAccountConfig, VirtualRegion,
    };
    use watershed_domain::ports::StoreError;

    use super::unavailable;
    use crate::cosmos::CosmosEventStore;

    /// The emulator's one region; requests to any other host fail.
    const GATEWAY: &str = "https://eastus.emulator.local";
    const REGION: &str = "East US";
    /// The emulator checks that a key is present, not which.
    const KEY: &str = "dGVzdGtleQ==";

    /// A Cosmos DB account in memory: the SDK's own emulator, so the whole SDK pipeline (routing,
    /// sessions, retries, batches, the change feed) runs and only HTTP is replaced. Everything is
    /// lost when the last handle is dropped.
    #[derive(Clone)]
    pub struct CosmosEmulator {
        http: Arc<InMemoryEmulatorHttpClient>,
    }

    impl CosmosEmulator {
        /// The database [`Self::event_store`] keeps its containers in.
        pub const DATABASE: &'static str = "watershed";

        pub fn new() -> Self {
            let gateway = GATEWAY
                .parse()
                .expect("the emulator gateway is a valid URL");
            let config = VirtualAccountConfig::new(vec![VirtualRegion::new(REGION, gateway)])
                .expect("one region is a valid emulator account")
                .with_consistency(ConsistencyLevel::Session);
            Self {
                http: Arc::new(InMemoryEmulatorHttpClient::new(config)),
            }
        }

        /// A client of this account, as another process would have: clients share the data,
        /// not their caches.
        pub async fn client(
            &self,
            builder: CosmosClientBuilder,
        ) -> Result<CosmosClient, StoreError> {
            let runtime = CosmosRuntimeBuilder::from(self.http.runtime_builder())
                .build()
                .await
                .map_err(|e| unavailable("starting the emulator runtime", e))?;
            let endpoint: AccountEndpoint = GATEWAY
                .parse()
                .expect("the emulator gateway is a valid endpoint");
            builder
                .with_runtime(runtime)
                .build(
                    AccountReference::with_authentication_key(endpoint, KEY),
                    RoutingStrategy::ProximityTo(Region::from(REGION)),
                )
                .await
                .map_err(|e| unavailable("connecting to the emulator", e))
        }

        /// An event store in this account's [`Self::DATABASE`], through a client of its own.
        pub async fn event_store(&self) -> Result<CosmosEventStore, StoreError> {
            let client = self.client(super::client_builder()).await?;
            CosmosEventStore::open(&client, Self::DATABASE).await
        }
    }

    impl Default for CosmosEmulator {
        fn default() -> Self {
            Self::new()
        }
    }
}
