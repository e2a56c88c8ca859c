//! Adapters that implement Watershed's ports. The embedded ones (SQLite stores, the in-process bus,
//! the in-memory cache and live feed) serve `watershed up`; cloud adapters sit beside them.

mod alert_sql;
pub mod cosmos;
mod dead_letter_rows;
mod device_rows;
pub mod embedded_bus;
mod generation_record;
pub mod generational;
pub mod kafka;
pub mod live_feed;
pub mod memory_cache;
mod notification_sql;
mod onnx;
pub mod postgres;
mod profile_sql;
mod raw_block_rows;
pub mod redis;
mod rollup_sql;
pub mod splunk;
mod sql_error;
pub mod sqlite;
pub mod webhook_client;

#[cfg(feature = "cosmos-emulator")]
pub use cosmos::CosmosEmulator;
pub use cosmos::{CosmosAccount, CosmosAuth, CosmosEventStore};
pub use embedded_bus::StoreTailBus;
pub use generational::GenerationalReadModel;
pub use kafka::{KafkaBus, KafkaConfig, KafkaPublisher};
pub use live_feed::BroadcastLiveFeed;
pub use memory_cache::MemoryDeviceCache;
pub use onnx::TractRuntime;
pub use postgres::generations::PostgresGenerations;
pub use postgres::notifications::PostgresNotifications;
pub use postgres::read_model::PostgresReadModel;
pub use redis::cache::RedisDeviceCache;
pub use redis::live_feed::RedisLiveFeed;
pub use splunk::{HecConfig, HecMode, SplunkHec};
pub use sqlite::event_store::SqliteEventStore;
pub use sqlite::generations::SqliteGenerations;
pub use sqlite::notifications::SqliteNotifications;
pub use sqlite::read_model::SqliteReadModel;
pub use webhook_client::WebhookClient;
