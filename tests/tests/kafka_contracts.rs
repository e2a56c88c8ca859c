//! The Kafka bus (on the tansu broker that `scripts/services` starts) keeps the bus contract with
//! the relay carrying events to it from a SQLite store's change feed, and keeps each device's
//! order across partitions.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use watershed_domain::event::ExpectedVersion;
use watershed_domain::ports::{ChangeFeed, EventBus, EventStore};
use watershed_infra::{KafkaBus, KafkaConfig, KafkaPublisher, SqliteEventStore};
use watershed_projectors::{Relay, RelayConfig};
use watershed_tests::contract::{bus, extremes};
use watershed_tests::events::{new_event, readings, registered, unique_device};
use watershed_tests::eventually;
use watershed_tests::servers::unique_kafka_url;

struct Pipeline {
    store: Arc<SqliteEventStore>,
    bus: Arc<KafkaBus>,
    relay: CancellationToken,
    _dir: tempfile::TempDir,
}

/// A fresh store and topic, with a relay between them.
async fn pipeline(partitions: u32) -> Pipeline {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteEventStore::open(&dir.path().join("events.db"))
            .await
            .unwrap(),
    );
    let config = KafkaConfig::from_url(&unique_kafka_url(partitions)).unwrap();
    let publisher = Arc::new(KafkaPublisher::connect(&config).await.unwrap());
    let bus = Arc::new(KafkaBus::connect(config).await.unwrap());
    let relay = CancellationToken::new();
    tokio::spawn(
        Relay {
            feed: store.clone(),
            publisher,
            config: RelayConfig::default(),
        }
        .run(relay.clone()),
    );
    Pipeline {
        store,
        bus,
        relay,
        _dir: dir,
    }
}

#[tokio::test]
async fn kafka_bus_keeps_the_bus_contract() {
    let p = pipeline(3).await;
    bus::event_bus_contract(p.store.clone(), p.bus.clone()).await;
    p.relay.cancel();
}

#[tokio::test]
async fn kafka_bus_carries_the_extremes() {
    let p = pipeline(1).await;
    extremes::bus_carries_extremes(p.store.clone(), p.bus.clone()).await;
    p.relay.cancel();
}

#[tokio::test]
async fn alerts_are_decided_once_over_kafka() {
    let p = pipeline(3).await;
    watershed_tests::alerting::alert_evaluator_scenario(p.store.clone(), p.bus.clone()).await;
    p.relay.cancel();
}

#[tokio::test]
async fn many_devices_keep_their_order_across_partitions_and_the_relay_confirms_it() {
    let p = pipeline(4).await;
    let devices: Vec<_> = (0..12).map(|_| unique_device("order")).collect();
    for round in 0..5u64 {
        for d in &devices {
            let (expected, first) = match round {
                0 => (ExpectedVersion::NoStream, new_event(&registered(), None)),
                r => (
                    ExpectedVersion::Exactly(r),
                    new_event(&readings(&format!("r{r}"), vec![]), None),
                ),
            };
            p.store.append(d, expected, vec![first]).await.unwrap();
        }
    }
    let mut subscription = p.bus.subscribe("order-check").await.unwrap();
    let mut seen = std::collections::HashMap::<_, Vec<u64>>::new();
    while seen.values().map(Vec::len).sum::<usize>() < 60 {
        let batch = tokio::time::timeout(Duration::from_secs(20), subscription.next_batch(50))
            .await
            .expect("every event arrives")
            .unwrap();
        for e in batch {
            seen.entry(e.stream_id.clone())
                .or_default()
                .push(e.stream_seq);
        }
    }
    for d in &devices {
        assert_eq!(seen[d], vec![1, 2, 3, 4, 5], "{d}");
    }
    // The relay saved its cursor after delivery: nothing is left for it to publish.
    eventually(
        "the relay cursor to reach the end",
        Duration::from_secs(10),
        || async {
            let cursor = p
                .store
                .load_cursor(RelayConfig::DEFAULT_NAME)
                .await
                .unwrap();
            (p.store.backlog(&cursor, 100).await.unwrap().events == 0).then_some(())
        },
    )
    .await;
    p.relay.cancel();
}

/// A message that is no Watershed event, in the middle of a fetch, holds the consumer up where it
/// is: the events before it are handed out and committed, nothing after it is read past it, and
/// a new subscription of the group meets it again instead of skipping it.
#[tokio::test]
async fn a_malformed_message_mid_batch_drops_nothing_and_is_not_read_past() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use watershed_domain::ports::{BusError, EventPublisher};
    use watershed_infra::kafka::publisher::producer_settings;
    use watershed_tests::events::recorded;

    let config = KafkaConfig::from_url(&unique_kafka_url(1)).unwrap();
    let publisher = KafkaPublisher::connect(&config).await.unwrap();
    let bus = KafkaBus::connect(config.clone()).await.unwrap();
    let d = unique_device("poison");
    let event = |seq| recorded(&d, seq, seq, &readings(&format!("b{seq}"), vec![]));
    publisher.publish(&[event(1), event(2)]).await.unwrap();
    let raw: FutureProducer = producer_settings(&config).create().unwrap();
    raw.send(
        FutureRecord::to(&config.topic)
            .key(d.as_str())
            .payload("not a cloudevent"),
        Duration::from_secs(10),
    )
    .await
    .map_err(|(e, _)| e)
    .unwrap();
    publisher.publish(&[event(3)]).await.unwrap();

    let group = format!("poison-{}", uuid::Uuid::now_v7());
    let mut subscription = bus.subscribe(&group).await.unwrap();
    let mut seen = Vec::new();
    let error = loop {
        match subscription.next_batch(100).await {
            Ok(batch) => seen.extend(batch.into_iter().map(|e| e.stream_seq)),
            Err(e) => break e,
        }
    };
    assert_eq!(
        seen,
        vec![1, 2],
        "the events before the bad message are handed out"
    );
    assert!(matches!(error, BusError::Malformed(_)), "{error}");
    assert!(
        subscription.next_batch(100).await.is_err(),
        "nothing is read past it"
    );
    subscription.commit().await.unwrap();
    drop(subscription);

    let mut again = bus.subscribe(&group).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(30), again.next_batch(100))
        .await
        .expect("the resumed group reads at once");
    assert!(
        matches!(first, Err(BusError::Malformed(_))),
        "resuming meets the bad message again, not event 3: {first:?}"
    );
}

/// The `park` policy on Kafka: a message that is no event is parked with the device its key
/// names; that device's next event waits behind it while the fleet flows; a retry reads the
/// device's events from the event store and lets it go on.
#[tokio::test]
async fn a_malformed_message_is_parked_and_a_retry_reads_the_device_from_the_store() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use watershed_domain::ports::{EventPublisher, ReadModel};
    use watershed_infra::kafka::publisher::producer_settings;
    use watershed_infra::SqliteReadModel;
    use watershed_tests::dead_letters::{
        append_reading, desk, parking_projector, position, stream_of,
    };
    use watershed_tests::events::register;

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteEventStore::open(&dir.path().join("e.db"))
            .await
            .unwrap(),
    );
    let rm: Arc<dyn ReadModel> = Arc::new(
        SqliteReadModel::open(&dir.path().join("rm.db"))
            .await
            .unwrap(),
    );
    let config = KafkaConfig::from_url(&unique_kafka_url(1)).unwrap();
    let publisher = KafkaPublisher::connect(&config).await.unwrap();
    let bus = Arc::new(KafkaBus::connect(config.clone()).await.unwrap());
    let (sick, well) = (unique_device("k-sick"), unique_device("k-well"));
    for d in [&sick, &well] {
        register(&*store, d).await;
        append_reading(&*store, d, 1, 1.0).await;
    }
    append_reading(&*store, &sick, 2, 2.0).await;
    // The sick device's third event reaches Kafka damaged; the store has it whole.
    let sick_events = stream_of(&*store, &sick).await;
    publisher.publish(&sick_events[..2]).await.unwrap();
    let raw: FutureProducer = producer_settings(&config).create().unwrap();
    raw.send(
        FutureRecord::to(&config.topic)
            .key(sick.as_str())
            .payload("{\"half\": "),
        Duration::from_secs(10),
    )
    .await
    .map_err(|(e, _)| e)
    .unwrap();
    append_reading(&*store, &sick, 3, 4.0).await;
    publisher
        .publish(&stream_of(&*store, &sick).await[3..])
        .await
        .unwrap();
    publisher
        .publish(&stream_of(&*store, &well).await)
        .await
        .unwrap();

    let projector = parking_projector(bus, Arc::clone(&rm));
    let stop = CancellationToken::new();
    let running = tokio::spawn(projector.run(stop.clone()));
    eventually(
        "the well device projected",
        Duration::from_secs(30),
        || async { (position(&*rm, &well).await == 2).then_some(()) },
    )
    .await;
    let letters = eventually("both sick letters", Duration::from_secs(30), || async {
        let letters = rm.dead_letters(Some(&sick)).await.unwrap();
        (letters.len() == 2).then_some(letters)
    })
    .await;
    assert_eq!(position(&*rm, &sick).await, 2);
    assert!(letters
        .iter()
        .any(|l| l.parked.source.starts_with("kafka:")));
    assert!(letters.iter().any(|l| l.parked.stream_seq == Some(4)));

    let done = desk(store.clone(), Arc::clone(&rm))
        .retry(letters[0].id)
        .await
        .unwrap();
    assert_eq!(
        (done.applied, done.resolved),
        (2, 2),
        "events 3 and 4 from the store"
    );
    assert_eq!(position(&*rm, &sick).await, 4);
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// `watershed replay --out kafka://…` re-publishes the history in the relay's binding: a Kafka
/// consumer (the bus adapter, as a Spark job would use the topic) reads every event once, each
/// device's in order.
#[tokio::test]
async fn a_replay_to_kafka_publishes_every_event_for_a_consumer_to_read() {
    use std::collections::HashMap;

    use serde_json::json;
    use watershed::analysts::replay::{self, ReplayArgs};
    use watershed::analysts::HistoryArgs;
    use watershed_tests::harness::{spawn_app, ANALYST_TOKEN};

    let app = spawn_app().await;
    let mut keys = HashMap::new();
    for device in ["rk-a", "rk-b", "rk-c"] {
        keys.insert(device, app.register(device).await);
    }
    let at = chrono::Utc::now().to_rfc3339();
    for i in 0..30 {
        let device = ["rk-a", "rk-b", "rk-c"][i % 3];
        let body = json!({"batch_id": format!("b{i}"), "readings": [
            {"sensor": "t", "value": i, "measured_at": at}]});
        let response = app.post_readings(device, &keys[device], &body).await;
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    }
    let url = unique_kafka_url(3);
    let done = replay::run(ReplayArgs {
        history: HistoryArgs::fleet(&app.base, ANALYST_TOKEN),
        from: None,
        to: None,
        types: Vec::new(),
        out: url.clone(),
        resume: None,
    })
    .await
    .unwrap();
    // Three registrations, three SensorsAdded, thirty batches.
    assert_eq!(done.events, 36);

    let bus = KafkaBus::connect(KafkaConfig::from_url(&url).unwrap())
        .await
        .unwrap();
    let mut subscription = bus.subscribe("replay-reader").await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 36 {
        let batch = tokio::time::timeout(Duration::from_secs(30), subscription.next_batch(100))
            .await
            .expect("the replayed events arrive")
            .unwrap();
        seen.extend(batch);
    }
    assert_eq!(seen.len(), 36, "nothing twice");
    for device in ["rk-a", "rk-b", "rk-c"] {
        let seqs: Vec<u64> = seen
            .iter()
            .filter(|e| e.stream_id.as_str() == device)
            .map(|e| e.stream_seq)
            .collect();
        assert_eq!(
            seqs,
            (1..=12).collect::<Vec<_>>(),
            "{device} whole and in order"
        );
    }
}
