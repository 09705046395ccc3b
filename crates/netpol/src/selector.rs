//! Label selectors (`matchLabels` and `matchExpressions`), matched as the API machinery does:
//! every requirement must hold, and an empty selector matches everything.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A parsed label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// All requirements must hold; none at all matches every object.
    Requirements(Vec<Requirement>),
    /// A selector the API machinery would refuse (unknown operator, `In` without values, …):
    /// it selects nothing, so that a malformed policy never widens what is allowed.
    Invalid(String),
}

/// One requirement on one label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operator {
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Exists,
    DoesNotExist,
}

impl Selector {
    /// The selector that matches everything (`{}`).
    pub fn everything() -> Selector {
        Selector::Requirements(Vec::new())
    }

    /// Parses an API selector. `matchLabels` entries are `In` requirements with one value.
    pub fn parse(selector: &LabelSelector) -> Selector {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement {
                key: key.clone(),
                operator: Operator::In(BTreeSet::from([value.clone()])),
            });
        }
        for expression in selector.match_expressions.iter().flatten() {
            let values: BTreeSet<String> = expression.values.iter().flatten().cloned().collect();
            let operator = match expression.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Selector::Invalid(format!(
                        "{} {}: values must be non-empty",
                        expression.key, expression.operator
                    ));
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Selector::Invalid(format!(
                        "{} {}: values must be empty",
                        expression.key, expression.operator
                    ));
                }
                "In" => Operator::In(values),
                "NotIn" => Operator::NotIn(values),
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Selector::Invalid(format!(
                        "{}: unknown operator {other:?}",
                        expression.key
                    ))
                }
            };
            requirements.push(Requirement {
                key: expression.key.clone(),
                operator,
            });
        }
        Selector::Requirements(requirements)
    }

    /// Whether an object with `labels` is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Selector::Requirements(requirements) => requirements
                .iter()
                .all(|requirement| requirement.matches(labels)),
            Selector::Invalid(_) => false,
        }
    }
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match &self.operator {
            Operator::In(values) => value.is_some_and(|value| values.contains(value)),
            // As upstream: a missing label satisfies NotIn.
            Operator::NotIn(values) => value.is_none_or(|value| !values.contains(value)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(ToString::to_string).collect()),
        }
    }

    fn selector(
        match_labels: &[(&str, &str)],
        expressions: Vec<LabelSelectorRequirement>,
    ) -> Selector {
        Selector::parse(&LabelSelector {
            match_labels: (!match_labels.is_empty()).then(|| labels(match_labels)),
            match_expressions: (!expressions.is_empty()).then_some(expressions),
        })
    }

    #[test]
    fn empty_selector_matches_everything() {
        let empty = selector(&[], vec![]);
        assert!(empty.matches(&labels(&[])));
        assert!(empty.matches(&labels(&[("app", "web")])));
        assert_eq!(empty, Selector::everything());
    }

    #[test]
    fn match_labels_are_anded() {
        let web_prod = selector(&[("app", "web"), ("env", "prod")], vec![]);
        assert!(web_prod.matches(&labels(&[("app", "web"), ("env", "prod"), ("x", "y")])));
        assert!(!web_prod.matches(&labels(&[("app", "web")])));
        assert!(!web_prod.matches(&labels(&[("app", "web"), ("env", "dev")])));
    }

    #[test]
    fn expressions() {
        let in_ = selector(&[], vec![expression("tier", "In", &["a", "b"])]);
        assert!(in_.matches(&labels(&[("tier", "b")])));
        assert!(!in_.matches(&labels(&[("tier", "c")])));
        assert!(!in_.matches(&labels(&[])));

        let not_in = selector(&[], vec![expression("tier", "NotIn", &["a"])]);
        assert!(not_in.matches(&labels(&[("tier", "b")])));
        assert!(
            not_in.matches(&labels(&[])),
            "a missing label is not in the set"
        );
        assert!(!not_in.matches(&labels(&[("tier", "a")])));

        let exists = selector(&[], vec![expression("tier", "Exists", &[])]);
        assert!(exists.matches(&labels(&[("tier", "")])));
        assert!(!exists.matches(&labels(&[])));

        let absent = selector(&[], vec![expression("tier", "DoesNotExist", &[])]);
        assert!(absent.matches(&labels(&[])));
        assert!(!absent.matches(&labels(&[("tier", "a")])));

        let both = selector(&[("app", "web")], vec![expression("tier", "Exists", &[])]);
        assert!(both.matches(&labels(&[("app", "web"), ("tier", "x")])));
        assert!(!both.matches(&labels(&[("app", "web")])));
    }

    #[test]
    fn malformed_selectors_select_nothing() {
        for bad in [
            expression("tier", "In", &[]),
            expression("tier", "NotIn", &[]),
            expression("tier", "Exists", &["a"]),
            expression("tier", "Gt", &["1"]),
        ] {
            let parsed = selector(&[], vec![bad]);
            assert!(matches!(parsed, Selector::Invalid(_)), "{parsed:?}");
            assert!(!parsed.matches(&labels(&[("tier", "a")])));
            assert!(!parsed.matches(&labels(&[])));
        }
    }
}
