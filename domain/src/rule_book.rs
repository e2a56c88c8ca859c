//! The alert rules as events: administrators define and delete rules, each change an event in one
//! stream of its own, [`RULES_STREAM`]. Every evaluator folds that stream into a [`RuleBook`], so
//! all of them (one per projector pod) and a replay of history see the same rules at the same
//! point of it; the rules file given at start is imported into it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::alert::{AlertRule, AlertRules, RuleSpec};
use crate::event::{AlertRuleDefined, AlertRuleDeleted, DeviceEvent};
use crate::ids::{DeviceId, RuleName};
use crate::validation::ValidationError;

/// The stream of the rules. Device ids starting with `_` are reserved for streams like it, so no
/// device can be registered under it.
pub const RULES_STREAM: &str = "_alert-rules";

pub fn rules_stream() -> DeviceId {
    DeviceId::parse(RULES_STREAM).expect("the rules stream's id is a valid stream id")
}

/// A rule as the book holds it: what was defined, where and when.
#[derive(Debug, Clone, PartialEq)]
pub struct DefinedRule {
    pub spec: RuleSpec,
    pub rule: AlertRule,
    /// The rules stream's sequence of the event that defined it as it is.
    pub revision: u64,
    pub defined_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleCommand {
    /// A new rule; refused if one of its name exists.
    Create(RuleSpec),
    /// A new definition of an existing rule.
    Replace(RuleSpec),
    /// Creates or replaces: what the rules file given at start does.
    Import(RuleSpec),
    Delete(RuleName),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleRefused {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("a rule named {0} exists")]
    Exists(RuleName),
    #[error("no rule named {0}")]
    NotFound(RuleName),
}

/// The rules folded from the rules stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleBook {
    /// The rules stream's last sequence folded in.
    pub version: u64,
    rules: BTreeMap<RuleName, DefinedRule>,
}

impl RuleBook {
    pub fn evolve(&mut self, stream_seq: u64, recorded_at: DateTime<Utc>, event: &DeviceEvent) {
        self.version = stream_seq;
        match event {
            DeviceEvent::AlertRuleDefined(defined) => {
                // Checked when it was decided; a stored rule a later release would refuse stays
                // out of force rather than stopping every evaluator.
                if let Ok(rule) = AlertRule::try_from(defined.rule.clone()) {
                    self.rules.insert(
                        rule.name.clone(),
                        DefinedRule {
                            spec: defined.rule.clone(),
                            rule,
                            revision: stream_seq,
                            defined_at: recorded_at,
                        },
                    );
                }
            }
            DeviceEvent::AlertRuleDeleted(deleted) => {
                self.rules.remove(&deleted.name);
            }
            _ => {}
        }
    }

    /// What `command` records: nothing when it changes nothing (a replace or import with the
    /// definition in force).
    pub fn decide(&self, command: RuleCommand) -> Result<Vec<DeviceEvent>, RuleRefused> {
        let define = |spec: RuleSpec| {
            vec![DeviceEvent::AlertRuleDefined(AlertRuleDefined {
                rule: spec,
            })]
        };
        match command {
            RuleCommand::Delete(name) => match self.rules.contains_key(&name) {
                true => Ok(vec![DeviceEvent::AlertRuleDeleted(AlertRuleDeleted {
                    name,
                })]),
                false => Err(RuleRefused::NotFound(name)),
            },
            RuleCommand::Create(spec) => {
                let rule = AlertRule::try_from(spec.clone())?;
                match self.rules.contains_key(&rule.name) {
                    true => Err(RuleRefused::Exists(rule.name)),
                    false => Ok(define(spec)),
                }
            }
            RuleCommand::Replace(spec) => {
                let rule = AlertRule::try_from(spec.clone())?;
                match self.rules.get(&rule.name) {
                    None => Err(RuleRefused::NotFound(rule.name)),
                    Some(held) if held.spec == spec => Ok(Vec::new()),
                    Some(_) => Ok(define(spec)),
                }
            }
            RuleCommand::Import(spec) => {
                let rule = AlertRule::try_from(spec.clone())?;
                match self.rules.get(&rule.name) {
                    Some(held) if held.spec == spec => Ok(Vec::new()),
                    _ => Ok(define(spec)),
                }
            }
        }
    }

    pub fn get(&self, name: &RuleName) -> Option<&DefinedRule> {
        self.rules.get(name)
    }

    /// Every rule, by name.
    pub fn defined(&self) -> impl Iterator<Item = &DefinedRule> {
        self.rules.values()
    }

    /// The rules in force, for the evaluator.
    pub fn rules(&self) -> AlertRules {
        AlertRules::new(self.rules.values().map(|d| d.rule.clone()).collect())
            .expect("the book holds one rule per name")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, above: f64) -> RuleSpec {
        RuleSpec {
            name: name.to_owned(),
            sensor: Some("temperature".to_owned()),
            above: Some(above),
            ..RuleSpec::default()
        }
    }

    fn given(commands: Vec<RuleCommand>) -> RuleBook {
        let mut book = RuleBook::default();
        for command in commands {
            for event in book.decide(command).unwrap() {
                book.evolve(book.version + 1, Utc::now(), &event);
            }
        }
        book
    }

    fn name(n: &str) -> RuleName {
        RuleName::parse(n).unwrap()
    }

    #[test]
    fn rules_are_created_once_replaced_when_changed_and_deleted() {
        let book = given(vec![RuleCommand::Create(spec("hot", 30.0))]);
        assert_eq!(
            book.decide(RuleCommand::Create(spec("hot", 31.0))),
            Err(RuleRefused::Exists(name("hot")))
        );
        assert_eq!(
            book.decide(RuleCommand::Replace(spec("hot", 30.0))),
            Ok(Vec::new()),
            "the same definition records nothing"
        );
        assert_eq!(
            book.decide(RuleCommand::Replace(spec("cold", 1.0))),
            Err(RuleRefused::NotFound(name("cold")))
        );
        let book = given(vec![
            RuleCommand::Create(spec("hot", 30.0)),
            RuleCommand::Replace(spec("hot", 35.0)),
            RuleCommand::Import(spec("warm", 20.0)),
        ]);
        assert_eq!(book.version, 3);
        let hot = book.get(&name("hot")).unwrap();
        assert_eq!((hot.rule.threshold, hot.revision), (35.0, 2));
        assert_eq!(book.rules().len(), 2);
        let book = given(vec![
            RuleCommand::Create(spec("hot", 30.0)),
            RuleCommand::Delete(name("hot")),
        ]);
        assert!(book.rules().is_empty());
        assert_eq!(
            book.decide(RuleCommand::Delete(name("hot"))),
            Err(RuleRefused::NotFound(name("hot")))
        );
    }

    #[test]
    fn an_invalid_rule_is_refused_with_its_field() {
        let bad = RuleSpec {
            window: Some(10.0),
            ..spec("hot", 30.0)
        };
        let Err(RuleRefused::Invalid(e)) = RuleBook::default().decide(RuleCommand::Create(bad))
        else {
            panic!("expected a refusal");
        };
        assert_eq!(e.field, "rule hot.window");
    }

    #[test]
    fn the_rules_stream_is_reserved() {
        assert!(rules_stream().is_reserved());
        assert!(!DeviceId::parse("pump-1").unwrap().is_reserved());
    }
}
