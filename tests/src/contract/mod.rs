//! One suite per port. Each is a public async function that an adapter's test calls with a fresh
//! instance; a suite uses ids no other suite uses, so adapters may share a server (the change-feed
//! and bus suites also need the store, or the topic, to themselves).

pub mod bus;
pub mod cache;
pub mod change_feed;
pub mod event_store;
pub mod extremes;
pub mod generations;
pub mod history;
pub mod legacy_raw;
pub mod live_feed;
pub mod multi_stream;
pub mod notifications;
pub mod read_model;
pub mod usage;
