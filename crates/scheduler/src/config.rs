//! The KubeSchedulerConfiguration file (kubescheduler.config.k8s.io/v1):
//! profiles by schedulerName, score plugin weights, NodeResourcesFit's
//! scoring strategy, percentageOfNodesToScore.

use std::path::Path;

use serde_json::Value;

use crate::plugins::node_resources_fit::{default_resources, ScoringStrategy, StrategyType};

pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Score plugin weights, upstream's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weights {
    pub taint_toleration: i64,
    pub node_affinity: i64,
    pub node_resources_fit: i64,
    pub balanced_allocation: i64,
    pub inter_pod_affinity: i64,
    pub pod_topology_spread: i64,
}

impl Default for Weights {
    fn default() -> Weights {
        Weights {
            taint_toleration: 3,
            node_affinity: 2,
            node_resources_fit: 1,
            balanced_allocation: 1,
            inter_pod_affinity: 2,
            pod_topology_spread: 2,
        }
    }
}

impl Weights {
    fn get_mut(&mut self, plugin: &str) -> Option<&mut i64> {
        Some(match plugin {
            "TaintToleration" => &mut self.taint_toleration,
            "NodeAffinity" => &mut self.node_affinity,
            "NodeResourcesFit" => &mut self.node_resources_fit,
            "NodeResourcesBalancedAllocation" => &mut self.balanced_allocation,
            "InterPodAffinity" => &mut self.inter_pod_affinity,
            "PodTopologySpread" => &mut self.pod_topology_spread,
            _ => return None,
        })
    }
}

/// How pods naming one schedulerName are scheduled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub scheduler_name: String,
    pub scoring: ScoringStrategy,
    pub weights: Weights,
    /// None: upstream's adaptive percentage.
    pub percentage_of_nodes_to_score: Option<u32>,
}

impl Default for Profile {
    fn default() -> Profile {
        Profile {
            scheduler_name: DEFAULT_SCHEDULER_NAME.into(),
            scoring: ScoringStrategy::default(),
            weights: Weights::default(),
            percentage_of_nodes_to_score: None,
        }
    }
}

/// Reads the file; the default profile when there is none.
pub fn load(path: Option<&Path>) -> Result<Vec<Profile>, String> {
    let Some(path) = path else {
        return Ok(vec![Profile::default()]);
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse(text: &str) -> Result<Vec<Profile>, String> {
    let config: Value = serde_saphyr::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let api_version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = config
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api_version != "kubescheduler.config.k8s.io/v1" || kind != "KubeSchedulerConfiguration" {
        return Err(format!(
            "expected apiVersion kubescheduler.config.k8s.io/v1 and kind KubeSchedulerConfiguration, \
             got {api_version:?} {kind:?}"
        ));
    }
    let global_percentage = percentage(&config, "percentageOfNodesToScore")?;
    let mut profiles = Vec::new();
    let listed = config
        .get("profiles")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if listed.is_empty() {
        profiles.push(Profile {
            percentage_of_nodes_to_score: global_percentage,
            ..Profile::default()
        });
    }
    for (i, spec) in listed.iter().enumerate() {
        let mut profile = Profile {
            percentage_of_nodes_to_score: percentage(spec, "percentageOfNodesToScore")?
                .or(global_percentage),
            ..Profile::default()
        };
        if let Some(name) = spec.get("schedulerName").and_then(Value::as_str) {
            profile.scheduler_name = name.into();
        }
        if profiles
            .iter()
            .any(|p: &Profile| p.scheduler_name == profile.scheduler_name)
        {
            return Err(format!(
                "profiles[{i}].schedulerName: Duplicate value: {:?}",
                profile.scheduler_name
            ));
        }
        apply_score_plugins(&mut profile.weights, spec.pointer("/plugins/score"));
        for plugin_config in spec
            .get("pluginConfig")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if plugin_config.get("name").and_then(Value::as_str) == Some("NodeResourcesFit") {
                profile.scoring = scoring_strategy(plugin_config.pointer("/args/scoringStrategy"))
                    .map_err(|e| format!("profiles[{i}].pluginConfig[NodeResourcesFit]: {e}"))?;
            }
        }
        profiles.push(profile);
    }
    Ok(profiles)
}

fn percentage(value: &Value, field: &str) -> Result<Option<u32>, String> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(p) if p <= 100 => Ok(Some(p as u32)),
            _ => Err(format!("{field}: must be an integer between 0 and 100")),
        },
    }
}

/// `plugins.score`: `disabled` (names or "*") then `enabled` with weights.
fn apply_score_plugins(weights: &mut Weights, score: Option<&Value>) {
    let Some(score) = score else {
        return;
    };
    let names = |field: &str| -> Vec<(String, Option<i64>)> {
        score
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let name = p.get("name")?.as_str()?.to_string();
                Some((name, p.get("weight").and_then(Value::as_i64)))
            })
            .collect()
    };
    for (name, _) in names("disabled") {
        if name == "*" {
            *weights = Weights {
                taint_toleration: 0,
                node_affinity: 0,
                node_resources_fit: 0,
                balanced_allocation: 0,
                inter_pod_affinity: 0,
                pod_topology_spread: 0,
            };
        } else if let Some(weight) = weights.get_mut(&name) {
            *weight = 0;
        }
    }
    let defaults = Weights::default();
    for (name, weight) in names("enabled") {
        let default = defaults.clone().get_mut(&name).map(|w| *w);
        if let (Some(slot), Some(default)) = (weights.get_mut(&name), default) {
            *slot = weight.filter(|w| *w > 0).unwrap_or(default);
        }
    }
}

fn scoring_strategy(value: Option<&Value>) -> Result<ScoringStrategy, String> {
    let Some(value) = value else {
        return Ok(ScoringStrategy::default());
    };
    let kind = match value.get("type").and_then(Value::as_str).unwrap_or("LeastAllocated") {
        "LeastAllocated" => StrategyType::LeastAllocated,
        "MostAllocated" => StrategyType::MostAllocated,
        other => {
            return Err(format!(
                "scoringStrategy.type: Unsupported value: {other:?}: supported values: \"LeastAllocated\", \"MostAllocated\""
            ))
        }
    };
    let mut resources = Vec::new();
    for resource in value
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = resource
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name.is_empty() {
            return Err("scoringStrategy.resources[].name: Required value".into());
        }
        let weight = resource.get("weight").and_then(Value::as_i64).unwrap_or(1);
        if !(1..=100).contains(&weight) {
            return Err(format!(
                "scoringStrategy.resources[{name}].weight: must be in the range [1, 100]"
            ));
        }
        resources.push((name.to_string(), weight));
    }
    if resources.is_empty() {
        resources = default_resources();
    }
    Ok(ScoringStrategy { kind, resources })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_allocated_comes_from_the_node_resources_fit_args() {
        let profiles = parse(
            "apiVersion: kubescheduler.config.k8s.io/v1\n\
             kind: KubeSchedulerConfiguration\n\
             profiles:\n\
             - schedulerName: default-scheduler\n  \
               pluginConfig:\n  \
               - name: NodeResourcesFit\n    \
                 args:\n      \
                   scoringStrategy:\n        \
                     type: MostAllocated\n        \
                     resources:\n        \
                     - name: cpu\n          \
                       weight: 2\n        \
                     - name: memory\n          \
                       weight: 1\n",
        )
        .unwrap();
        assert_eq!(profiles.len(), 1);
        assert_eq!(profiles[0].scoring.kind, StrategyType::MostAllocated);
        assert_eq!(
            profiles[0].scoring.resources,
            vec![("cpu".into(), 2), ("memory".into(), 1)]
        );
    }

    #[test]
    fn no_profiles_means_the_default_one_and_bad_files_are_refused() {
        let profiles = parse(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n\
             percentageOfNodesToScore: 30\n",
        )
        .unwrap();
        assert_eq!(profiles[0].scheduler_name, DEFAULT_SCHEDULER_NAME);
        assert_eq!(profiles[0].scoring.kind, StrategyType::LeastAllocated);
        assert_eq!(profiles[0].percentage_of_nodes_to_score, Some(30));
        assert!(parse("kind: Pod\n").is_err());
        assert!(parse(": : :").is_err());
        let bad = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n\
                   profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      \
                   scoringStrategy:\n        type: Sideways\n";
        assert!(parse(bad).unwrap_err().contains("Unsupported value"));
    }

    #[test]
    fn score_plugins_can_be_disabled_and_reweighted() {
        let profiles = parse(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n\
             profiles:\n- schedulerName: packer\n  plugins:\n    score:\n      disabled:\n      \
             - name: '*'\n      enabled:\n      - name: NodeResourcesFit\n        weight: 5\n",
        )
        .unwrap();
        assert_eq!(profiles[0].scheduler_name, "packer");
        assert_eq!(profiles[0].weights.node_resources_fit, 5);
        assert_eq!(profiles[0].weights.taint_toleration, 0);
    }
}
