//! Per-device ingest limits, as API Management's rate-limit-by-key and quota-by-key give: a rate
//! in readings per second (a token bucket one second deep) and a quota of readings per UTC day.
//! Counted in readings, not requests: a batch of 500 costs 500. The decision is pure; where the
//! counts live (in process and a SQLite file, or Redis for several instances) is an adapter's
//! business (`ports::UsageCounter`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::Label;
use crate::validation::ValidationError;

const DAY_SECS: i64 = 86_400;

/// A device's limits in readings (a batch of 100 counts 100); `None` is no limit. Each is at
/// least 1 (`validated`): a device that may send nothing is disabled instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Sustained rate; a burst of up to one second's worth is granted at once.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub readings_per_second: Option<u32>,
    /// Per UTC day.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub readings_per_day: Option<u64>,
}

impl Limits {
    /// These limits, if each is at least 1; the error names the one that is not.
    pub fn validated(self) -> Result<Self, ValidationError> {
        let zero = [
            ("readings_per_second", self.readings_per_second == Some(0)),
            ("readings_per_day", self.readings_per_day == Some(0)),
        ];
        match zero.into_iter().find(|(_, zero)| *zero) {
            Some((field, _)) => Err(ValidationError::new(
                field,
                "must be at least 1; disable a device that may send nothing",
            )),
            None => Ok(self),
        }
    }

    pub fn is_unlimited(&self) -> bool {
        self.readings_per_second.is_none() && self.readings_per_day.is_none()
    }

    /// Each limit `over` sets, else this one's.
    pub fn overridden_by(self, over: Limits) -> Limits {
        Limits {
            readings_per_second: over.readings_per_second.or(self.readings_per_second),
            readings_per_day: over.readings_per_day.or(self.readings_per_day),
        }
    }
}

/// The limits of every device: a default, per device kind, and a device's own override (set by
/// an administrator, kept in its stream). The most specific setting of each limit wins.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitPolicy {
    pub default: Limits,
    pub kinds: HashMap<Label, Limits>,
}

impl LimitPolicy {
    pub fn is_unlimited(&self) -> bool {
        self.default.is_unlimited() && self.kinds.values().all(Limits::is_unlimited)
    }

    pub fn for_device(&self, kind: Option<&Label>, own: Limits) -> Limits {
        let of_kind = kind
            .and_then(|k| self.kinds.get(k))
            .copied()
            .unwrap_or_default();
        self.default.overridden_by(of_kind).overridden_by(own)
    }
}

/// What one device has used: the state a counter keeps per device.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Readings the rate bucket holds at `at_us`; below zero after a batch larger than the
    /// bucket, which borrows from the next second(s).
    pub tokens: f64,
    pub at_us: i64,
    /// The UTC day (days since 1970-01-01) `used` counts.
    pub day: i64,
    pub used: u64,
}

/// Which limit refused a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Rate,
    Quota,
}

/// What is left of one limit: `remaining` readings, full again (rate) or reset (quota) in
/// `reset_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Left {
    pub limit: u64,
    pub remaining: u64,
    pub reset_secs: u64,
}

/// A counter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// `None`: granted and counted.
    pub refused: Option<(Exceeded, RetryAfter)>,
    pub rate: Option<Left>,
    pub quota: Option<Left>,
}

/// Whole seconds until a refused batch could be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl Decision {
    pub fn granted(&self) -> bool {
        self.refused.is_none()
    }
}

/// Takes `n` readings from `usage` (none yet: a full bucket, nothing used today) under `limits`
/// at `now`. Either both limits grant and both count, or nothing changes.
pub fn take(
    usage: Option<Usage>,
    n: u64,
    limits: &Limits,
    now: DateTime<Utc>,
) -> (Usage, Decision) {
    let mut usage = refreshed(usage, limits, now);
    let mut refused = None;
    if let Some(rate) = limits.readings_per_second {
        let rate = f64::from(rate);
        // A batch larger than the bucket needs a full one, then borrows.
        let needed = (n as f64).min(rate);
        if usage.tokens < needed {
            refused = Some((
                Exceeded::Rate,
                RetryAfter(((needed - usage.tokens) / rate).ceil() as u64),
            ));
        }
    }
    if let Some(quota) = limits.readings_per_day {
        if refused.is_none() && usage.used.saturating_add(n) > quota {
            refused = Some((Exceeded::Quota, RetryAfter(secs_to_midnight(now))));
        }
    }
    if refused.is_none() {
        usage.tokens -= n as f64;
        usage.used = usage.used.saturating_add(n);
    }
    (usage, decision(&usage, refused, limits, now))
}

/// The answer to a take that left `usage` behind: what is left of each limit.
pub fn decision(
    usage: &Usage,
    refused: Option<(Exceeded, RetryAfter)>,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Decision {
    Decision {
        refused,
        rate: limits
            .readings_per_second
            .map(|rate| rate_left(usage, rate)),
        quota: limits.readings_per_day.map(|quota| Left {
            limit: quota,
            remaining: quota.saturating_sub(usage.used),
            reset_secs: secs_to_midnight(now),
        }),
    }
}

/// The UTC day of `now`, in days since 1970-01-01: what `Usage::day` holds.
pub fn day_of(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(DAY_SECS)
}

/// Gives back `n` readings taken at `now` that were not stored after all (a resend of a stored
/// batch, a refusal by the device, a store failure): they count against nothing.
pub fn refund(usage: Usage, n: u64, limits: &Limits, now: DateTime<Utc>) -> Usage {
    let mut usage = refreshed(Some(usage), limits, now);
    if let Some(rate) = limits.readings_per_second {
        usage.tokens = (usage.tokens + n as f64).min(f64::from(rate));
    }
    usage.used = usage.used.saturating_sub(n);
    usage
}

/// `usage` brought to `now`: the bucket refilled for the time passed, the count of a past day
/// dropped.
fn refreshed(usage: Option<Usage>, limits: &Limits, now: DateTime<Utc>) -> Usage {
    let full = limits.readings_per_second.map_or(0.0, f64::from);
    let today = day_of(now);
    let now_us = now.timestamp_micros();
    let Some(mut usage) = usage else {
        return Usage {
            tokens: full,
            at_us: now_us,
            day: today,
            used: 0,
        };
    };
    // A clock that steps back refills nothing.
    let elapsed = (now_us - usage.at_us).max(0) as f64 / 1e6;
    usage.tokens = (usage.tokens + elapsed * full).min(full);
    usage.at_us = usage.at_us.max(now_us);
    if usage.day != today {
        usage.day = today;
        usage.used = 0;
    }
    usage
}

fn rate_left(usage: &Usage, rate: u32) -> Left {
    let full = f64::from(rate);
    Left {
        limit: u64::from(rate),
        remaining: usage.tokens.max(0.0).floor() as u64,
        reset_secs: ((full - usage.tokens) / full).ceil().max(0.0) as u64,
    }
}

/// Seconds until the next UTC midnight, when the daily quota starts again.
pub fn secs_to_midnight(now: DateTime<Utc>) -> u64 {
    (DAY_SECS - now.timestamp().rem_euclid(DAY_SECS)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn limits(rate: Option<u32>, day: Option<u64>) -> Limits {
        Limits {
            readings_per_second: rate,
            readings_per_day: day,
        }
    }

    #[test]
    fn the_rate_grants_a_bucket_per_second_and_refills_with_time() {
        let l = limits(Some(100), None);
        let t0 = at("2026-12-01T10:00:00Z");
        let (u, d) = take(None, 60, &l, t0);
        assert!(d.granted());
        assert_eq!(d.rate.unwrap().remaining, 40);
        let (u, d) = take(Some(u), 60, &l, t0);
        assert_eq!(d.refused, Some((Exceeded::Rate, RetryAfter(1))));
        assert_eq!(u.tokens, 40.0, "a refusal takes nothing");
        let half = at("2026-12-01T10:00:00.5Z");
        let (u, d) = take(Some(u), 60, &l, half);
        assert!(d.granted(), "40 + 50 refilled");
        assert_eq!(u.tokens, 30.0);
    }

    #[test]
    fn a_batch_larger_than_the_bucket_waits_for_a_full_one_and_then_borrows() {
        let l = limits(Some(100), None);
        let t0 = at("2026-12-01T10:00:00Z");
        let (u, d) = take(None, 1000, &l, t0);
        assert!(d.granted());
        assert_eq!(u.tokens, -900.0);
        let (_, d) = take(Some(u), 1, &l, at("2026-12-01T10:00:05Z"));
        assert_eq!(
            d.refused,
            Some((Exceeded::Rate, RetryAfter(5))),
            "the average holds"
        );
    }

    #[test]
    fn the_daily_quota_resets_at_utc_midnight() {
        let l = limits(None, Some(1000));
        let evening = at("2026-12-01T23:59:00Z");
        let (u, d) = take(None, 900, &l, evening);
        assert!(d.granted());
        let (u, d) = take(Some(u), 200, &l, evening);
        assert_eq!(d.refused, Some((Exceeded::Quota, RetryAfter(60))));
        assert_eq!(d.quota.unwrap().remaining, 100);
        let (_, d) = take(Some(u), 200, &l, at("2026-12-02T00:00:01Z"));
        assert!(d.granted());
        assert_eq!(d.quota.unwrap().remaining, 800);
    }

    #[test]
    fn both_limits_must_grant_and_a_refund_gives_back() {
        let l = limits(Some(100), Some(150));
        let t0 = at("2026-12-01T10:00:00Z");
        let (u, _) = take(None, 100, &l, t0);
        let later = at("2026-12-01T10:00:02Z");
        let (u, d) = take(Some(u), 100, &l, later);
        assert_eq!(d.refused.map(|r| r.0), Some(Exceeded::Quota));
        assert_eq!(
            (u.tokens, u.used),
            (100.0, 100),
            "the rate took nothing either"
        );
        let u = refund(u, 100, &l, later);
        assert_eq!((u.tokens, u.used), (100.0, 0));
        assert!(take(Some(u), 100, &l, later).1.granted());
    }

    #[test]
    fn a_limit_of_zero_is_refused_by_name() {
        assert_eq!(
            limits(Some(1), Some(1)).validated(),
            Ok(limits(Some(1), Some(1)))
        );
        assert_eq!(
            limits(Some(5), Some(0)).validated().unwrap_err().field,
            "readings_per_day"
        );
        assert_eq!(
            limits(Some(0), None).validated().unwrap_err().field,
            "readings_per_second"
        );
    }

    #[test]
    fn the_most_specific_setting_of_each_limit_wins() {
        let pump = Label::parse("pump").unwrap();
        let policy = LimitPolicy {
            default: limits(Some(1000), Some(1_000_000)),
            kinds: HashMap::from([(pump.clone(), limits(Some(10), None))]),
        };
        assert_eq!(
            policy.for_device(Some(&pump), Limits::default()),
            limits(Some(10), Some(1_000_000))
        );
        assert_eq!(
            policy.for_device(Some(&pump), limits(None, Some(5))),
            limits(Some(10), Some(5))
        );
        assert_eq!(policy.for_device(None, Limits::default()), policy.default);
    }
}
