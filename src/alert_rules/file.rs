//! The alert rules file: TOML, one `[[rule]]` table per rule (see `alert-rules.example.toml`),
//! imported into the rules stream at start. A model rule names its ONNX file with `model_file`
//! (relative to the rules file); the import carries the model's bytes into the rule's event.

use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::Deserialize;
use watershed_domain::{AlertRules, RuleSpec};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<toml::Table>,
}

/// Reads and checks the rules in `text`, model files relative to `dir`; errors name the rule and
/// field at fault.
pub fn parse(text: &str, dir: &Path) -> anyhow::Result<Vec<RuleSpec>> {
    let file: RulesFile = toml::from_str(text)?;
    let specs = file
        .rule
        .into_iter()
        .enumerate()
        .map(|(i, mut table)| {
            if let Some(path) = table.remove("model_file") {
                let path = path
                    .as_str()
                    .with_context(|| format!("rule {}: model_file must be a path", i + 1))?;
                let bytes = std::fs::read(dir.join(path))
                    .with_context(|| format!("rule {}: reading the model {path}", i + 1))?;
                table.insert("model".to_owned(), BASE64.encode(bytes).into());
            }
            table
                .try_into::<RuleSpec>()
                .with_context(|| format!("rule {}", i + 1))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    AlertRules::from_specs(specs.clone())
        .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;
    Ok(specs)
}

pub fn load(path: &Path) -> anyhow::Result<Vec<RuleSpec>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the alert rules {}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse(&text, dir).with_context(|| format!("alert rules {}", path.display()))
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
        let unknown = parse(
            "[[rule]]\nname = \"x\"\nsensor = \"t\"\nabove = 1\nabov = 2\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(format!("{unknown:#}").contains("abov"), "{unknown:#}");
        let neither =
            parse("[[rule]]\nname = \"hot\"\nsensor = \"t\"\n", Path::new(".")).unwrap_err();
        assert_eq!(
            neither.to_string(),
            "rule hot: needs exactly one of `above`, `below`, `rate_above`, `rate_below`, \
             `zscore_above`, `score_above` and `silent_for`"
        );
        assert!(parse("", Path::new(".")).unwrap().is_empty());
    }
}
