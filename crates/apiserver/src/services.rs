//! What writes of a Service do beyond the generic path, as upstream's
//! service REST: hand out its ClusterIP, NodePorts and health check node
//! port, keep them across updates, and give them back when they are no
//! longer used.

use std::net::IpAddr;
use std::sync::Arc;

use capstan_api::{ApiError, FieldError};
use capstan_store::Store;
use serde_json::{json, Value};

use crate::allocator::{AllocateError, Cidr, RangeAllocator};
use crate::object;

pub struct ServiceAllocators {
    pub cidr: Cidr,
    ips: RangeAllocator,
    ports: RangeAllocator,
    port_range: (u16, u16),
}

/// What one write allocated, to give back if the write fails.
#[derive(Default)]
pub struct Allocated {
    ip: Option<u64>,
    ports: Vec<u64>,
}

impl ServiceAllocators {
    pub fn new(store: Arc<dyn Store>, cidr: Cidr, port_range: (u16, u16)) -> ServiceAllocators {
        let ips = RangeAllocator::new(
            store.clone(),
            "/registry/ranges/serviceips",
            cidr.to_string(),
            cidr.size(),
        );
        let ports = RangeAllocator::new(
            store,
            "/registry/ranges/servicenodeports",
            format!("{}-{}", port_range.0, port_range.1),
            u64::from(port_range.1 - port_range.0) + 1,
        );
        ServiceAllocators {
            cidr,
            ips,
            ports,
            port_range,
        }
    }

    /// Copies into an update what the client left out but was allocated
    /// before: the ClusterIP, and the NodePort of each unchanged port.
    pub fn keep_allocated(&self, new: &mut Value, old: &Value) {
        let empty = |ip: Option<&Value>| ip.and_then(Value::as_str).is_none_or(str::is_empty);
        if empty(new.pointer("/spec/clusterIP"))
            && !empty(old.pointer("/spec/clusterIP"))
            && type_of(new) != "ExternalName"
        {
            new["spec"]["clusterIP"] = old["spec"]["clusterIP"].clone();
            new["spec"]["clusterIPs"] = old["spec"]["clusterIPs"].clone();
        }
        // Upstream's `dropTypeDependentFields`: the health check port goes
        // with the need for it, unless the client changed it.
        let old_health = health_check_port(old);
        if needs_health_check(new) {
            if health_check_port(new) == 0 && old_health != 0 {
                new["spec"]["healthCheckNodePort"] = old_health.into();
            }
        } else if needs_health_check(old) && health_check_port(new) == old_health {
            if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("healthCheckNodePort");
            }
        }
        if !uses_node_ports(new) {
            return;
        }
        let old_ports: Vec<Value> = old
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for port in ports {
                if port.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
                    continue;
                }
                let same = old_ports
                    .iter()
                    .find(|o| o["port"] == port["port"] && o["protocol"] == port["protocol"]);
                if let Some(node_port) = same
                    .and_then(|o| o.get("nodePort"))
                    .filter(|p| p.as_i64().unwrap_or(0) != 0)
                {
                    port["nodePort"] = node_port.clone();
                }
            }
        }
    }

    /// Allocates what `service` needs and `old` (the stored version, on an
    /// update) does not have yet.
    pub async fn allocate(
        &self,
        service: &mut Value,
        old: Option<&Value>,
    ) -> Result<Allocated, ApiError> {
        let name = object::name(service).unwrap_or_default().to_string();
        let mut allocated = Allocated::default();
        let result = self
            .allocate_into(service, old, &name, &mut allocated)
            .await;
        match result {
            Ok(()) => Ok(allocated),
            Err(error) => {
                self.release(allocated).await;
                Err(error)
            }
        }
    }

    async fn allocate_into(
        &self,
        service: &mut Value,
        old: Option<&Value>,
        name: &str,
        allocated: &mut Allocated,
    ) -> Result<(), ApiError> {
        let old_ip = old
            .and_then(|o| o.pointer("/spec/clusterIP"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let ip = service
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if type_of(service) != "ExternalName" && ip != "None" && (ip.is_empty() || ip != old_ip) {
            let wanted = match ip.as_str() {
                "" => None,
                text => {
                    let address: IpAddr = text.parse().map_err(|_| {
                        ip_error(
                            name,
                            text,
                            &format!("failed to allocate IP {text}: not a valid IP"),
                        )
                    })?;
                    Some(self.cidr.offset(address).ok_or_else(|| {
                        ip_error(name, text, &format!(
                            "failed to allocate IP {text}: the provided IP ({text}) is not in the valid range. The range of valid IPs is {}",
                            self.cidr
                        ))
                    })?)
                }
            };
            let offset = self
                .ips
                .allocate(wanted)
                .await
                .map_err(|error| match error {
                    AllocateError::Taken => ip_error(
                        name,
                        &ip,
                        &format!("failed to allocate IP {ip}: provided IP is already allocated"),
                    ),
                    AllocateError::Full => {
                        ApiError::internal("failed to allocate a serviceIP: range is full")
                    }
                    other => {
                        ApiError::internal(format!("failed to allocate a serviceIP: {other:?}"))
                    }
                })?;
            allocated.ip = Some(offset);
            let address = self.cidr.address(offset).to_string();
            service["spec"]["clusterIP"] = address.clone().into();
            service["spec"]["clusterIPs"] = json!([address]);
        } else if ip == "None" {
            service["spec"]["clusterIPs"] = json!(["None"]);
        }
        let old_ports: Vec<i64> = old.map(held_ports).unwrap_or_default();
        if uses_node_ports(service) {
            if let Some(ports) = service
                .pointer_mut("/spec/ports")
                .and_then(Value::as_array_mut)
            {
                for (index, port) in ports.iter_mut().enumerate() {
                    let given = port.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
                    if given != 0 && old_ports.contains(&given) {
                        continue;
                    }
                    let field = format!("spec.ports[{index}].nodePort");
                    let node_port = self.allocate_port(name, &field, given, allocated).await?;
                    port["nodePort"] = node_port.into();
                }
            }
        }
        // A LoadBalancer with externalTrafficPolicy Local gets a node port
        // on which each node's proxy says whether it has local endpoints.
        if needs_health_check(service) {
            let given = health_check_port(service);
            if given == 0 || !old_ports.contains(&given) {
                let port = self
                    .allocate_port(name, "spec.healthCheckNodePort", given, allocated)
                    .await?;
                service["spec"]["healthCheckNodePort"] = port.into();
            }
        }
        Ok(())
    }

    /// Allocates `given` from the node port range, or any free port when
    /// it is 0; the error names `field`.
    async fn allocate_port(
        &self,
        name: &str,
        field: &str,
        given: i64,
        allocated: &mut Allocated,
    ) -> Result<i64, ApiError> {
        let wanted = if given == 0 {
            None
        } else {
            let (first, last) = self.port_range;
            if given < i64::from(first) || given > i64::from(last) {
                return Err(invalid(name, FieldError::invalid(
                    field,
                    given,
                    format!("provided port is not in the valid range. The range of valid ports is {first}-{last}"),
                )));
            }
            Some((given - i64::from(first)) as u64)
        };
        let offset = self
            .ports
            .allocate(wanted)
            .await
            .map_err(|error| match error {
                AllocateError::Taken => invalid(
                    name,
                    FieldError::invalid(field, given, "provided port is already allocated"),
                ),
                AllocateError::Full => {
                    ApiError::internal("failed to allocate a nodePort: range is full")
                }
                other => ApiError::internal(format!("failed to allocate a nodePort: {other:?}")),
            })?;
        allocated.ports.push(offset);
        Ok(i64::from(self.port_range.0) + offset as i64)
    }

    /// Gives back what a failed write allocated.
    pub async fn release(&self, allocated: Allocated) {
        if let Some(offset) = allocated.ip {
            let _ = self.ips.release(offset).await;
        }
        for offset in allocated.ports {
            let _ = self.ports.release(offset).await;
        }
    }

    /// Gives back what `old` held and `new` (none: deleted) no longer does.
    pub async fn release_unused(&self, old: &Value, new: Option<&Value>) {
        let ip_of = |service: &Value| {
            service
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        if let Some(ip) = ip_of(old) {
            if new.and_then(ip_of) != Some(ip.clone()) {
                if let Some(offset) = ip.parse().ok().and_then(|ip| self.cidr.offset(ip)) {
                    let _ = self.ips.release(offset).await;
                }
            }
        }
        let kept = new.map(held_ports).unwrap_or_default();
        for port in held_ports(old) {
            if !kept.contains(&port) && port >= i64::from(self.port_range.0) {
                let _ = self
                    .ports
                    .release((port - i64::from(self.port_range.0)) as u64)
                    .await;
            }
        }
    }
}

fn type_of(service: &Value) -> &str {
    service
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

fn uses_node_ports(service: &Value) -> bool {
    match type_of(service) {
        "NodePort" => true,
        "LoadBalancer" => {
            service
                .pointer("/spec/allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                != Some(false)
        }
        _ => false,
    }
}

/// Upstream's `needsHCNodePort`.
fn needs_health_check(service: &Value) -> bool {
    type_of(service) == "LoadBalancer"
        && service
            .pointer("/spec/externalTrafficPolicy")
            .and_then(Value::as_str)
            == Some("Local")
}

fn health_check_port(service: &Value) -> i64 {
    service
        .pointer("/spec/healthCheckNodePort")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Every port of the node port range `service` holds: its ports' node
/// ports and its health check node port.
fn held_ports(service: &Value) -> Vec<i64> {
    let mut held: Vec<i64> = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p.get("nodePort")?.as_i64())
                .collect()
        })
        .unwrap_or_default();
    held.push(health_check_port(service));
    held.retain(|port| *port != 0);
    held
}

fn invalid(name: &str, error: FieldError) -> ApiError {
    ApiError::invalid("", "Service", name, vec![error])
}

fn ip_error(name: &str, ip: &str, detail: &str) -> ApiError {
    invalid(
        name,
        FieldError::invalid("spec.clusterIPs", json!([ip]), detail),
    )
}
