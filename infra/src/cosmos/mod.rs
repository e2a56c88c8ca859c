//! The cloud event store on Azure Cosmos DB (`azure_data_cosmos`): streams as logical partitions,
//! appends as transactional batches, publication through the container's change feed. Feature
//! `cosmos-emulator` adds [`CosmosEmulator`], the same store over the SDK's in-memory emulator.

mod append;
mod change_feed;
mod client;
mod event_store;
mod failure;
mod items;

#[cfg(feature = "cosmos-emulator")]
pub use client::CosmosEmulator;
pub use client::{client_builder, CosmosAccount, CosmosAuth};
pub use event_store::CosmosEventStore;
