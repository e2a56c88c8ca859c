//! What every usage counter promises: it answers as `domain::limits` decides, step for step,
//! takes and refunds alike (so the Redis script and the in-process counter never disagree), and
//! concurrent takes through several instances never spend the same readings twice.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use watershed_domain::limits::{self, Limits, Usage};
use watershed_domain::ports::UsageCounter;

use crate::events::unique_device;

pub async fn usage_counter_contract(counter: &dyn UsageCounter) {
    answers_as_the_domain_decides(counter).await;
    limits_apply_per_device(counter).await;
}

enum Step {
    /// Take so many readings; granted or not.
    Take(u64, bool),
    Refund(u64),
}

async fn answers_as_the_domain_decides(counter: &dyn UsageCounter) {
    use Step::{Refund, Take};
    let device = unique_device("usage");
    let l = Limits {
        readings_per_second: Some(100),
        readings_per_day: Some(250),
    };
    let t0: DateTime<Utc> = "2026-12-01T23:59:46.500Z".parse().unwrap();
    let ms = Duration::milliseconds;
    let steps = [
        (ms(0), Take(60, true)),
        (ms(0), Take(60, false)),  // 40 left in the bucket
        (ms(500), Take(60, true)), // 50 more refilled
        (ms(500), Refund(60)),
        (ms(1_500), Take(1000, false)), // the bucket would lend, the quota does not
        (ms(2_000), Take(1, true)),
        (ms(12_000), Take(100, true)),
        (ms(13_000), Take(100, false)), // 161 used of 250
        // A new UTC day: the quota starts again, the bucket does not.
        (ms(14_000), Take(100, true)),
        (ms(14_100), Take(100, false)),
    ];
    let mut model: Option<Usage> = None;
    for (i, (after, step)) in steps.iter().enumerate() {
        let now = t0 + *after;
        match step {
            Take(n, granted) => {
                let (usage, expected) = limits::take(model, *n, &l, now);
                model = Some(usage);
                assert_eq!(
                    expected.granted(),
                    *granted,
                    "step {i}: the domain's decision"
                );
                let got = counter.take(&device, *n, &l, now).await.unwrap();
                assert_eq!(got, expected, "step {i}: take {n} at {now}");
            }
            Refund(n) => {
                model = model.map(|u| limits::refund(u, *n, &l, now));
                counter.refund(&device, *n, &l, now).await.unwrap();
            }
        }
    }
}

async fn limits_apply_per_device(counter: &dyn UsageCounter) {
    let (a, b) = (unique_device("usage-a"), unique_device("usage-b"));
    let l = Limits {
        readings_per_second: None,
        readings_per_day: Some(10),
    };
    let now = Utc::now();
    assert!(counter.take(&a, 10, &l, now).await.unwrap().granted());
    assert!(!counter.take(&a, 1, &l, now).await.unwrap().granted());
    assert!(
        counter.take(&b, 10, &l, now).await.unwrap().granted(),
        "another device's usage is its own"
    );
}

/// Instances sharing one store (several command-api processes) take at once: the quota is spent
/// exactly, never twice.
pub async fn shared_usage_is_spent_once(instances: Vec<Arc<dyn UsageCounter>>) {
    let device = unique_device("usage-shared");
    let l = Limits {
        readings_per_second: None,
        readings_per_day: Some(300),
    };
    let now = Utc::now();
    let takes = instances.iter().cycle().take(100).map(|counter| {
        let (counter, device) = (Arc::clone(counter), device.clone());
        tokio::spawn(async move { counter.take(&device, 10, &l, now).await.unwrap().granted() })
    });
    let mut granted = 0;
    for take in takes.collect::<Vec<_>>() {
        granted += usize::from(take.await.unwrap());
    }
    assert_eq!(granted, 30, "300 readings of quota, 10 per take");
}
