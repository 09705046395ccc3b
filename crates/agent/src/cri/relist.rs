//! Notices containers that change on their own (exit, die) by listing
//! them every second, as upstream's generic PLEG does, and asks the agent
//! to sync their pods.

use std::collections::HashMap;
use std::time::Duration;

use k8s_cri::v1 as cri;
use tokio::sync::mpsc::UnboundedSender;

use super::config::POD_UID;
use super::CriClient;

const PERIOD: Duration = Duration::from_secs(1);

pub async fn run(client: CriClient, changed: UnboundedSender<String>) {
    let mut seen: HashMap<String, (i32, String)> = HashMap::new();
    let mut ticks = tokio::time::interval(PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if changed.is_closed() {
            return;
        }
        let mut runtime = client.runtime.clone();
        let Ok(listed) = runtime
            .list_containers(cri::ListContainersRequest { filter: None })
            .await
        else {
            continue;
        };
        let mut now = HashMap::new();
        for container in listed.into_inner().containers {
            let Some(uid) = container.labels.get(POD_UID) else {
                continue;
            };
            now.insert(container.id, (container.state, uid.clone()));
        }
        let mut pods: Vec<&String> = now
            .iter()
            .filter(|(id, state)| seen.get(*id) != Some(*state))
            .map(|(_, (_, uid))| uid)
            .chain(
                seen.iter()
                    .filter(|(id, _)| !now.contains_key(*id))
                    .map(|(_, (_, uid))| uid),
            )
            .collect();
        pods.sort();
        pods.dedup();
        for uid in pods {
            let _ = changed.send(uid.clone());
        }
        seen = now;
    }
}
