use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse_error(text: &str) -> String {
    Selector::parse(text).unwrap_err().0
}

#[test]
fn good_strings_round_trip() {
    for (text, canonical) in [
        ("x=a", "x=a"),
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("", ""),
        ("x!=a", "x!=a"),
        ("x=a,y!=b,z in (h,i,j)", "x=a,y!=b,z in (h,i,j)"),
        ("x!=a,y=b", "x!=a,y=b"),
        ("x=", "x="),
        ("x= ", "x="),
        ("x=,z= ", "x=,z="),
        ("x= ,z= ", "x=,z="),
        ("!x", "!x"),
        ("x>1", "x>1"),
        ("x>1,z<5", "x>1,z<5"),
        ("x==a", "x==a"),
        ("  x  notin (a) ", "x notin (a)"),
        ("x in (b,a,a)", "x in (a,b)"),
        ("y=a,x=b", "x=b,y=a"),
    ] {
        let selector = Selector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(selector.to_string(), canonical, "{text}");
    }
}

#[test]
fn bad_strings_fail_with_upstreams_messages() {
    for text in ["x=a||y=b", "x==a==b", "!x=a", "x<a"] {
        assert!(Selector::parse(text).is_err(), "{text}");
    }
    assert_eq!(
        parse_error("x=a||y=b"),
        "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    );
    assert_eq!(
        parse_error("!x=a"),
        "found '=', expected: ',' or 'end of string'"
    );
    assert_eq!(
        parse_error("x<a"),
        "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
    assert_eq!(
        parse_error("x exists"),
        "unable to parse requirement: found 'exists', expected: in, notin, =, ==, !=, gt, lt"
    );
    assert_eq!(
        parse_error("x in a"),
        "unable to parse requirement: found 'a' expected: '('"
    );
    assert_eq!(
        parse_error("x in (a b)"),
        "unable to parse requirement: found 'b', expected: ',' or ')'"
    );
    assert_eq!(
        parse_error("x=a,"),
        "found '', expected: identifier after ','"
    );
    assert_eq!(
        parse_error("=a"),
        "found '=', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(
        parse_error("x=a b"),
        "found 'b', expected: ',' or 'end of string'"
    );
    assert_eq!(
        parse_error("-x"),
        "unable to parse requirement: <nil>: Invalid value: \"-x\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    );
}

#[test]
fn matches_as_upstream() {
    let yes =
        |text: &str, set: &[(&str, &str)]| Selector::parse(text).unwrap().matches(&labels(set));
    assert!(yes("", &[("x", "y")]));
    assert!(yes("x=y", &[("x", "y")]));
    assert!(yes("x==y,z=w", &[("x", "y"), ("z", "w")]));
    assert!(yes("x!=y,z!=w", &[("x", "z"), ("z", "a")]));
    assert!(yes("notin=in", &[("notin", "in")]));
    assert!(yes("x", &[("x", "z")]));
    assert!(yes("!x", &[("y", "z")]));
    assert!(yes("x>1", &[("x", "2")]));
    assert!(yes("x<1", &[("x", "0")]));
    assert!(yes("x in (a,b)", &[("x", "b")]));
    assert!(yes("x notin (a,b)", &[("y", "b")]));
    assert!(yes("x in (a,)", &[("x", "")]));
    assert!(!yes("x=z", &[]));
    assert!(!yes("x=y", &[("x", "z")]));
    assert!(!yes("x", &[("y", "z")]));
    assert!(!yes("!x", &[("x", "z")]));
    assert!(!yes("x>1", &[("x", "0")]));
    assert!(!yes("x>1", &[("x", "abc")]));
    assert!(!yes("x<1", &[("x", "2")]));
    assert!(!yes("x notin (a,b)", &[("x", "a")]));
    assert!(yes("x in (in)", &[("x", "in")]));
}

#[test]
fn exact_match() {
    let selector = Selector::parse("a=b,c in (d),e in (f,g),!h").unwrap();
    assert_eq!(selector.requires_exact_match("a"), Some("b"));
    assert_eq!(selector.requires_exact_match("c"), Some("d"));
    assert_eq!(selector.requires_exact_match("e"), None);
    assert_eq!(selector.requires_exact_match("h"), None);
}

fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.to_string(),
        operator: operator.to_string(),
        values: Some(values.iter().map(|v| v.to_string()).collect()),
    }
}

#[test]
fn converts_spec_selectors() {
    assert!(!Selector::from_label_selector(None)
        .unwrap()
        .matches(&labels(&[])));
    let empty = LabelSelector::default();
    assert!(Selector::from_label_selector(Some(&empty))
        .unwrap()
        .matches(&labels(&[("a", "b")])));
    let selector = LabelSelector {
        match_labels: Some(labels(&[("app", "web")])),
        match_expressions: Some(vec![
            expression("tier", "In", &["b", "a"]),
            expression("canary", "DoesNotExist", &[]),
            expression("env", "NotIn", &["prod"]),
            expression("zone", "Exists", &[]),
        ]),
    };
    let selector = Selector::from_label_selector(Some(&selector)).unwrap();
    assert_eq!(
        selector.to_string(),
        "app=web,!canary,env notin (prod),tier in (a,b),zone"
    );
    assert!(selector.matches(&labels(&[("app", "web"), ("tier", "a"), ("zone", "1")])));
    assert!(!selector.matches(&labels(&[("app", "web"), ("tier", "c"), ("zone", "1")])));

    let bad = LabelSelector {
        match_expressions: Some(vec![expression("a", "Within", &[])]),
        ..LabelSelector::default()
    };
    assert_eq!(
        Selector::from_label_selector(Some(&bad)).unwrap_err().0,
        "\"Within\" is not a valid label selector operator"
    );
    let bad = LabelSelector {
        match_expressions: Some(vec![expression("a", "In", &[])]),
        ..LabelSelector::default()
    };
    assert_eq!(
        Selector::from_label_selector(Some(&bad)).unwrap_err().0,
        "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
    );
    let bad = LabelSelector {
        match_expressions: Some(vec![expression("a", "Exists", &["x"])]),
        ..LabelSelector::default()
    };
    assert_eq!(
        Selector::from_label_selector(Some(&bad)).unwrap_err().0,
        "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
    );
}

#[test]
fn formats_as_kubectl_shows() {
    assert_eq!(format_labels(&labels(&[])), "<none>");
    assert_eq!(
        format_labels(&labels(&[("a", "2"), ("a.b", "1")])),
        "a.b=1,a=2"
    );
    assert_eq!(format_label_selector(None), "<none>");
    assert_eq!(
        format_label_selector(Some(&LabelSelector::default())),
        "<none>"
    );
    let bad = LabelSelector {
        match_expressions: Some(vec![expression("a", "Nope", &[])]),
        ..LabelSelector::default()
    };
    assert_eq!(format_label_selector(Some(&bad)), "<error>");
}

#[test]
fn validates_spec_selectors() {
    let selector = LabelSelector {
        match_labels: Some(labels(&[("bad key", "v")])),
        match_expressions: Some(vec![
            expression("a", "In", &[]),
            expression("b", "Exists", &["x"]),
            expression("c", "Near", &[]),
            expression("d", "In", &["no good"]),
        ]),
    };
    let errors: Vec<String> = validate_label_selector(&selector, "spec.selector")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(errors[0].starts_with(
        "spec.selector.matchLabels: Invalid value: \"bad key\": name part must consist"
    ));
    assert_eq!(
        errors[1],
        "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
    );
    assert_eq!(
        errors[2],
        "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
    );
    assert_eq!(
        errors[3],
        "spec.selector.matchExpressions[2].operator: Invalid value: \"Near\": not a valid selector operator"
    );
    assert!(errors[4].starts_with(
        "spec.selector.matchExpressions[3].values[0]: Invalid value: \"no good\": a valid label"
    ));
}

#[test]
fn qualified_names() {
    assert!(is_qualified_name("app").is_empty());
    assert!(is_qualified_name("example.com/app").is_empty());
    assert!(is_qualified_name("app.kubernetes.io/name").is_empty());
    assert_eq!(is_qualified_name("/app"), ["prefix part must be non-empty"]);
    assert_eq!(is_qualified_name("Example.com/app").len(), 1);
    assert!(is_qualified_name("a/b/c")[0].starts_with("a qualified name must consist"));
    assert_eq!(
        is_qualified_name(&"a".repeat(64)),
        ["name part must be no more than 63 characters"]
    );
    assert!(is_valid_label_value("").is_empty());
    assert!(is_valid_label_value("a-b_c.d").is_empty());
    assert_eq!(is_valid_label_value("-a").len(), 1);
}
