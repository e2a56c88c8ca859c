//! What every read-model store promises: a delta lands whole with its stream positions (so a
//! redelivered batch changes nothing), rollups merge exactly, latest keeps the newest reading,
//! series answer raw or bucketed, and retention drops only raw rows.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use watershed_domain::ports::{ReadModel, ReadModelError};
use watershed_domain::read_model::{
    AlertQuery, AlertRecord, ClearedBy, Points, ReadModelDelta, Resolution, SeriesQuery,
};
use watershed_domain::{
    AlertAcknowledged, AlertClearedManually, DeviceEvent, DeviceId, Label, Parked, RecordedEvent,
    RuleName, SensorName, Severity,
};
use watershed_projectors::project;

use crate::events::{
    alert_cleared, alert_raised, reading, readings, recorded, registered, unique_device,
};

pub async fn read_model_contract(read_model: Arc<dyn ReadModel>) {
    a_delta_lands_with_its_positions_and_a_replay_conflicts(&*read_model).await;
    rollups_merge_across_batches_and_latest_keeps_the_newest(&*read_model).await;
    series_are_cut_at_the_limit_and_say_so(&*read_model).await;
    retention_drops_raw_rows_only(&*read_model).await;
    decommissioning_shows_in_the_view(&*read_model).await;
    administrators_changes_show_in_the_view_as_the_history_tells(&*read_model).await;
    alerts_open_and_close_in_stream_order(&*read_model).await;
    the_alert_list_follows_raises_acknowledgements_and_clears(&*read_model).await;
    dead_letters_are_parked_once_listed_and_resolved(&*read_model).await;
}

/// An hour boundary two hours ago: every test reading falls in known buckets.
fn base() -> DateTime<Utc> {
    (Utc::now() - Duration::hours(2))
        .duration_trunc(Duration::hours(1))
        .expect("truncating to an hour")
}

async fn delta_for(
    read_model: &dyn ReadModel,
    device: &DeviceId,
    events: &[(u64, DeviceEvent)],
) -> ReadModelDelta {
    let recorded: Vec<RecordedEvent> = events
        .iter()
        .map(|(seq, e)| recorded(device, *seq, 0, e))
        .collect();
    let applied = read_model
        .stream_positions(std::slice::from_ref(device))
        .await
        .unwrap();
    project(&recorded, &applied, Utc::now() - Duration::days(2))
        .unwrap()
        .delta
}

/// Projects `events` of `device` on top of what the read model applied, and commits them.
async fn apply(read_model: &dyn ReadModel, device: &DeviceId, events: &[(u64, DeviceEvent)]) {
    read_model
        .commit(&delta_for(read_model, device, events).await)
        .await
        .unwrap();
}

fn query(
    device: &DeviceId,
    sensor: &str,
    resolution: Resolution,
    from: DateTime<Utc>,
) -> SeriesQuery {
    SeriesQuery {
        device_id: device.clone(),
        sensor: SensorName::parse(sensor).unwrap(),
        from,
        to: from + Duration::hours(1),
        resolution,
        limit: 1000,
    }
}

async fn a_delta_lands_with_its_positions_and_a_replay_conflicts(read_model: &dyn ReadModel) {
    let d = unique_device("rm-land");
    let t0 = base();
    let events = [
        (1, registered()),
        (
            2,
            readings(
                "b1",
                vec![
                    reading("temp", 20.0, t0 + Duration::seconds(10)),
                    reading("temp", 22.0, t0 + Duration::seconds(70)),
                ],
            ),
        ),
    ];
    let delta = delta_for(read_model, &d, &events).await;
    let devices_before = read_model.device_count().await.unwrap();
    read_model.commit(&delta).await.unwrap();
    assert_eq!(read_model.device_count().await.unwrap(), devices_before + 1);
    assert_eq!(
        read_model
            .stream_positions(std::slice::from_ref(&d))
            .await
            .unwrap(),
        HashMap::from([(d.clone(), 2)])
    );

    // The same delta again (a redelivery that skipped the position check) must not count twice.
    let replay = read_model.commit(&delta).await;
    assert!(
        matches!(replay, Err(ReadModelError::Conflict(_))),
        "{replay:?}"
    );
    let series = read_model
        .series(&query(&d, "temp", Resolution::Hour, t0))
        .await
        .unwrap();
    let Points::Buckets(hours) = series.points else {
        panic!("bucketed query answers buckets")
    };
    assert_eq!(hours.len(), 1);
    assert_eq!(hours[0].count, 2);
    assert_eq!(series.unit.as_ref().map(|u| u.as_str()), Some("C"));

    // Projecting the same events on top of the stored positions yields nothing to apply.
    let again = delta_for(read_model, &d, &events).await;
    assert!(again.streams.is_empty());

    let views = read_model
        .devices_by_id(std::slice::from_ref(&d))
        .await
        .unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].sensors.len(), 1);
    assert_eq!(views[0].sensors[0].value, 22.0);
    assert!(read_model
        .devices()
        .await
        .unwrap()
        .iter()
        .any(|v| v.device_id == d));
}

async fn rollups_merge_across_batches_and_latest_keeps_the_newest(read_model: &dyn ReadModel) {
    let d = unique_device("rm-merge");
    let t0 = base();
    let first = [
        (1, registered()),
        (
            2,
            readings(
                "b1",
                vec![reading("temp", 10.0, t0 + Duration::seconds(130))],
            ),
        ),
    ];
    apply(read_model, &d, &first).await;
    // An older reading arriving later: its bucket grows, the latest value does not change.
    let late = [(
        3,
        readings(
            "b2",
            vec![
                reading("temp", 4.0, t0 + Duration::seconds(125)),
                reading("temp", 30.0, t0 + Duration::seconds(5)),
            ],
        ),
    )];
    apply(read_model, &d, &late).await;

    let minutes = read_model
        .series(&query(&d, "temp", Resolution::Minute, t0))
        .await
        .unwrap();
    let Points::Buckets(minutes) = minutes.points else {
        panic!("bucketed query answers buckets")
    };
    let summary: Vec<(i64, u64, f64, f64, f64)> = minutes
        .iter()
        .map(|b| ((b.t - t0).num_seconds(), b.count, b.min, b.max, b.avg))
        .collect();
    assert_eq!(
        summary,
        vec![(0, 1, 30.0, 30.0, 30.0), (120, 2, 4.0, 10.0, 7.0)]
    );

    let raw = read_model
        .series(&query(&d, "temp", Resolution::Raw, t0))
        .await
        .unwrap();
    let Points::Raw(raw) = raw.points else {
        panic!("raw query answers points")
    };
    let values: Vec<f64> = raw.iter().map(|p| p.value).collect();
    assert_eq!(
        values,
        vec![30.0, 4.0, 10.0],
        "raw points are sorted by time"
    );

    let view = read_model
        .devices_by_id(std::slice::from_ref(&d))
        .await
        .unwrap();
    assert_eq!(
        view[0].sensors[0].value, 10.0,
        "the newest measurement stays latest"
    );
    assert_eq!(view[0].sensors[0].measured_at, t0 + Duration::seconds(130));
}

async fn series_are_cut_at_the_limit_and_say_so(read_model: &dyn ReadModel) {
    let d = unique_device("rm-limit");
    let t0 = base();
    let many = (0..5)
        .map(|i| reading("temp", f64::from(i), t0 + Duration::seconds(i64::from(i))))
        .collect();
    let events = [(1, registered()), (2, readings("b", many))];
    apply(read_model, &d, &events).await;
    let mut q = query(&d, "temp", Resolution::Raw, t0);
    q.limit = 3;
    let cut = read_model.series(&q).await.unwrap();
    assert!(cut.truncated);
    assert!(matches!(&cut.points, Points::Raw(p) if p.len() == 3));
    q.limit = 5;
    assert!(!read_model.series(&q).await.unwrap().truncated);
    let none = read_model
        .series(&query(&d, "no-such-sensor", Resolution::Raw, t0))
        .await
        .unwrap();
    assert!(matches!(none.points, Points::Raw(p) if p.is_empty()));
}

async fn retention_drops_raw_rows_only(read_model: &dyn ReadModel) {
    let d = unique_device("rm-retention");
    let t0 = base();
    let events = [
        (1, registered()),
        (
            2,
            readings(
                "b",
                vec![
                    reading("temp", 1.0, t0),
                    reading("temp", 2.0, t0 + Duration::minutes(50)),
                ],
            ),
        ),
    ];
    apply(read_model, &d, &events).await;
    let removed = read_model
        .prune_raw(t0 + Duration::minutes(30))
        .await
        .unwrap();
    assert!(removed >= 1);
    let raw = read_model
        .series(&query(&d, "temp", Resolution::Raw, t0))
        .await
        .unwrap();
    assert!(matches!(&raw.points, Points::Raw(p) if p.len() == 1 && p[0].value == 2.0));
    let hours = read_model
        .series(&query(&d, "temp", Resolution::Hour, t0))
        .await
        .unwrap();
    assert!(matches!(&hours.points, Points::Buckets(b) if b[0].count == 2));

    // More than one pruning chunk of one series: all of it goes, in however many statements.
    let many = unique_device("rm-retention-many");
    let mut events = vec![(1, registered())];
    for batch in 0..12u32 {
        let rows = (0..1000u32)
            .map(|i| {
                let at = t0 + Duration::milliseconds(i64::from(batch * 1000 + i));
                reading("temp", f64::from(i), at)
            })
            .collect();
        events.push((u64::from(batch) + 2, readings(&format!("m{batch}"), rows)));
    }
    apply(read_model, &many, &events).await;
    let removed = read_model
        .prune_raw(t0 + Duration::minutes(30))
        .await
        .unwrap();
    assert!(removed >= 12_000, "{removed}");
    let raw = read_model
        .series(&query(&many, "temp", Resolution::Raw, t0))
        .await
        .unwrap();
    assert!(matches!(&raw.points, Points::Raw(p) if p.is_empty()));
}

async fn decommissioning_shows_in_the_view(read_model: &dyn ReadModel) {
    let d = unique_device("rm-decom");
    let decommissioned =
        DeviceEvent::Decommissioned(watershed_domain::event::DeviceDecommissioned { reason: None });
    let events = [(1, registered()), (2, decommissioned)];
    apply(read_model, &d, &events).await;
    let view = read_model
        .devices_by_id(std::slice::from_ref(&d))
        .await
        .unwrap();
    assert!(view[0].decommissioned_at.is_some());
}

/// Rename, move, retag, disable and enable land in stream order, within one delta and across
/// two, and the view equals the one folded from the same history (what `?as_of=` answers).
async fn administrators_changes_show_in_the_view_as_the_history_tells(read_model: &dyn ReadModel) {
    use watershed_domain::as_of::FleetFold;
    use watershed_domain::event::{
        DeviceDisabled, DeviceEnabled, DeviceMoved, DeviceRenamed, DeviceRetagged,
    };
    use watershed_domain::read_model::Presence;
    use watershed_domain::Tag;

    let d = unique_device("rm-profile");
    let label = |s: &str| Some(Label::parse(s).unwrap());
    let tags = |names: &[&str]| names.iter().map(|t| Tag::parse(*t).unwrap()).collect();
    let first = [
        (1, registered()),
        (
            2,
            DeviceEvent::Renamed(DeviceRenamed {
                name: label("Pump 7"),
            }),
        ),
        (
            3,
            DeviceEvent::Moved(DeviceMoved {
                location: label("Hall B"),
            }),
        ),
        (
            4,
            DeviceEvent::Moved(DeviceMoved {
                location: label("Hall C"),
            }),
        ),
        (
            5,
            DeviceEvent::Retagged(DeviceRetagged {
                tags: tags(&["line-3", "site=berlin"]),
            }),
        ),
        (6, DeviceEvent::Disabled(DeviceDisabled { reason: None })),
    ];
    apply(read_model, &d, &first).await;
    let view = read_model
        .devices_by_id(std::slice::from_ref(&d))
        .await
        .unwrap();
    let view = &view[0];
    assert_eq!(view.name, label("Pump 7"));
    assert_eq!(view.location, label("Hall C"), "the later move wins");
    let names: Vec<&str> = view.tags.iter().map(Tag::as_str).collect();
    assert_eq!(names, ["line-3", "site=berlin"]);
    assert!(view.disabled_at.is_some());
    assert_eq!(view.presence(Utc::now()), Presence::Disabled);

    let second = [
        (7, DeviceEvent::Enabled(DeviceEnabled {})),
        (8, DeviceEvent::Renamed(DeviceRenamed { name: None })),
        (
            9,
            DeviceEvent::Retagged(DeviceRetagged { tags: Vec::new() }),
        ),
    ];
    apply(read_model, &d, &second).await;
    let stored = read_model
        .devices_by_id(std::slice::from_ref(&d))
        .await
        .unwrap();
    let view = &stored[0];
    assert_eq!((view.name.clone(), view.disabled_at), (None, None));
    assert!(view.tags.is_empty());

    let mut fold = FleetFold::default();
    for (seq, event) in first.iter().chain(&second) {
        fold.apply(&recorded(&d, *seq, 0, event)).unwrap();
    }
    let folded = fold.into_view(&d).unwrap();
    assert_eq!(
        (
            &folded.name,
            &folded.location,
            &folded.tags,
            folded.disabled_at
        ),
        (&view.name, &view.location, &view.tags, view.disabled_at)
    );
}

async fn alerts_open_and_close_in_stream_order(read_model: &dyn ReadModel) {
    let d = unique_device("rm-alerts");
    let other = unique_device("rm-alerts-other");
    let open_rules = |views: Vec<watershed_domain::read_model::DeviceView>| {
        views[0]
            .alerts
            .iter()
            .map(|a| (a.rule.to_string(), a.value))
            .collect::<Vec<_>>()
    };
    // Raised, cleared and raised again within one delta: only the last raise stays open.
    let events = [
        (1, registered()),
        (2, alert_raised("too-hot", 31.0)),
        (3, alert_raised("way-too-hot", 45.0)),
        (4, alert_cleared("too-hot", 20.0)),
        (5, alert_raised("too-hot", 33.0)),
    ];
    apply(read_model, &d, &events).await;
    apply(read_model, &other, &[(1, registered())]).await;
    let views = read_model
        .devices_by_id(std::slice::from_ref(&d))
        .await
        .unwrap();
    let alert = &views[0].alerts[0];
    assert_eq!(alert.sensor.as_str(), "temperature");
    assert_eq!(alert.threshold, 30.0);
    assert_eq!(alert.unit.as_ref().map(|u| u.as_str()), Some("C"));
    assert_eq!(
        open_rules(views),
        [
            ("way-too-hot".to_owned(), 45.0),
            ("too-hot".to_owned(), 33.0)
        ],
        "oldest first"
    );
    let all = read_model.devices().await.unwrap();
    let of = |id: &DeviceId| all.iter().find(|v| &v.device_id == id).unwrap();
    assert_eq!(of(&d).alerts.len(), 2, "the fleet list carries alerts too");
    assert!(
        of(&other).alerts.is_empty(),
        "alerts stay with their device"
    );

    apply(read_model, &d, &[(6, alert_cleared("way-too-hot", 1.0))]).await;
    let views = read_model
        .devices_by_id(std::slice::from_ref(&d))
        .await
        .unwrap();
    assert_eq!(open_rules(views), [("too-hot".to_owned(), 33.0)]);

    let decommissioned =
        DeviceEvent::Decommissioned(watershed_domain::event::DeviceDecommissioned { reason: None });
    apply(read_model, &d, &[(7, decommissioned)]).await;
    let views = read_model
        .devices_by_id(std::slice::from_ref(&d))
        .await
        .unwrap();
    assert!(
        views[0].alerts.is_empty(),
        "a decommissioned device has no open alerts"
    );
}

async fn the_alert_list_follows_raises_acknowledgements_and_clears(read_model: &dyn ReadModel) {
    let d = unique_device("rm-alert-list");
    let person = |s: &str| Label::parse(s).unwrap();
    let stream: Vec<RecordedEvent> = [
        registered(),
        alert_raised("too-hot", 31.0),
        alert_raised("low-battery", 5.0),
    ]
    .iter()
    .zip(1..)
    .map(|(e, seq)| recorded(&d, seq, 0, e))
    .collect();
    let (hot, battery) = (stream[1].meta.event_id, stream[2].meta.event_id);
    let ack = DeviceEvent::AlertAcknowledged(AlertAcknowledged {
        alert_id: hot,
        rule: RuleName::parse("too-hot").unwrap(),
        severity: Severity::Major,
        by: person("Ana"),
        note: Some(person("on it")),
    });
    let by_hand = DeviceEvent::AlertClearedManually(AlertClearedManually {
        alert_id: battery,
        rule: RuleName::parse("low-battery").unwrap(),
        severity: Severity::Major,
        by: person("Ben"),
        note: None,
    });
    let later: Vec<RecordedEvent> = [ack, alert_cleared("too-hot", 20.0), by_hand]
        .iter()
        .zip(4..)
        .map(|(e, seq)| recorded(&d, seq, 0, e))
        .collect();
    let commit = |events: Vec<RecordedEvent>| async move {
        let applied = read_model
            .stream_positions(std::slice::from_ref(&events[0].stream_id))
            .await
            .unwrap();
        let delta = project(&events, &applied, Utc::now() - Duration::days(2))
            .unwrap()
            .delta;
        read_model.commit(&delta).await.unwrap();
    };
    let device = &d;
    let list = |query: AlertQuery| async move {
        read_model
            .alerts(&AlertQuery {
                device: Some(device.clone()),
                limit: 10,
                ..query
            })
            .await
            .unwrap()
    };
    commit(stream).await;
    let active = list(AlertQuery::default()).await;
    assert_eq!(
        active.iter().map(|a| a.alert_id).collect::<Vec<_>>(),
        [battery, hot],
        "newest raised first"
    );
    assert!(active
        .iter()
        .all(|a| a.cleared.is_none() && a.acknowledged.is_none()));
    assert_eq!(active[1].alert.value, 31.0);
    assert_eq!(active[1].alert.rule.as_str(), "too-hot");
    assert_eq!(active[1].severity, Severity::Major);

    commit(later).await;
    let all = list(AlertQuery::default()).await;
    assert_eq!(all.len(), 2);
    let of = |id| all.iter().find(|a| a.alert_id == id).unwrap();
    let ack = of(hot).acknowledged.as_ref().expect("acknowledged");
    assert_eq!(
        (ack.by.as_str(), ack.note.as_ref().map(Label::as_str)),
        ("Ana", Some("on it"))
    );
    assert!(matches!(of(hot).cleared, Some((_, ClearedBy::Rule { value })) if value == 20.0));
    assert!(
        matches!(&of(battery).cleared, Some((_, ClearedBy::Person { by, note: None })) if by.as_str() == "Ben")
    );
    assert!(of(battery).acknowledged.is_none());

    let ids = |alerts: Vec<AlertRecord>| alerts.iter().map(|a| a.alert_id).collect::<Vec<_>>();
    let only = |active, acknowledged| AlertQuery {
        active,
        acknowledged,
        ..AlertQuery::default()
    };
    assert!(list(only(Some(true), None)).await.is_empty());
    assert_eq!(ids(list(only(Some(false), Some(true))).await), [hot]);
    assert_eq!(ids(list(only(None, Some(false))).await), [battery]);
    let critical = AlertQuery {
        severity: Some(Severity::Critical),
        ..AlertQuery::default()
    };
    assert!(list(critical).await.is_empty());
    let by_id = AlertQuery {
        alert_id: Some(hot),
        ..AlertQuery::default()
    };
    assert_eq!(ids(list(by_id).await), [hot]);
    let one = AlertQuery {
        limit: 1,
        ..AlertQuery::default()
    };
    assert_eq!(
        read_model.alerts(&one).await.unwrap().len(),
        1,
        "the limit holds"
    );
}

async fn dead_letters_are_parked_once_listed_and_resolved(read_model: &dyn ReadModel) {
    let d = unique_device("rm-dead");
    let event = recorded(&d, 2, 0, &readings("b", vec![reading("t", 1.0, base())]));
    let letter = Parked::event(&event, "undecodable");
    let raw = Parked {
        device_id: None,
        stream_seq: None,
        source: format!("kafka:0:{}", uuid::Uuid::now_v7().as_u128() % 1_000_000),
        event: None,
        raw: Some("ce_type: ?\n\n{".to_owned()),
        error: "not a Watershed CloudEvent".to_owned(),
    };
    let delta = ReadModelDelta::parking(vec![letter.clone(), raw.clone()]);
    read_model.commit(&delta).await.unwrap();
    read_model
        .commit(&ReadModelDelta::parking(vec![letter.clone()]))
        .await
        .expect("parking the same event again is a no-op");

    let mine = read_model.dead_letters(Some(&d)).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].parked, letter, "the event comes back whole");
    let all = read_model.dead_letters(None).await.unwrap();
    assert!(all.iter().any(|l| l.parked == raw));
    let other = unique_device("rm-dead-other");
    assert_eq!(
        read_model
            .parked_streams(&[d.clone(), other])
            .await
            .unwrap(),
        std::collections::HashSet::from([d.clone()])
    );

    let ids = all
        .iter()
        .filter(|l| l.parked == raw || l.parked == letter)
        .map(|l| l.id)
        .collect();
    read_model
        .commit(&ReadModelDelta::resolving(ids))
        .await
        .unwrap();
    assert!(read_model.dead_letters(Some(&d)).await.unwrap().is_empty());
    assert!(read_model.parked_streams(&[d]).await.unwrap().is_empty());
}
