//! What analysts read: the whole history of the fleet, filtered, in pages that resume exactly
//! where the last one stopped.

use chrono::{DateTime, Utc};

use crate::event::{DeviceEvent, RecordedEvent};
use crate::ids::DeviceId;
use crate::ports::{ChangeFeed, FeedCursor, StoreError};

/// A half-open span of time, `[from, to)`; an open end is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl TimeRange {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| t >= from) && self.to.is_none_or(|to| t < to)
    }

    pub fn is_unbounded(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

/// Which events of the history an analyst wants. Empty lists select everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    pub devices: Vec<DeviceId>,
    pub types: Vec<String>,
    /// When the server accepted the event.
    pub recorded: TimeRange,
    /// When the device measured: a readings batch is selected when any of its readings falls in
    /// the range (the event is kept whole; exports then keep only those readings), any other
    /// event by its `occurred_at`.
    pub measured: TimeRange,
}

impl HistoryFilter {
    /// Whether `event` is selected.
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        (self.devices.is_empty() || self.devices.contains(&event.stream_id))
            && (self.types.is_empty() || self.types.contains(&event.event_type))
            && self.recorded.contains(event.meta.recorded_at)
            && self.measured_matches(event)
    }

    /// The measured-at part of [`Self::matches`] alone: what a store that filtered the rest in its
    /// query still has to check.
    pub fn measured_matches(&self, event: &RecordedEvent) -> bool {
        if self.measured.is_unbounded() {
            return true;
        }
        if event.event_type != "ReadingsRecorded" {
            return self.measured.contains(event.meta.occurred_at);
        }
        match event.decode() {
            Ok(DeviceEvent::ReadingsRecorded(batch)) => batch
                .readings
                .iter()
                .any(|r| self.measured.contains(r.measured_at)),
            // Undecodable events are shown to the analyst rather than hidden by a filter.
            _ => true,
        }
    }
}

/// One page of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    /// Selected events, in the store's history order (commit order where the store has one, per
    /// device order always).
    pub events: Vec<RecordedEvent>,
    /// Where the next page starts: after every event this page read, selected or not.
    pub next: FeedCursor,
    /// Nothing after `next` was committed when the page was read.
    pub at_end: bool,
    /// Events of the store read for this page, selected or not: the progress through it.
    pub scanned: usize,
}

/// The history read through a change feed and filtered here: for stores whose feed cannot filter
/// (Cosmos DB's change feed has no predicates). Every event is read once whatever the filter.
pub async fn read_through_feed(
    feed: &dyn ChangeFeed,
    filter: &HistoryFilter,
    after: &FeedCursor,
    max: usize,
) -> Result<HistoryPage, StoreError> {
    let page = feed.read_changes(after, max).await?;
    let at_end = page.events.is_empty();
    let scanned = page.events.len();
    let events = page
        .events
        .into_iter()
        .filter(|e| filter.matches(e))
        .collect();
    Ok(HistoryPage {
        events,
        next: page.next,
        at_end,
        scanned,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;
    use crate::event::EventMeta;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    fn readings(device: &str, measured: &[i64], recorded: i64) -> RecordedEvent {
        let readings: Vec<_> = measured
            .iter()
            .map(|s| {
                format!(
                    r#"{{"sensor":"t","value":1.0,"measured_at":"{}"}}"#,
                    at(*s).to_rfc3339()
                )
            })
            .collect();
        RecordedEvent {
            position: 1,
            stream_id: DeviceId::parse(device).unwrap(),
            stream_seq: 1,
            event_type: "ReadingsRecorded".to_owned(),
            schema_version: 1,
            meta: EventMeta {
                event_id: Uuid::nil(),
                occurred_at: at(*measured.iter().max().unwrap()),
                recorded_at: at(recorded),
                correlation_id: None,
                causation_id: None,
            },
            payload: format!(r#"{{"batch_id":"b","readings":[{}]}}"#, readings.join(",")),
        }
    }

    #[test]
    fn ranges_are_half_open() {
        let range = TimeRange {
            from: Some(at(10)),
            to: Some(at(20)),
        };
        assert!(!range.contains(at(9)));
        assert!(range.contains(at(10)));
        assert!(range.contains(at(19)));
        assert!(!range.contains(at(20)));
    }

    #[test]
    fn a_batch_is_selected_by_any_of_its_readings_not_only_its_newest() {
        let event = readings("d-1", &[100, 200], 300);
        let early = HistoryFilter {
            measured: TimeRange {
                from: Some(at(50)),
                to: Some(at(150)),
            },
            ..HistoryFilter::default()
        };
        assert!(early.matches(&event), "the reading at 100 is in range");
        let between = HistoryFilter {
            measured: TimeRange {
                from: Some(at(120)),
                to: Some(at(180)),
            },
            ..HistoryFilter::default()
        };
        assert!(!between.matches(&event));
    }

    #[test]
    fn devices_types_and_recorded_time_all_narrow() {
        let event = readings("d-1", &[100], 300);
        let other_device = HistoryFilter {
            devices: vec![DeviceId::parse("d-2").unwrap()],
            ..HistoryFilter::default()
        };
        assert!(!other_device.matches(&event));
        let other_type = HistoryFilter {
            types: vec!["AlertRaised".to_owned()],
            ..HistoryFilter::default()
        };
        assert!(!other_type.matches(&event));
        let later = HistoryFilter {
            recorded: TimeRange {
                from: Some(at(301)),
                to: None,
            },
            ..HistoryFilter::default()
        };
        assert!(!later.matches(&event));
        assert!(HistoryFilter::default().matches(&event));
    }
}
