//! The device limits file: TOML with a `[default]` table and one `[kind.<name>]` table per device
//! kind (see `device-limits.example.toml`).

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use watershed_domain::limits::{LimitPolicy, Limits};
use watershed_domain::Label;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    #[serde(default)]
    default: Limits,
    #[serde(default)]
    kind: HashMap<Label, Limits>,
}

/// Reads and checks the limits in `text`; errors name the table and limit at fault.
pub fn parse(text: &str) -> anyhow::Result<LimitPolicy> {
    let file: LimitsFile = toml::from_str(text)?;
    let tables = std::iter::once(("default".to_owned(), &file.default))
        .chain(file.kind.iter().map(|(k, l)| (format!("kind.\"{k}\""), l)));
    for (table, limits) in tables {
        if let Err(e) = limits.validated() {
            anyhow::bail!("[{table}] {}: {e}", e.field);
        }
    }
    Ok(LimitPolicy {
        default: file.default,
        kinds: file.kind,
    })
}

pub fn load(path: &Path) -> anyhow::Result<LimitPolicy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the device limits {}", path.display()))?;
    parse(&text).with_context(|| format!("device limits {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_valid() {
        let policy = load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/device-limits.example.toml"
        )))
        .unwrap();
        let pump = Label::parse("pump").unwrap();
        assert_eq!(
            policy.for_device(Some(&pump), Limits::default()),
            Limits {
                readings_per_second: Some(100),
                readings_per_day: Some(100_000_000)
            }
        );
        assert_eq!(policy.kinds.len(), 2);
    }

    #[test]
    fn mistakes_are_named() {
        let unknown = parse("[default]\nreadings_per_minute = 5\n").unwrap_err();
        assert!(
            format!("{unknown:#}").contains("readings_per_minute"),
            "{unknown:#}"
        );
        let zero = parse("[kind.pump]\nreadings_per_day = 0\n").unwrap_err();
        assert!(zero.to_string().contains("kind.\"pump\""), "{zero}");
        assert!(parse("").unwrap().is_unlimited());
    }
}
