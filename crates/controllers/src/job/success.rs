//! `spec.successPolicy` of Indexed Jobs (upstream's success_policy.go): the
//! Job succeeds early once any rule is met by its succeeded indexes.

use k8s_openapi::api::batch::v1::SuccessPolicy;

use super::indexes::Indexes;

/// The message of the first rule the succeeded indexes meet, if any
/// (upstream's matchSuccessPolicy):
/// - only `succeededIndexes`: all of them succeeded;
/// - only `succeededCount`: at least that many indexes succeeded;
/// - both: at least `succeededCount` of `succeededIndexes` succeeded.
pub fn matched_rule(
    policy: Option<&SuccessPolicy>,
    completions: u32,
    succeeded: &Indexes,
) -> Option<String> {
    let policy = policy?;
    if succeeded.is_empty() {
        return None;
    }
    let count = |c: Option<i32>| c.map(|c| c.max(0) as usize);
    policy
        .rules
        .iter()
        .position(|rule| match rule.succeeded_indexes.as_deref() {
            Some(text) => {
                let required = Indexes::parse(text, completions);
                // A rule whose indexes do not parse never matches.
                if required.is_empty() {
                    return false;
                }
                let done = required.count_in(succeeded);
                done == required.total()
                    || count(rule.succeeded_count).is_some_and(|wanted| done >= wanted)
            }
            None => count(rule.succeeded_count).is_some_and(|wanted| succeeded.total() >= wanted),
        })
        .map(|index| format!("Matched rules at index {index}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::SuccessPolicyRule;

    fn policy(rules: &[(Option<&str>, Option<i32>)]) -> SuccessPolicy {
        SuccessPolicy {
            rules: rules
                .iter()
                .map(|(indexes, count)| SuccessPolicyRule {
                    succeeded_indexes: indexes.map(String::from),
                    succeeded_count: *count,
                })
                .collect(),
        }
    }

    #[test]
    fn indexes_only_need_all_of_them() {
        let p = policy(&[(Some("0,2-3"), None)]);
        let some = Indexes::parse("0,2", 5);
        assert_eq!(matched_rule(Some(&p), 5, &some), None);
        let all = Indexes::parse("0-3", 5);
        assert_eq!(
            matched_rule(Some(&p), 5, &all).as_deref(),
            Some("Matched rules at index 0")
        );
    }

    #[test]
    fn count_only_needs_that_many_indexes() {
        let p = policy(&[(None, Some(2))]);
        assert_eq!(matched_rule(Some(&p), 5, &Indexes::parse("4", 5)), None);
        assert!(matched_rule(Some(&p), 5, &Indexes::parse("1,4", 5)).is_some());
    }

    #[test]
    fn both_need_the_count_within_the_indexes() {
        let p = policy(&[(Some("1-4"), Some(2)), (None, Some(4))]);
        // 0 and 1 succeeded: only one of 1-4.
        assert_eq!(matched_rule(Some(&p), 6, &Indexes::parse("0,1", 6)), None);
        assert_eq!(
            matched_rule(Some(&p), 6, &Indexes::parse("0,1,3", 6)).as_deref(),
            Some("Matched rules at index 0")
        );
        // Four outside the rule's indexes meet the second rule.
        let p = policy(&[(Some("1-2"), Some(2)), (None, Some(3))]);
        assert_eq!(
            matched_rule(Some(&p), 6, &Indexes::parse("0,3-4", 6)).as_deref(),
            Some("Matched rules at index 1")
        );
    }

    #[test]
    fn nothing_succeeded_or_no_policy_never_matches() {
        let p = policy(&[(None, Some(0))]);
        assert_eq!(matched_rule(Some(&p), 3, &Indexes::default()), None);
        assert_eq!(matched_rule(None, 3, &Indexes::parse("0-2", 3)), None);
    }
}
