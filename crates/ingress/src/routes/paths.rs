//! The paths of one host's rules, matched as the Ingress API defines:
//! `Exact` is the whole path; `Prefix` is element-wise by `/`, so `/foo`
//! matches `/foo`, `/foo/` and `/foo/bar` but not `/foobar`, and a
//! trailing slash in the rule is ignored. An exact match wins, then the
//! longest prefix.

use std::collections::HashMap;
use std::sync::Arc;

use super::Route;

/// How a rule path matches, from `pathType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathMatch {
    Exact,
    /// Also `ImplementationSpecific`, which this controller reads as a prefix.
    Prefix,
}

impl PathMatch {
    pub(crate) fn from_path_type(path_type: &str) -> PathMatch {
        match path_type {
            "Exact" => PathMatch::Exact,
            _ => PathMatch::Prefix,
        }
    }
}

/// The routes of one host (or of the rules without a host).
#[derive(Debug, Default)]
pub(crate) struct PathRoutes {
    exact: HashMap<String, Arc<Route>>,
    /// Keyed by the rule path without trailing slashes (`/` for the root),
    /// so a lookup only tries the request path cut at each `/`.
    prefix: HashMap<String, Arc<Route>>,
}

impl PathRoutes {
    /// Adds a rule path; the first rule for a path and match keeps it, so
    /// callers add the older Ingresses first. Returns false when the path
    /// was taken already, or is not a path at all.
    pub(crate) fn insert(&mut self, path: &str, matching: PathMatch, route: Arc<Route>) -> bool {
        let path = if path.is_empty() { "/" } else { path };
        if !path.starts_with('/') {
            return false;
        }
        let (map, key) = match matching {
            PathMatch::Exact => (&mut self.exact, path.to_string()),
            PathMatch::Prefix => (&mut self.prefix, prefix_key(path).to_string()),
        };
        match map.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(route);
                true
            }
        }
    }

    /// The route for a request path (without the query).
    pub(crate) fn find(&self, path: &str) -> Option<&Arc<Route>> {
        if let Some(route) = self.exact.get(path) {
            return Some(route);
        }
        if self.prefix.is_empty() {
            return None;
        }
        prefix_candidates(path).find_map(|candidate| self.prefix.get(candidate))
    }
}

/// A prefix rule path as it is keyed: trailing slashes dropped, `/` kept.
fn prefix_key(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/"
    } else {
        trimmed
    }
}

/// The prefixes of `path` a prefix rule may be, longest first: the path
/// itself and the path cut before each `/`, ending with `/`.
fn prefix_candidates(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(path.trim_end_matches('/'));
    std::iter::from_fn(move || {
        let current = rest?;
        if current.is_empty() {
            rest = None;
            return Some("/");
        }
        rest = Some(match current.rfind('/') {
            Some(cut) => current[..cut].trim_end_matches('/'),
            None => "",
        });
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::test_route;

    fn table(rules: &[(&str, PathMatch)]) -> PathRoutes {
        let mut routes = PathRoutes::default();
        for (path, matching) in rules {
            let label = format!("{path} {matching:?}");
            assert!(routes.insert(path, *matching, test_route(&label)));
        }
        routes
    }

    fn found(routes: &PathRoutes, path: &str) -> Option<String> {
        routes.find(path).map(|route| route.ingress.to_string())
    }

    #[test]
    fn candidates_cut_at_each_slash() {
        let all = |path| prefix_candidates(path).collect::<Vec<_>>();
        assert_eq!(all("/a/b/c"), ["/a/b/c", "/a/b", "/a", "/"]);
        assert_eq!(all("/a/b/"), ["/a/b", "/a", "/"]);
        assert_eq!(all("/"), ["/"]);
        assert_eq!(all(""), ["/"]);
        assert_eq!(all("/a//b"), ["/a//b", "/a", "/"]);
    }

    #[test]
    fn prefix_matches_whole_elements() {
        let routes = table(&[("/foo", PathMatch::Prefix)]);
        assert!(found(&routes, "/foo").is_some());
        assert!(found(&routes, "/foo/").is_some());
        assert!(found(&routes, "/foo/bar").is_some());
        assert!(found(&routes, "/foobar").is_none());
        assert!(found(&routes, "/").is_none());
    }

    #[test]
    fn trailing_slash_of_a_prefix_rule_is_ignored() {
        let routes = table(&[("/foo/", PathMatch::Prefix)]);
        assert!(found(&routes, "/foo").is_some());
        assert!(found(&routes, "/foo/bar").is_some());
        assert!(found(&routes, "/foobar").is_none());
    }

    #[test]
    fn root_prefix_matches_everything() {
        let routes = table(&[("/", PathMatch::Prefix)]);
        assert!(found(&routes, "/").is_some());
        assert!(found(&routes, "/anything/at/all").is_some());
    }

    #[test]
    fn exact_matches_the_whole_path_only() {
        let routes = table(&[("/foo", PathMatch::Exact)]);
        assert!(found(&routes, "/foo").is_some());
        assert!(found(&routes, "/foo/").is_none());
        assert!(found(&routes, "/foo/bar").is_none());
    }

    #[test]
    fn exact_wins_over_prefix_then_longest_prefix_wins() {
        let routes = table(&[
            ("/", PathMatch::Prefix),
            ("/api", PathMatch::Prefix),
            ("/api/v1", PathMatch::Prefix),
            ("/api", PathMatch::Exact),
        ]);
        assert_eq!(found(&routes, "/api").as_deref(), Some("/api Exact"));
        assert_eq!(found(&routes, "/api/").as_deref(), Some("/api Prefix"));
        assert_eq!(
            found(&routes, "/api/v1/pods").as_deref(),
            Some("/api/v1 Prefix")
        );
        assert_eq!(found(&routes, "/api/v2").as_deref(), Some("/api Prefix"));
        assert_eq!(found(&routes, "/other").as_deref(), Some("/ Prefix"));
    }

    #[test]
    fn first_rule_for_a_path_keeps_it() {
        let mut routes = PathRoutes::default();
        assert!(routes.insert("/a", PathMatch::Prefix, test_route("old")));
        assert!(!routes.insert("/a/", PathMatch::Prefix, test_route("new")));
        assert_eq!(found(&routes, "/a").as_deref(), Some("old"));
        // The same path as Exact is a different rule.
        assert!(routes.insert("/a", PathMatch::Exact, test_route("exact")));
    }

    #[test]
    fn paths_that_are_not_paths_are_refused() {
        let mut routes = PathRoutes::default();
        assert!(!routes.insert("foo", PathMatch::Prefix, test_route("bad")));
        // An empty path is the root, as ingress-nginx reads it.
        assert!(routes.insert("", PathMatch::Prefix, test_route("root")));
        assert!(found(&routes, "/x").is_some());
    }
}
