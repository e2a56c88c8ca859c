//! The real servers the cloud adapters are tested against, started by `scripts/services` (which
//! `scripts/test` runs). A missing server fails the test loudly: nothing is skipped.

use sqlx::{Connection, PgConnection};
use uuid::Uuid;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test, which starts the servers")
    })
}

/// A new, empty PostgreSQL database for one test; returns its URL.
pub async fn fresh_postgres_database() -> String {
    let admin_url = env("WATERSHED_TEST_POSTGRES_URL");
    let name = format!("watershed_test_{}", Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .expect("the test PostgreSQL answers");
    // A database name cannot be a bound parameter; this one is ours, made of hex digits.
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("creating a test database");
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("the URL names a database");
    format!("{base}/{name}")
}

pub fn redis_url() -> String {
    env("WATERSHED_TEST_REDIS_URL")
}

/// The same Redis on its TLS port (`rediss://`), with a self-signed certificate.
pub fn redis_tls_url() -> String {
    env("WATERSHED_TEST_REDIS_TLS_URL")
}

/// A key namespace no other test uses.
pub fn unique_namespace() -> String {
    format!("watershed-test-{}", Uuid::now_v7().simple())
}

/// The test Kafka-compatible broker's bootstrap address.
pub fn kafka_bootstrap() -> String {
    env("WATERSHED_TEST_KAFKA")
}

/// A bus URL on a topic no other test uses, with `partitions` partitions.
pub fn unique_kafka_url(partitions: u32) -> String {
    format!(
        "kafka://{}/watershed-test-{}?partitions={partitions}",
        kafka_bootstrap(),
        Uuid::now_v7().simple()
    )
}
