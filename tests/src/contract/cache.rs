//! What every device cache promises: a put is read back, and the fleet list is offered only once
//! the cache was filled whole.

use std::sync::Arc;

use chrono::Utc;
use watershed_domain::ports::DeviceCache;
use watershed_domain::read_model::{DeviceView, OpenAlert};
use watershed_domain::{Condition, DeviceId, Label, RuleName, SensorName, Unit};

use crate::events::unique_device;

fn view(id: &DeviceId, location: &str) -> DeviceView {
    DeviceView {
        device_id: id.clone(),
        name: None,
        kind: None,
        location: Some(Label::parse(location).unwrap()),
        registered_at: Utc::now(),
        decommissioned_at: None,
        disabled_at: None,
        tags: Vec::new(),
        sensors: Vec::new(),
        // Whole views are cached, open alerts included.
        alerts: vec![OpenAlert {
            rule: RuleName::parse("too-hot").unwrap(),
            sensor: SensorName::parse("temperature").unwrap(),
            condition: Condition::Above,
            threshold: 30.0,
            value: 31.5,
            unit: Some(Unit::parse("C").unwrap()),
            message: Some(Label::parse(format!("{location} is hot")).unwrap()),
            raised_at: Utc::now(),
        }],
    }
}

/// Run against an empty cache: it checks that an unfilled cache offers no fleet list.
pub async fn device_cache_contract(cache: Arc<dyn DeviceCache>) {
    let (a, b) = (unique_device("cache-a"), unique_device("cache-b"));
    let a1 = view(&a, "one");
    assert_eq!(cache.get(&a).await.unwrap(), None);
    assert_eq!(
        cache.all().await.unwrap(),
        None,
        "never filled whole: no fleet list"
    );

    cache.put(std::slice::from_ref(&a1)).await.unwrap();
    assert_eq!(cache.get(&a).await.unwrap(), Some(a1.clone()));
    assert_eq!(
        cache.all().await.unwrap(),
        None,
        "a put does not make the cache complete"
    );
    assert_eq!(
        cache.count().await.unwrap(),
        None,
        "no count until complete"
    );

    let b1 = view(&b, "two");
    cache.replace_all(&[b1.clone(), a1.clone()]).await.unwrap();
    let mut expected = vec![a1.clone(), b1.clone()];
    expected.sort_by(|x, y| x.device_id.cmp(&y.device_id));
    assert_eq!(cache.all().await.unwrap(), Some(expected));
    assert_eq!(cache.count().await.unwrap(), Some(2));

    let a2 = view(&a, "moved");
    cache.put(std::slice::from_ref(&a2)).await.unwrap();
    assert_eq!(cache.get(&a).await.unwrap(), Some(a2.clone()));
    let all = cache
        .all()
        .await
        .unwrap()
        .expect("still complete after a put");
    assert!(all.contains(&a2) && !all.contains(&a1));

    cache.replace_all(std::slice::from_ref(&b1)).await.unwrap();
    assert_eq!(
        cache.get(&a).await.unwrap(),
        None,
        "replace_all drops what it does not name"
    );
    assert_eq!(cache.count().await.unwrap(), Some(1));
}
