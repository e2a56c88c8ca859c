//! The alert evaluator over a real store and bus: readings raise and clear an alert exactly once,
//! the decisions land in the device's stream caused by the readings that made them, a consumer
//! group that evaluates the whole history again appends nothing, and a restarted evaluator knows
//! which alerts are open.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use watershed_domain::event::ExpectedVersion;
use watershed_domain::ports::{EventBus, EventStore, StoreError, StreamQuery};
use watershed_domain::{AlertRules, DeviceEvent, DeviceId, RecordedEvent, RuleSpec};
use watershed_projectors::{AlertConfig, AlertEvaluator, RulesHandle};

use crate::events::{new_event, reading, readings, register, unique_device};
use crate::eventually;

const PATIENCE: Duration = Duration::from_secs(30);

fn rules() -> RulesHandle {
    let too_hot = RuleSpec {
        name: "too-hot".to_owned(),
        sensor: Some("temp".to_owned()),
        above: Some(30.0),
        clear_at: Some(28.0),
        message: Some("too hot".to_owned()),
        ..RuleSpec::default()
    };
    RulesHandle::fixed(AlertRules::from_specs(vec![too_hot]).unwrap())
}

/// Starts an evaluator of `group`; cancel the token to stop it.
fn start(store: &Arc<dyn EventStore>, bus: &Arc<dyn EventBus>, group: &str) -> CancellationToken {
    let stop = CancellationToken::new();
    let evaluator = AlertEvaluator {
        bus: Arc::clone(bus),
        store: Arc::clone(store),
        rules: rules(),
        config: AlertConfig {
            group: group.to_owned(),
            ..AlertConfig::for_projector_group("unused")
        },
    };
    tokio::spawn(evaluator.run(stop.clone()));
    stop
}

/// Appends one batch of `temp` readings (the newest last) at whatever version the stream has: the
/// evaluator appends to the same stream meanwhile.
async fn send(store: &dyn EventStore, device: &DeviceId, batch: &str, values: &[f64]) {
    let now = chrono::Utc::now();
    let batch_readings = (0i64..)
        .zip(values)
        .map(|(i, v)| reading("temp", *v, now + chrono::Duration::milliseconds(i)))
        .collect();
    let event = readings(batch, batch_readings);
    loop {
        let version = store.stream_version(device).await.unwrap();
        let appended = store
            .append(
                device,
                ExpectedVersion::Exactly(version),
                vec![new_event(&event, Some(batch))],
            )
            .await;
        match appended {
            Ok(_) => return,
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => panic!("appending readings: {e}"),
        }
    }
}

async fn stream(store: &dyn EventStore, device: &DeviceId) -> Vec<RecordedEvent> {
    store
        .read_stream(device, StreamQuery::from(1, usize::MAX))
        .await
        .unwrap()
}

fn alerts_in(events: &[RecordedEvent]) -> Vec<(String, f64)> {
    events
        .iter()
        .filter_map(|e| match e.decode().unwrap() {
            DeviceEvent::AlertRaised(a) => Some(("raised".to_owned(), a.value.get())),
            DeviceEvent::AlertCleared(a) => Some(("cleared".to_owned(), a.value.get())),
            _ => None,
        })
        .collect()
}

/// Waits until the device's stream holds exactly `expected` alert decisions, then returns it.
async fn wait_for_alerts(
    store: &dyn EventStore,
    device: &DeviceId,
    expected: &[(&str, f64)],
) -> Vec<RecordedEvent> {
    let expected: Vec<(String, f64)> = expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect();
    eventually("the alert decisions", PATIENCE, || async {
        let events = stream(store, device).await;
        (alerts_in(&events) == expected).then_some(events)
    })
    .await
}

async fn wait_caught_up(bus: &dyn EventBus, group: &str) {
    eventually("the evaluator to catch up", PATIENCE, || async {
        let backlog = bus.backlog(group, 1000).await.ok()?;
        (backlog.events == 0).then_some(())
    })
    .await;
}

pub async fn alert_evaluator_scenario(store: Arc<dyn EventStore>, bus: Arc<dyn EventBus>) {
    let device = unique_device("alerts");
    register(&*store, &device).await;
    let group = format!("alerts-{}", uuid::Uuid::now_v7());
    let first = start(&store, &bus, &group);

    // 31 is the newest of its batch and raises; 35 finds the alert open; 29 is short of the clear
    // level 28; 27 clears. The 40 sent before 27 in the same batch is older, so it decides nothing.
    for (batch, values) in [
        ("b1", &[25.0][..]),
        ("b2", &[45.0, 31.0]),
        ("b3", &[35.0]),
        ("b4", &[29.0]),
        ("b5", &[40.0, 27.0]),
    ] {
        send(&*store, &device, batch, values).await;
    }
    let events = wait_for_alerts(&*store, &device, &[("raised", 31.0), ("cleared", 27.0)]).await;
    let raised = events
        .iter()
        .find(|e| e.event_type == "AlertRaised")
        .unwrap();
    let cause = events
        .iter()
        .find(|e| Some(e.meta.event_id) == raised.meta.causation_id)
        .expect("an alert names the readings event that raised it");
    assert_eq!(cause.event_type, "ReadingsRecorded");
    assert!(cause.payload.contains("\"b2\""), "{}", cause.payload);
    wait_caught_up(&*bus, &group).await;
    first.cancel();

    // A group that evaluates the whole history again decides the same, and the store answers each
    // decision with the event it already holds.
    let replay_group = format!("{group}-replay");
    let replay = start(&store, &bus, &replay_group);
    wait_caught_up(&*bus, &replay_group).await;
    replay.cancel();
    assert_eq!(
        alerts_in(&stream(&*store, &device).await),
        [("raised".to_owned(), 31.0), ("cleared".to_owned(), 27.0)],
        "evaluating again appended nothing"
    );

    // A restarted evaluator loads the open alert from the stream: a reading still too hot raises
    // nothing more, and recovering clears it.
    let restarted = start(&store, &bus, &group);
    send(&*store, &device, "b6", &[50.0]).await;
    wait_for_alerts(
        &*store,
        &device,
        &[("raised", 31.0), ("cleared", 27.0), ("raised", 50.0)],
    )
    .await;
    restarted.cancel();
    let again = start(&store, &bus, &group);
    send(&*store, &device, "b7", &[33.0]).await;
    send(&*store, &device, "b8", &[20.0]).await;
    wait_for_alerts(
        &*store,
        &device,
        &[
            ("raised", 31.0),
            ("cleared", 27.0),
            ("raised", 50.0),
            ("cleared", 20.0),
        ],
    )
    .await;
    again.cancel();
}
