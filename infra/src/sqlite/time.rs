//! Timestamps are stored as integer microseconds since the Unix epoch: compact, sortable, exact.

use chrono::{DateTime, Utc};

pub(crate) fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us)
        .expect("stored timestamps were valid DateTimes when written")
}
