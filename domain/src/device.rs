//! The Device aggregate: `decide` turns a command into events or refuses it; `evolve` folds an
//! event into the state. Both are pure, so every rule is tested without I/O.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use std::collections::BTreeSet;

use crate::device_token::Credential;
use crate::event::{
    DeviceDecommissioned, DeviceDisabled, DeviceEnabled, DeviceEvent, DeviceKeyRotated,
    DeviceLimitsChanged, DeviceMoved, DeviceRegistered, DeviceRenamed, DeviceRetagged,
    ReadingsRecorded, SensorsAdded,
};
use crate::ids::{DeviceId, Label, SensorName, Tag};
use crate::limits::Limits;
use crate::reading::ReadingBatch;

/// SHA-256 of a device key. Keys are 256-bit random strings, so a fast hash is enough: there is
/// nothing to brute-force, and ingest pays for this on every request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// The key device tokens are signed with (`device_token`): the server keeps only the hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Compares in constant time so response timing tells nothing about the stored hash.
    pub fn matches(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHash(…)")
    }
}

impl TryFrom<String> for KeyHash {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&s, &mut bytes).map_err(|e| format!("key hash: {e}"))?;
        Ok(Self(bytes))
    }
}

impl From<KeyHash> for String {
    fn from(h: KeyHash) -> Self {
        hex::encode(h.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceStatus {
    #[default]
    Unregistered,
    Active,
    /// Refuses its device's readings until enabled again.
    Disabled,
    Decommissioned,
}

/// What `decide` needs to know about one device, folded from its stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Device {
    /// The stream's last sequence; 0 before registration.
    pub version: u64,
    pub status: DeviceStatus,
    key_hash: Option<KeyHash>,
    /// The key a rotation replaced, and until when it still works.
    previous_key: Option<(KeyHash, DateTime<Utc>)>,
    /// Every sensor the device reported since sensors were recorded.
    sensors: BTreeSet<SensorName>,
    pub profile: Profile,
}

/// What an administrator says about a device: changed by `Command::ChangeProfile` but for
/// `kind`, which is fixed at registration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Profile {
    pub name: Option<Label>,
    pub kind: Option<Label>,
    pub location: Option<Label>,
    pub tags: BTreeSet<Tag>,
    /// The device's own limits, over its kind's.
    pub limits: Limits,
}

/// The most tags a device carries.
pub const MAX_TAGS: usize = 32;

impl Device {
    /// The event types that change this state; every other event only advances the version, so a
    /// device with millions of readings is rebuilt from a handful of events.
    pub const STATE_EVENT_TYPES: &'static [&'static str] = &[
        "DeviceRegistered",
        "DeviceKeyRotated",
        "SensorsAdded",
        "DeviceDecommissioned",
        "DeviceRenamed",
        "DeviceMoved",
        "DeviceRetagged",
        "DeviceDisabled",
        "DeviceEnabled",
        "DeviceLimitsChanged",
    ];
}

impl Device {
    /// The keys that work at `now`: the current one, and the one a rotation replaced until its
    /// deadline. An unregistered device has none, so an unknown id and a wrong key look the
    /// same to a caller.
    fn valid_keys(&self, now: DateTime<Utc>) -> impl Iterator<Item = &KeyHash> {
        let previous = self
            .previous_key
            .as_ref()
            .filter(|(_, until)| now < *until)
            .map(|(key, _)| key);
        self.key_hash.iter().chain(previous)
    }

    /// Whether `presented` is the hash of a key that works at `now`.
    pub fn accepts_key(&self, presented: &KeyHash, now: DateTime<Utc>) -> bool {
        self.valid_keys(now).any(|k| k.matches(presented))
    }

    /// The hash of the key `presented` proves at `now`, if it proves one that works: the key
    /// itself, or an unexpired token of this device signed with it.
    pub fn key_proven_by(
        &self,
        id: &DeviceId,
        presented: &Credential,
        now: DateTime<Utc>,
    ) -> Option<KeyHash> {
        self.valid_keys(now)
            .find(|key| match presented {
                Credential::Key(k) => key.matches(k),
                Credential::Token(token) => token.check(id, key, now).is_ok(),
            })
            .cloned()
    }
}

impl Device {
    /// Lets a device in: the key its credential proves, if it proves one. Whether it may send
    /// now is asked of the admission after (`Admission::may_send`), so a stranger learns nothing
    /// about a device's state, and a disabled or decommissioned device still gets the first
    /// answer to a batch it resends.
    pub fn admit(
        &self,
        id: &DeviceId,
        presented: &Credential,
        now: DateTime<Utc>,
    ) -> Result<Admission, DomainError> {
        let key = self
            .key_proven_by(id, presented, now)
            .ok_or(DomainError::InvalidKey)?;
        Ok(Admission {
            key,
            kind: self.profile.kind.clone(),
            limits: self.profile.limits,
            status: self.status,
        })
    }
}

/// A device let in: the key it proved (what its commands present), and what its limits depend
/// on.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    pub key: KeyHash,
    pub kind: Option<Label>,
    /// Its own limits, over its kind's.
    pub limits: Limits,
    pub status: DeviceStatus,
}

impl Admission {
    /// Whether the device may send new batches: not while disabled, nor once decommissioned.
    pub fn may_send(&self) -> Result<(), DomainError> {
        match self.status {
            DeviceStatus::Active => Ok(()),
            DeviceStatus::Disabled => Err(DomainError::Disabled),
            DeviceStatus::Decommissioned => Err(DomainError::Decommissioned),
            // Has no key, so it is never admitted; kept for the match to be whole.
            DeviceStatus::Unregistered => Err(DomainError::InvalidKey),
        }
    }
}

/// What may be asked of a device.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Register {
        name: Option<Label>,
        kind: Option<Label>,
        location: Option<Label>,
        key_hash: KeyHash,
    },
    RotateKey {
        key_hash: KeyHash,
        /// Until when the replaced key still works; `None`: it stops at once.
        previous_valid_until: Option<DateTime<Utc>>,
    },
    /// `presented_key` is the hash of the key the caller authenticated with, at `presented_at`
    /// (a replaced key works until its deadline); the device may report at most `max_sensors`
    /// distinct sensors in all.
    RecordReadings {
        presented_key: KeyHash,
        presented_at: DateTime<Utc>,
        batch: ReadingBatch,
        max_sensors: usize,
    },
    Decommission {
        reason: Option<Label>,
    },
    Disable {
        reason: Option<Label>,
    },
    Enable,
    /// Each field present replaces the current value (an inner `None` removes it); absent fields
    /// stay as they are. More than [`MAX_TAGS`] tags are refused.
    ChangeProfile {
        name: Option<Option<Label>>,
        location: Option<Option<Label>>,
        tags: Option<BTreeSet<Tag>>,
        limits: Option<Limits>,
    },
}

impl Command {
    /// The payload of the event this command records when accepted, where a resend is told from
    /// another request by it (ingest). `None` for commands that carry no idempotency key.
    pub fn recorded_payload(&self) -> Option<String> {
        match self {
            Self::RecordReadings { batch, .. } => {
                let (batch_id, readings) = batch.clone().into_parts();
                let event = DeviceEvent::ReadingsRecorded(ReadingsRecorded { batch_id, readings });
                Some(event.encode_payload())
            }
            _ => None,
        }
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("the device is already registered")]
    AlreadyRegistered,
    #[error("the device is not registered")]
    NotRegistered,
    #[error("the device is decommissioned")]
    Decommissioned,
    #[error("the device key is not valid for this device")]
    InvalidKey,
    #[error("the device is disabled; an administrator can enable it")]
    Disabled,
    #[error("a device carries at most {max} tags")]
    TooManyTags { max: usize },
    /// The command asks for what already is (the device is already disabled, …).
    #[error("nothing to change: {0}")]
    Unchanged(&'static str),
    /// The batch would take the device past its number of distinct sensors.
    #[error("sensor {first_new} would be the device's sensor number {would_be}; at most {max} are accepted per device")]
    TooManySensors {
        first_new: SensorName,
        would_be: usize,
        max: usize,
    },
}

pub fn decide(device: &Device, command: Command) -> Result<Vec<DeviceEvent>, DomainError> {
    match (device.status, command) {
        (
            DeviceStatus::Unregistered,
            Command::Register {
                name,
                kind,
                location,
                key_hash,
            },
        ) => Ok(vec![DeviceEvent::Registered(DeviceRegistered {
            name,
            kind,
            location,
            key_hash,
        })]),
        (_, Command::Register { .. }) => Err(DomainError::AlreadyRegistered),
        (DeviceStatus::Unregistered, _) => Err(DomainError::NotRegistered),
        (DeviceStatus::Decommissioned, _) => Err(DomainError::Decommissioned),
        (
            DeviceStatus::Active | DeviceStatus::Disabled,
            Command::RotateKey {
                key_hash,
                previous_valid_until,
            },
        ) => Ok(vec![DeviceEvent::KeyRotated(DeviceKeyRotated {
            key_hash,
            previous_valid_until,
        })]),
        (DeviceStatus::Disabled, Command::RecordReadings { .. }) => Err(DomainError::Disabled),
        (
            DeviceStatus::Active,
            Command::RecordReadings {
                presented_key,
                presented_at,
                batch,
                max_sensors,
            },
        ) => {
            if !device.accepts_key(&presented_key, presented_at) {
                return Err(DomainError::InvalidKey);
            }
            let new: BTreeSet<&SensorName> = batch
                .readings()
                .iter()
                .map(|r| &r.sensor)
                .filter(|s| !device.sensors.contains(*s))
                .collect();
            let would_be = device.sensors.len() + new.len();
            if would_be > max_sensors {
                let first_new =
                    (*new.iter().next().expect("past the cap means new sensors")).clone();
                return Err(DomainError::TooManySensors {
                    first_new,
                    would_be,
                    max: max_sensors,
                });
            }
            let mut events = Vec::with_capacity(2);
            if !new.is_empty() {
                let sensors = new.into_iter().cloned().collect();
                events.push(DeviceEvent::SensorsAdded(SensorsAdded { sensors }));
            }
            let (batch_id, readings) = batch.into_parts();
            events.push(DeviceEvent::ReadingsRecorded(ReadingsRecorded {
                batch_id,
                readings,
            }));
            Ok(events)
        }
        (DeviceStatus::Active | DeviceStatus::Disabled, Command::Decommission { reason }) => {
            Ok(vec![DeviceEvent::Decommissioned(DeviceDecommissioned {
                reason,
            })])
        }
        (DeviceStatus::Active, Command::Disable { reason }) => {
            Ok(vec![DeviceEvent::Disabled(DeviceDisabled { reason })])
        }
        (DeviceStatus::Disabled, Command::Disable { .. }) => {
            Err(DomainError::Unchanged("the device is already disabled"))
        }
        (DeviceStatus::Disabled, Command::Enable) => {
            Ok(vec![DeviceEvent::Enabled(DeviceEnabled {})])
        }
        (DeviceStatus::Active, Command::Enable) => {
            Err(DomainError::Unchanged("the device is not disabled"))
        }
        (
            DeviceStatus::Active | DeviceStatus::Disabled,
            Command::ChangeProfile {
                name,
                location,
                tags,
                limits,
            },
        ) => change_profile(&device.profile, name, location, tags, limits),
    }
}

/// One event per field that changes; refused when none does, so every stored change is real.
fn change_profile(
    current: &Profile,
    name: Option<Option<Label>>,
    location: Option<Option<Label>>,
    tags: Option<BTreeSet<Tag>>,
    limits: Option<Limits>,
) -> Result<Vec<DeviceEvent>, DomainError> {
    let mut events = Vec::new();
    if let Some(name) = name.filter(|n| *n != current.name) {
        events.push(DeviceEvent::Renamed(DeviceRenamed { name }));
    }
    if let Some(location) = location.filter(|l| *l != current.location) {
        events.push(DeviceEvent::Moved(DeviceMoved { location }));
    }
    if let Some(tags) = tags.filter(|t| *t != current.tags) {
        if tags.len() > MAX_TAGS {
            return Err(DomainError::TooManyTags { max: MAX_TAGS });
        }
        let tags = tags.into_iter().collect();
        events.push(DeviceEvent::Retagged(DeviceRetagged { tags }));
    }
    if let Some(limits) = limits.filter(|l| *l != current.limits) {
        events.push(DeviceEvent::LimitsChanged(DeviceLimitsChanged {
            readings_per_second: limits.readings_per_second,
            readings_per_day: limits.readings_per_day,
        }));
    }
    if events.is_empty() {
        return Err(DomainError::Unchanged(
            "the device already has this name, location, tags and limits",
        ));
    }
    Ok(events)
}

/// Folds one stored event (at `stream_seq`) into the state.
pub fn evolve(mut device: Device, stream_seq: u64, event: &DeviceEvent) -> Device {
    device.version = stream_seq;
    match event {
        DeviceEvent::Registered(e) => {
            device.status = DeviceStatus::Active;
            device.key_hash = Some(e.key_hash.clone());
            device.profile = Profile {
                name: e.name.clone(),
                kind: e.kind.clone(),
                location: e.location.clone(),
                tags: BTreeSet::new(),
                limits: Limits::default(),
            };
        }
        DeviceEvent::KeyRotated(e) => {
            let replaced = device.key_hash.replace(e.key_hash.clone());
            device.previous_key = e
                .previous_valid_until
                .zip(replaced)
                .map(|(until, k)| (k, until));
        }
        DeviceEvent::SensorsAdded(e) => device.sensors.extend(e.sensors.iter().cloned()),
        DeviceEvent::ReadingsRecorded(_)
        | DeviceEvent::AlertRaised(_)
        | DeviceEvent::AlertCleared(_)
        | DeviceEvent::AlertAcknowledged(_)
        | DeviceEvent::AlertClearedManually(_)
        | DeviceEvent::AlertRetired(_)
        | DeviceEvent::AlertRuleDefined(_)
        | DeviceEvent::AlertRuleDeleted(_) => {}
        DeviceEvent::Decommissioned(_) => device.status = DeviceStatus::Decommissioned,
        DeviceEvent::Disabled(_) => device.status = DeviceStatus::Disabled,
        DeviceEvent::Enabled(_) => device.status = DeviceStatus::Active,
        DeviceEvent::Renamed(e) => device.profile.name = e.name.clone(),
        DeviceEvent::Moved(e) => device.profile.location = e.location.clone(),
        DeviceEvent::Retagged(e) => device.profile.tags = e.tags.iter().cloned().collect(),
        DeviceEvent::LimitsChanged(e) => {
            device.profile.limits = Limits {
                readings_per_second: e.readings_per_second,
                readings_per_day: e.readings_per_day,
            }
        }
    }
    device
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::ids::{BatchId, SensorName};
    use crate::reading::{Reading, Value};

    fn register(key: &str) -> Command {
        Command::Register {
            name: Some(Label::parse("Pump 1").unwrap()),
            kind: None,
            location: None,
            key_hash: KeyHash::of(key),
        }
    }

    fn record(key: &str) -> Command {
        record_sensors(key, &["temperature"], 100)
    }

    fn record_sensors(key: &str, sensors: &[&str], max_sensors: usize) -> Command {
        let now = Utc::now();
        let readings = sensors
            .iter()
            .map(|s| Reading {
                sensor: SensorName::parse(*s).unwrap(),
                value: Value::try_from(20.0).unwrap(),
                unit: None,
                measured_at: now,
            })
            .collect();
        Command::RecordReadings {
            presented_key: KeyHash::of(key),
            presented_at: now,
            batch: ReadingBatch::new(BatchId::parse("b").unwrap(), readings, now).unwrap(),
            max_sensors,
        }
    }

    /// Given these commands were accepted in order, the resulting state.
    fn given(commands: Vec<Command>) -> Device {
        commands.into_iter().fold(Device::default(), |device, cmd| {
            let events = decide(&device, cmd).expect("given commands are accepted");
            events.iter().fold(device, |d, e| {
                let seq = d.version + 1;
                evolve(d, seq, e)
            })
        })
    }

    #[test]
    fn registering_a_new_device_records_it() {
        let events = decide(&Device::default(), register("k")).unwrap();
        assert!(
            matches!(events.as_slice(), [DeviceEvent::Registered(e)] if e.name.as_ref().unwrap().as_str() == "Pump 1")
        );
    }

    #[test]
    fn a_device_is_registered_once() {
        let device = given(vec![register("k")]);
        assert_eq!(
            decide(&device, register("other")),
            Err(DomainError::AlreadyRegistered)
        );
    }

    #[test]
    fn readings_from_an_unknown_device_are_refused() {
        assert_eq!(
            decide(&Device::default(), record("k")),
            Err(DomainError::NotRegistered)
        );
    }

    #[test]
    fn a_credential_proves_the_current_key_only() {
        let id = DeviceId::parse("pump-1").unwrap();
        let now = Utc::now();
        let expiry = now.timestamp() + 60;
        let token = |key: &str| {
            let text = crate::DeviceToken::mint(None, &id, &KeyHash::of(key), expiry);
            Credential::parse(&text).unwrap()
        };
        let device = given(vec![register("k")]);
        for presented in [Credential::parse("k").unwrap(), token("k")] {
            assert_eq!(
                device.key_proven_by(&id, &presented, now),
                Some(KeyHash::of("k"))
            );
        }
        for presented in [Credential::parse("wrong").unwrap(), token("wrong")] {
            assert_eq!(device.key_proven_by(&id, &presented, now), None);
        }
        // An unregistered device has no key to prove.
        assert_eq!(Device::default().key_proven_by(&id, &token("k"), now), None);
    }

    #[test]
    fn readings_need_the_devices_current_key() {
        let device = given(vec![register("k")]);
        assert_eq!(
            decide(&device, record("wrong")),
            Err(DomainError::InvalidKey)
        );
        let events = decide(&device, record("k")).unwrap();
        assert_eq!(events.last().unwrap().event_type(), "ReadingsRecorded");
    }

    #[test]
    fn a_batch_with_new_sensors_records_them_first_and_known_ones_add_nothing() {
        let device = given(vec![register("k")]);
        let events = decide(&device, record_sensors("k", &["b", "a", "b"], 5)).unwrap();
        let [DeviceEvent::SensorsAdded(added), DeviceEvent::ReadingsRecorded(_)] =
            events.as_slice()
        else {
            panic!("expected sensors then readings, got {events:?}");
        };
        let names: Vec<&str> = added.sensors.iter().map(SensorName::as_str).collect();
        assert_eq!(names, ["a", "b"]);
        let device = given(vec![register("k"), record_sensors("k", &["a", "b"], 5)]);
        let events = decide(&device, record_sensors("k", &["a"], 5)).unwrap();
        assert!(matches!(
            events.as_slice(),
            [DeviceEvent::ReadingsRecorded(_)]
        ));
    }

    #[test]
    fn a_device_reports_at_most_its_cap_of_distinct_sensors() {
        let device = given(vec![register("k"), record_sensors("k", &["a", "b"], 3)]);
        let refused = decide(&device, record_sensors("k", &["a", "c", "d"], 3));
        assert_eq!(
            refused,
            Err(DomainError::TooManySensors {
                first_new: SensorName::parse("c").unwrap(),
                would_be: 4,
                max: 3
            })
        );
        assert!(decide(&device, record_sensors("k", &["b", "c"], 3)).is_ok());
    }

    #[test]
    fn a_rotated_key_replaces_the_old_one() {
        let device = given(vec![
            register("old"),
            Command::RotateKey {
                key_hash: KeyHash::of("new"),
                previous_valid_until: None,
            },
        ]);
        assert_eq!(decide(&device, record("old")), Err(DomainError::InvalidKey));
        assert!(decide(&device, record("new")).is_ok());
        assert_eq!(device.version, 2);
    }

    #[test]
    fn a_replaced_key_works_until_its_deadline_and_only_the_last_one() {
        let id = DeviceId::parse("pump-1").unwrap();
        let now = Utc::now();
        let rotate = |key: &str| Command::RotateKey {
            key_hash: KeyHash::of(key),
            previous_valid_until: Some(now + chrono::Duration::hours(1)),
        };
        let proves = |device: &Device, key: &str, at| {
            device.key_proven_by(&id, &Credential::parse(key).unwrap(), at)
        };
        let device = given(vec![register("first"), rotate("second")]);
        for key in ["first", "second"] {
            assert_eq!(proves(&device, key, now), Some(KeyHash::of(key)), "{key}");
        }
        let later = now + chrono::Duration::hours(2);
        assert_eq!(proves(&device, "first", later), None);
        assert_eq!(
            proves(&device, "second", later),
            Some(KeyHash::of("second"))
        );
        // A second rotation keeps one previous key: the one it replaced.
        let device = given(vec![register("first"), rotate("second"), rotate("third")]);
        assert_eq!(proves(&device, "first", now), None);
        assert_eq!(proves(&device, "second", now), Some(KeyHash::of("second")));
    }

    #[test]
    fn a_decommissioned_device_accepts_nothing_more() {
        let device = given(vec![register("k"), Command::Decommission { reason: None }]);
        assert_eq!(device.status, DeviceStatus::Decommissioned);
        assert_eq!(
            decide(&device, record("k")),
            Err(DomainError::Decommissioned)
        );
        assert_eq!(
            decide(&device, Command::Decommission { reason: None }),
            Err(DomainError::Decommissioned)
        );
    }

    fn tags(names: &[&str]) -> BTreeSet<Tag> {
        names.iter().map(|t| Tag::parse(*t).unwrap()).collect()
    }

    fn change(name: Option<Option<&str>>, tags_to: Option<&[&str]>) -> Command {
        Command::ChangeProfile {
            name: name.map(|n| n.map(|n| Label::parse(n).unwrap())),
            location: None,
            tags: tags_to.map(tags),
            limits: None,
        }
    }

    #[test]
    fn a_disabled_device_is_refused_until_enabled_and_can_still_be_administered() {
        let id = DeviceId::parse("pump-1").unwrap();
        let key = Credential::parse("k").unwrap();
        let disable = Command::Disable {
            reason: Some(Label::parse("maintenance").unwrap()),
        };
        let device = given(vec![register("k"), disable.clone()]);
        assert_eq!(device.status, DeviceStatus::Disabled);
        assert_eq!(decide(&device, record("k")), Err(DomainError::Disabled));
        let admission = device.admit(&id, &key, Utc::now()).unwrap();
        assert_eq!(admission.may_send(), Err(DomainError::Disabled));
        // A wrong key is told as a wrong key, not as a disabled device.
        let wrong = Credential::parse("wrong").unwrap();
        assert_eq!(
            device.admit(&id, &wrong, Utc::now()),
            Err(DomainError::InvalidKey)
        );
        assert_eq!(
            decide(&device, disable),
            Err(DomainError::Unchanged("the device is already disabled"))
        );
        assert!(decide(&device, change(Some(Some("Pump 9")), None)).is_ok());

        let device = given(vec![
            register("k"),
            Command::Disable { reason: None },
            Command::Enable,
        ]);
        assert_eq!(device.status, DeviceStatus::Active);
        assert!(decide(&device, record("k")).is_ok());
        assert_eq!(
            device.admit(&id, &key, Utc::now()).map(|a| a.key),
            Ok(KeyHash::of("k"))
        );
        assert_eq!(
            decide(&device, Command::Enable),
            Err(DomainError::Unchanged("the device is not disabled"))
        );
        let device = given(vec![register("k"), Command::Disable { reason: None }]);
        assert!(decide(&device, Command::Decommission { reason: None }).is_ok());
    }

    #[test]
    fn a_profile_change_records_only_what_changes() {
        let device = given(vec![register("k")]);
        // The name is "Pump 1" since registration: only the tags change.
        let events = decide(&device, change(Some(Some("Pump 1")), Some(&["b", "a"]))).unwrap();
        let [DeviceEvent::Retagged(retagged)] = events.as_slice() else {
            panic!("expected only a retag, got {events:?}");
        };
        let names: Vec<&str> = retagged.tags.iter().map(Tag::as_str).collect();
        assert_eq!(names, ["a", "b"], "sorted");

        let device = given(vec![register("k"), change(Some(None), Some(&["a"]))]);
        assert_eq!(device.profile.name, None);
        assert_eq!(device.profile.tags, tags(&["a"]));
        assert_eq!(
            decide(&device, change(Some(None), Some(&["a"]))),
            Err(DomainError::Unchanged(
                "the device already has this name, location, tags and limits"
            ))
        );
        let moved = Command::ChangeProfile {
            name: None,
            location: Some(Some(Label::parse("Hall C").unwrap())),
            tags: Some(BTreeSet::new()),
            limits: None,
        };
        let events = decide(&device, moved).unwrap();
        assert!(matches!(
            events.as_slice(),
            [DeviceEvent::Moved(m), DeviceEvent::Retagged(t)]
                if m.location.as_ref().unwrap().as_str() == "Hall C" && t.tags.is_empty()
        ));
    }

    #[test]
    fn a_device_carries_at_most_its_cap_of_tags() {
        let device = given(vec![register("k")]);
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            decide(&device, change(None, Some(&many))),
            Err(DomainError::TooManyTags { max: MAX_TAGS })
        );
        assert!(decide(&device, change(None, Some(&many[..MAX_TAGS]))).is_ok());
    }

    #[test]
    fn key_hashes_round_trip_as_hex_and_hide_in_debug() {
        let h = KeyHash::of("secret");
        let s: String = h.clone().into();
        assert_eq!(s.len(), 64);
        assert_eq!(KeyHash::try_from(s).unwrap(), h);
        assert_eq!(format!("{h:?}"), "KeyHash(…)");
    }
}
