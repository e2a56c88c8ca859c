//! Identifiers and short names that arrive from outside. Each is parsed once, at the edge, and is
//! valid from then on: a `DeviceId` in hand always names a well-formed stream.

use std::fmt;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::validation::ValidationError;

/// Checks length and alphabet; `extra` lists the punctuation allowed besides ASCII letters and digits.
fn check_token(field: &str, s: &str, max: usize, extra: &[char]) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if s.len() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if let Some(bad) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || extra.contains(c)))
    {
        return Err(ValidationError::new(
            field,
            format!(
                "contains {bad:?}; allowed are ASCII letters, digits and {}",
                extra.iter().collect::<String>()
            ),
        ));
    }
    Ok(())
}

/// Declares a validated string newtype; `$check(field, s, max)` decides what is valid.
macro_rules! token_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "CompactString", into = "CompactString")]
        pub struct $name(CompactString);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(s: impl Into<CompactString>) -> Result<Self, ValidationError> {
                let s = s.into();
                ($check)($field, &s, $max)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<CompactString> for $name {
            type Error = ValidationError;
            fn try_from(s: CompactString) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl From<$name> for CompactString {
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

token_type!(
    /// A device, and so also an event stream: 1–64 of `A-Z a-z 0-9 - _ . :`.
    DeviceId, "device_id", 64, |f, s, m| check_token(f, s, m, &['-', '_', '.', ':'])
);

impl DeviceId {
    /// Ids starting with `_` name Watershed's own streams (the alert rules'), never a device.
    pub fn is_reserved(&self) -> bool {
        self.0.starts_with('_')
    }
}
token_type!(
    /// A sensor on a device, e.g. `temperature` or `engine.rpm`: 1–64 of `A-Z a-z 0-9 - _ . /`.
    SensorName, "sensor", 64, |f, s, m| check_token(f, s, m, &['-', '_', '.', '/'])
);
token_type!(
    /// The client's name for one ingest batch; the key that makes ingest idempotent.
    BatchId, "batch_id", 128, |f, s, m| check_token(f, s, m, &['-', '_', '.', ':', '/', '+', '='])
);

token_type!(
    /// A free-form device tag, e.g. `line-3` or `site=berlin`: 1–64 of `A-Z a-z 0-9 - _ . : = /`.
    Tag, "tags", 64, |f, s, m| check_token(f, s, m, &['-', '_', '.', ':', '=', '/'])
);

token_type!(
    /// An alert rule, e.g. `too-hot`: 1–64 of `A-Z a-z 0-9 - _ .`.
    RuleName, "rule", 64, |f, s, m| check_token(f, s, m, &['-', '_', '.'])
);

/// In request bodies (a webhook's rule filter), with the pattern the parser enforces.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for RuleName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[A-Za-z0-9._-]{1,64}$"))
            .min_length(Some(1))
            .max_length(Some(Self::MAX_LEN))
            .examples([serde_json::json!("too-hot")])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for RuleName {}

/// Checks a free-text value: 1 to `max` characters, no control characters, no spaces at the ends.
fn check_text(field: &str, s: &str, max: usize) -> Result<(), ValidationError> {
    if s.is_empty() || s.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    if s.chars().any(char::is_control) || s.trim() != s {
        return Err(ValidationError::new(
            field,
            "must not contain control characters or surrounding spaces",
        ));
    }
    Ok(())
}

token_type!(
    /// A unit of measure such as `C`, `%`, `km/h` or `µS/cm`: 1–16 printable characters. Kept inline
    /// (no heap allocation) since every reading carries one.
    Unit, "unit", 16, check_text
);
token_type!(
    /// A human label of a device (name, kind, location): 1–128 printable characters.
    Label, "label", 128, check_text
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_accepts_the_documented_alphabet() {
        assert!(DeviceId::parse("truck-12.eu:west_1").is_ok());
    }

    #[test]
    fn device_id_rejects_empty_long_and_foreign_characters() {
        assert_eq!(DeviceId::parse("").unwrap_err().field, "device_id");
        assert!(DeviceId::parse("x".repeat(65)).is_err());
        let err = DeviceId::parse("a b").unwrap_err();
        assert!(err.message.contains("' '"), "{err}");
        assert!(DeviceId::parse("../etc").is_err());
    }

    #[test]
    fn sensor_name_rejects_empty() {
        let err = SensorName::parse("").unwrap_err();
        assert_eq!(err.field, "sensor");
    }

    #[test]
    fn deserializing_validates() {
        let bad: Result<SensorName, _> = serde_json::from_str("\"no spaces\"");
        assert!(bad.is_err());
        let good: SensorName = serde_json::from_str("\"engine.rpm\"").unwrap();
        assert_eq!(good.as_str(), "engine.rpm");
    }

    #[test]
    fn unit_allows_symbols_but_not_padding_or_control_characters() {
        assert!(Unit::parse("µS/cm").is_ok());
        assert!(Unit::parse("%").is_ok());
        assert!(Unit::parse(" C").is_err());
        assert!(Unit::parse("C\n").is_err());
        assert!(Unit::parse("x".repeat(17)).is_err());
    }
}
