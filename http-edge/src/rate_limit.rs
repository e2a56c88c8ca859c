//! A device's limits as the IETF RateLimit header fields tell them (draft-ietf-httpapi-ratelimit-
//! headers, structured fields): `RateLimit-Policy` names each limit (`"rate"`: readings per
//! second, `"daily"`: readings per UTC day) with its quota `q` and window `w`; `RateLimit` says
//! what is left of each (`r`) and when it is whole again (`t`, seconds). Quota units are readings.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use watershed_domain::limits::{Decision, Left};

pub const RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Adds both fields for `decision`; nothing when no limit applies.
pub fn insert_headers(headers: &mut HeaderMap, decision: &Decision) {
    let limits: Vec<(&str, u64, Left)> = [
        decision.rate.map(|left| ("rate", 1, left)),
        decision.quota.map(|left| ("daily", 86_400, left)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if limits.is_empty() {
        return;
    }
    let policy = limits
        .iter()
        .map(|(name, window, left)| format!("\"{name}\";q={};w={window}", left.limit))
        .collect::<Vec<_>>()
        .join(", ");
    let state = limits
        .iter()
        .map(|(name, _, left)| format!("\"{name}\";r={};t={}", left.remaining, left.reset_secs))
        .collect::<Vec<_>>()
        .join(", ");
    for (name, value) in [(RATE_LIMIT_POLICY, policy), (RATE_LIMIT, state)] {
        headers.insert(
            name,
            HeaderValue::from_str(&value).expect("names and integers are valid header text"),
        );
    }
}
