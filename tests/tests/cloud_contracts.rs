//! The cloud adapters pass the same contract suites as the embedded ones, against real servers.

use std::sync::Arc;

use watershed_infra::{PostgresReadModel, RedisDeviceCache, RedisLiveFeed};
use watershed_tests::contract::{cache, live_feed, read_model};
use watershed_tests::servers::{fresh_postgres_database, redis_url, unique_namespace};

#[tokio::test]
async fn postgres_read_model_keeps_the_read_model_contract() {
    let url = fresh_postgres_database().await;
    let rm = PostgresReadModel::connect(&url).await.unwrap();
    read_model::read_model_contract(Arc::new(rm)).await;
}

#[tokio::test]
async fn postgres_read_model_migrations_are_idempotent() {
    let url = fresh_postgres_database().await;
    PostgresReadModel::connect(&url).await.unwrap();
    PostgresReadModel::connect(&url)
        .await
        .expect("connecting again re-applies nothing");
}

#[tokio::test]
async fn redis_cache_keeps_the_cache_contract() {
    let cache = RedisDeviceCache::connect(&redis_url(), &unique_namespace())
        .await
        .unwrap();
    cache::device_cache_contract(Arc::new(cache)).await;
}

#[tokio::test]
async fn redis_feed_keeps_the_live_feed_contract() {
    let feed = RedisLiveFeed::connect(&redis_url(), &unique_namespace())
        .await
        .unwrap();
    live_feed::live_feed_contract(Arc::new(feed)).await;
}
