//! The alert rules file: TOML, one `[[rule]]` table per rule (see `alert-rules.example.toml`).

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use watershed_domain::{AlertRules, RuleSpec};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

/// Reads and checks the rules in `text`; errors name the rule and field at fault.
pub fn parse(text: &str) -> anyhow::Result<AlertRules> {
    let file: RulesFile = toml::from_str(text)?;
    AlertRules::from_specs(file.rule).map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))
}

pub fn load(path: &Path) -> anyhow::Result<AlertRules> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the alert rules {}", path.display()))?;
    parse(&text).with_context(|| format!("alert rules {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_valid() {
        let rules = load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/alert-rules.example.toml"
        )))
        .unwrap();
        assert!(rules.len() >= 3);
    }

    #[test]
    fn mistakes_are_named() {
        let unknown =
            parse("[[rule]]\nname = \"x\"\nsensor = \"t\"\nabove = 1\nabov = 2\n").unwrap_err();
        assert!(format!("{unknown:#}").contains("abov"), "{unknown:#}");
        let neither = parse("[[rule]]\nname = \"hot\"\nsensor = \"t\"\n").unwrap_err();
        assert_eq!(
            neither.to_string(),
            "rule hot: needs exactly one of `above`, `below` and `silent_for`"
        );
        assert!(parse("").unwrap().is_empty());
    }
}
