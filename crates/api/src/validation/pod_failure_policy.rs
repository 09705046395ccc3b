//! A Job's `podFailurePolicy` (upstream's validatePodFailurePolicy): which
//! actions, operators, exit codes and condition patterns its rules may use.

use serde_json::Value;

use super::names::is_qualified_name;
use super::path::{arr, as_int, get, s, Path};
use crate::status::FieldError;

const MAX_RULES: usize = 20;
const MAX_EXIT_CODES: usize = 255;
const MAX_CONDITION_PATTERNS: usize = 20;
const ACTIONS: [&str; 4] = ["Count", "FailIndex", "FailJob", "Ignore"];
const OPERATORS: [&str; 2] = ["In", "NotIn"];
const STATUSES: [&str; 3] = ["False", "True", "Unknown"];

/// `policy` of a Job whose spec is `spec`, at `path`.
pub fn validate(spec: &Value, policy: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rules_path = path.child("rules");
    let rules = arr(policy, "rules");
    if rules.len() > MAX_RULES {
        errs.push(rules_path.too_many(rules.len(), MAX_RULES));
    }
    let template = get(spec, "template").and_then(|t| get(t, "spec"));
    let container_names: Vec<&str> = ["containers", "initContainers"]
        .iter()
        .flat_map(|list| template.map(|t| arr(t, list)).unwrap_or_default())
        .map(|c| s(c, "name"))
        .collect();
    let per_index = get(spec, "backoffLimitPerIndex").is_some();
    for (i, rule) in rules.iter().enumerate() {
        errs.extend(rule_errors(
            rule,
            &rules_path.index(i),
            per_index,
            &container_names,
        ));
    }
    errs
}

fn rule_errors(
    rule: &Value,
    path: &Path,
    per_index: bool,
    container_names: &[&str],
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let action_path = path.child("action");
    match s(rule, "action") {
        "" => errs.push(action_path.required(&valid_values(&ACTIONS))),
        "FailIndex" if !per_index => errs
            .push(action_path.invalid("FailIndex", "requires the backoffLimitPerIndex to be set")),
        action if !ACTIONS.contains(&action) => {
            errs.push(action_path.not_supported(action, &ACTIONS))
        }
        _ => {}
    }
    let exit_codes = get(rule, "onExitCodes");
    if let Some(requirement) = exit_codes {
        errs.extend(exit_code_errors(
            requirement,
            &path.child("onExitCodes"),
            container_names,
        ));
    }
    let patterns = arr(rule, "onPodConditions");
    if !patterns.is_empty() {
        errs.extend(pattern_errors(patterns, &path.child("onPodConditions")));
    }
    match (exit_codes.is_some(), !patterns.is_empty()) {
        (true, true) => errs.push(path.invalid_shown(
            "specifying both OnExitCodes and OnPodConditions is not supported",
            "",
        )),
        (false, false) => errs.push(path.invalid_shown(
            "specifying one of OnExitCodes and OnPodConditions is required",
            "",
        )),
        _ => {}
    }
    errs
}

fn exit_code_errors(requirement: &Value, path: &Path, container_names: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let operator = s(requirement, "operator");
    let operator_path = path.child("operator");
    if operator.is_empty() {
        errs.push(operator_path.required(&valid_values(&OPERATORS)));
    } else if !OPERATORS.contains(&operator) {
        errs.push(operator_path.not_supported(operator, &OPERATORS));
    }
    if let Some(name) = get(requirement, "containerName").and_then(Value::as_str) {
        if !container_names.contains(&name) {
            errs.push(path.child("containerName").invalid(
                name,
                "must be one of the container or initContainer names in the pod template",
            ));
        }
    }
    let values_path = path.child("values");
    let values: Vec<i64> = arr(requirement, "values")
        .iter()
        .filter_map(as_int)
        .collect();
    // Go prints the list as `%#v` of a []int32.
    let shown = match get(requirement, "values") {
        None => "[]int32(nil)".to_string(),
        Some(_) => format!(
            "[]int32{{{}}}",
            values
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    if values.is_empty() {
        errs.push(values_path.invalid_shown(&shown, "at least one value is required"));
    } else if values.len() > MAX_EXIT_CODES {
        errs.push(values_path.too_many(values.len(), MAX_EXIT_CODES));
    }
    let mut seen = Vec::with_capacity(values.len());
    for (j, &value) in values.iter().enumerate() {
        let value_path = values_path.index(j);
        if operator == "In" && value == 0 {
            errs.push(value_path.invalid(0, "must not be 0 for the In operator"));
        }
        if seen.contains(&value) {
            errs.push(value_path.duplicate(value));
        } else {
            seen.push(value);
        }
    }
    if values.windows(2).any(|pair| pair[0] > pair[1]) {
        errs.push(values_path.invalid_shown(&shown, "must be ordered"));
    }
    errs
}

fn pattern_errors(patterns: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if patterns.len() > MAX_CONDITION_PATTERNS {
        errs.push(path.too_many(patterns.len(), MAX_CONDITION_PATTERNS));
    }
    for (j, pattern) in patterns.iter().enumerate() {
        let pattern_path = path.index(j);
        let condition = s(pattern, "type");
        errs.extend(
            pattern_path
                .child("type")
                .invalid_each(condition, is_qualified_name(condition)),
        );
        let status_path = pattern_path.child("status");
        match s(pattern, "status") {
            "" => errs.push(status_path.required(&valid_values(&STATUSES))),
            status if !STATUSES.contains(&status) => {
                errs.push(status_path.not_supported(status, &STATUSES))
            }
            _ => {}
        }
    }
    errs
}

/// Go's `fmt.Sprintf("valid values: %q", list)`.
fn valid_values(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("valid values: [{}]", quoted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(rules: Value) -> Vec<String> {
        let spec = json!({"template": {"spec": {"containers": [{"name": "main"}]}}});
        validate(
            &spec,
            &json!({ "rules": rules }),
            &Path::new("spec.podFailurePolicy"),
        )
        .iter()
        .map(ToString::to_string)
        .collect()
    }

    #[test]
    fn rules_read_as_upstream_reports_them() {
        assert_eq!(
            messages(json!([{"action": "FailJob"}])),
            ["spec.podFailurePolicy.rules[0]: Invalid value: specifying one of OnExitCodes and OnPodConditions is required"]
        );
        assert_eq!(
            messages(json!([{"action": "FailJob",
                "onExitCodes": {"operator": "In", "values": [11, 11]}}])),
            ["spec.podFailurePolicy.rules[0].onExitCodes.values[1]: Duplicate value: 11"]
        );
        assert_eq!(
            messages(json!([{"action": "Explode",
                "onExitCodes": {"operator": "Within", "values": [2, 1],
                    "containerName": "other"}}])),
            [
                "spec.podFailurePolicy.rules[0].action: Unsupported value: \"Explode\": supported values: \"Count\", \"FailIndex\", \"FailJob\", \"Ignore\"",
                "spec.podFailurePolicy.rules[0].onExitCodes.operator: Unsupported value: \"Within\": supported values: \"In\", \"NotIn\"",
                "spec.podFailurePolicy.rules[0].onExitCodes.containerName: Invalid value: \"other\": must be one of the container or initContainer names in the pod template",
                "spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: []int32{2, 1}: must be ordered",
            ]
        );
        assert_eq!(
            messages(json!([{"action": "Ignore",
                "onExitCodes": {"operator": "In", "values": [0]},
                "onPodConditions": [{"type": "DisruptionTarget"}]}])),
            [
                "spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator",
                "spec.podFailurePolicy.rules[0].onPodConditions[0].status: Required value: valid values: [\"False\" \"True\" \"Unknown\"]",
                "spec.podFailurePolicy.rules[0]: Invalid value: specifying both OnExitCodes and OnPodConditions is not supported",
            ]
        );
        assert!(messages(json!([{"action": "Ignore",
            "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]))
        .is_empty());
    }
}
