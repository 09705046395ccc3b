use super::*;

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(3 * 86400)})
}

#[test]
fn deployments() {
    let object = json!({
        "metadata": meta("web"),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"},
                {"name": "side", "image": "busybox"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    });
    assert_eq!(
        row("deploy", object),
        [
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("3d"),
            json!("nginx,side"),
            json!("nginx:1.27,busybox"),
            json!("app=web"),
        ]
    );
    let bare = row("deploy", json!({"metadata": meta("x")}));
    assert_eq!(bare[1], "0/1");
    assert_eq!(bare[7], "");
}

#[test]
fn replica_sets_daemon_sets_stateful_sets() {
    let rs = row(
        "rs",
        json!({"metadata": meta("web-1"), "spec": {"replicas": 2,
            "selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]}},
            "status": {"replicas": 2, "readyReplicas": 1}}),
    );
    assert_eq!(rs[1..4], [json!(2), json!(2), json!(1)]);
    assert_eq!(rs[7], "tier in (a,b)");
    let ds = row(
        "ds",
        json!({"metadata": meta("agent"), "spec": {"template": {"spec": {"nodeSelector": {"os": "linux"}}}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                "updatedNumberScheduled": 3, "numberAvailable": 2}}),
    );
    assert_eq!(
        ds[1..7],
        [
            json!(3),
            json!(3),
            json!(2),
            json!(3),
            json!(2),
            json!("os=linux")
        ]
    );
    assert_eq!(ds[10], "<none>");
    let sts = row(
        "sts",
        json!({"metadata": meta("db"), "spec": {"replicas": 3}, "status": {"readyReplicas": 3}}),
    );
    assert_eq!(sts[1], "3/3");
    let cr = row(
        "controllerrevisions",
        json!({"metadata": {"name": "agent-1", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "controller": true}]},
            "revision": 4}),
    );
    assert_eq!(cr[1..3], [json!("daemonset.apps/agent"), json!(4)]);
}

#[test]
fn jobs_and_cron_jobs() {
    let job = row(
        "jobs",
        json!({"metadata": meta("pi"), "spec": {"completions": 1, "parallelism": 1},
            "status": {"succeeded": 1, "startTime": ago(600), "completionTime": ago(470),
                "conditions": [{"type": "Complete", "status": "True"}]}}),
    );
    assert_eq!(job[1..4], [json!("Complete"), json!("1/1"), json!("2m10s")]);
    let running = row(
        "jobs",
        json!({"metadata": meta("w"), "spec": {"parallelism": 3}, "status": {"startTime": ago(45)}}),
    );
    assert_eq!(
        running[1..4],
        [json!("Running"), json!("0/1 of 3"), json!("45s")]
    );
    let cj = row(
        "cj",
        json!({"metadata": meta("nightly"), "spec": {"schedule": "0 1 * * *", "suspend": false},
            "status": {"active": [{"name": "x"}], "lastScheduleTime": ago(3600)}}),
    );
    assert_eq!(
        cj[1..6],
        [
            json!("0 1 * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("60m")
        ]
    );
    let never = row(
        "cj",
        json!({"metadata": meta("n"), "spec": {"schedule": "@daily"}}),
    );
    assert_eq!(never[3..6], [json!("<unset>"), json!(0), json!("<none>")]);
}

#[test]
fn horizontal_pod_autoscalers() {
    let v2 = json!({
        "metadata": meta("web"),
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
                {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}},
            ]},
        "status": {"currentReplicas": 2, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 40, "averageValue": "40m"}}},
        ]},
    });
    assert_eq!(
        row("hpa", v2),
        [
            json!("web"),
            json!("Deployment/web"),
            json!("cpu: 40%/80%, memory: <unknown>/100Mi + 1 more..."),
            json!("1"),
            json!(5),
            json!(2),
            json!("3d"),
        ]
    );
    let v1 = json!({"metadata": meta("old"),
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "old"}, "maxReplicas": 3,
            "targetCPUUtilizationPercentage": 50}});
    let cells = cells(find_v1_hpa(), &v1, now());
    assert_eq!(cells[2..4], [json!("cpu: <unknown>/50%"), json!("<unset>")]);
    assert_eq!(row("hpa", json!({"metadata": meta("none")}))[2], "<none>");
}

fn find_v1_hpa() -> &'static Resource {
    crate::resource::find("autoscaling", "v1", "horizontalpodautoscalers").unwrap()
}

#[test]
fn pod_disruption_budgets() {
    let cells = row(
        "pdb",
        json!({"metadata": meta("web"), "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}}),
    );
    assert_eq!(cells[1..4], [json!("50%"), json!("N/A"), json!(1)]);
}

#[test]
fn services() {
    let cluster_ip = json!({"metadata": meta("web"), "spec": {"type": "ClusterIP",
        "clusterIP": "10.43.0.10", "clusterIPs": ["10.43.0.10"],
        "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
        "selector": {"app": "web"}}});
    assert_eq!(
        row("svc", cluster_ip),
        [
            json!("web"),
            json!("ClusterIP"),
            json!("10.43.0.10"),
            json!("<none>"),
            json!("80/TCP,53/UDP"),
            json!("3d"),
            json!("app=web"),
        ]
    );
    let node_port = row(
        "svc",
        json!({"metadata": meta("np"), "spec": {"type": "NodePort",
        "clusterIPs": ["10.43.0.11"], "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}}),
    );
    assert_eq!(node_port[4], "80:30080/TCP");
    assert_eq!(node_port[6], "<none>");
    let pending = row(
        "svc",
        json!({"metadata": meta("lb"), "spec": {"type": "LoadBalancer"}}),
    );
    assert_eq!(pending[3], "<pending>");
    assert_eq!(pending[4], "<none>");
    let balanced = row(
        "svc",
        json!({"metadata": meta("lb"), "spec": {"type": "LoadBalancer",
        "externalIPs": ["1.2.3.4"]},
        "status": {"loadBalancer": {"ingress": [{"ip": "9.9.9.9"}, {"hostname": "lb.example.com"}]}}}),
    );
    assert_eq!(balanced[3], "9.9.9.9,lb.example.com,1.2.3.4");
    let external = row(
        "svc",
        json!({"metadata": meta("ext"), "spec": {"type": "ExternalName",
        "externalName": "example.com"}}),
    );
    assert_eq!(external[2..4], [json!("<none>"), json!("example.com")]);
    let headless = row(
        "svc",
        json!({"metadata": meta("h"), "spec": {"type": "ClusterIP",
        "clusterIP": "None"}}),
    );
    assert_eq!(headless[2], "None");
}

#[test]
fn endpoints() {
    let subsets = json!([
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]},
        {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]},
    ]);
    let cells = row("ep", json!({"metadata": meta("web"), "subsets": subsets}));
    assert_eq!(cells[1], "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...");
    let cells = row(
        "ep",
        json!({"metadata": meta("web"), "subsets": [
        {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]}),
    );
    assert_eq!(cells[1], "[fd00::1]:80");
    assert_eq!(row("ep", json!({"metadata": meta("none")}))[1], "<none>");
    let slice = row(
        "endpointslices",
        json!({"metadata": meta("web-abc"), "addressType": "IPv4",
        "ports": [{"port": 80, "name": "http"}, {"name": "named"}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]}),
    );
    assert_eq!(
        slice[1..4],
        [json!("IPv4"), json!("80,named"), json!("10.0.0.1,10.0.0.2")]
    );
    let empty = row(
        "endpointslices",
        json!({"metadata": meta("e"), "addressType": "IPv4"}),
    );
    assert_eq!(empty[2..4], [json!("<unset>"), json!("<unset>")]);
}

#[test]
fn nodes() {
    let node = json!({
        "metadata": {"name": "n1", "creationTimestamp": ago(7200),
            "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "",
                "kubernetes.io/role": "etcd"}},
        "spec": {"unschedulable": true},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.1.5"}, {"type": "Hostname", "address": "n1"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12", "kernelVersion": "6.1.0",
                "containerRuntimeVersion": "containerd://1.7.24"},
        },
    });
    assert_eq!(
        row("nodes", node),
        [
            json!("n1"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane,etcd,master"),
            json!("120m"),
            json!("v1.32.0"),
            json!("192.168.1.5"),
            json!("<none>"),
            json!("Debian GNU/Linux 12"),
            json!("6.1.0"),
            json!("containerd://1.7.24"),
        ]
    );
    let bare = row("nodes", json!({"metadata": {"name": "n2"}}));
    assert_eq!(bare[1..3], [json!("Unknown"), json!("<none>")]);
    assert_eq!(
        bare[7..],
        [json!("<unknown>"), json!("<unknown>"), json!("<unknown>")]
    );
}

#[test]
fn events_of_both_groups() {
    let core = json!({
        "metadata": {"name": "web.17a", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
        "reason": "Pulled", "type": "Normal", "message": " Pulled image \n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 3,
    });
    assert_eq!(
        row("events", core),
        [
            json!("30s"),
            json!("Normal"),
            json!("Pulled"),
            json!("pod/web"),
            json!("spec.containers{app}"),
            json!("kubelet, node-1"),
            json!("Pulled image"),
            json!("10m"),
            json!(3),
            json!("web.17a"),
        ]
    );
    let new = json!({
        "metadata": {"name": "e2", "namespace": "default"},
        "regarding": {"kind": "Node", "name": "n1"},
        "reason": "Starting", "type": "Normal", "note": "Starting kubelet.",
        "reportingController": "kubelet", "reportingInstance": "n1",
        "eventTime": "2024-06-01T11:59:00.000000Z",
    });
    let cells = row("events.events.k8s.io", new);
    assert_eq!(cells[0], "60s");
    assert_eq!(cells[3], "node/n1");
    assert_eq!(cells[5], "kubelet, n1");
    assert_eq!(cells[6], "Starting kubelet.");
    assert_eq!(cells[7], "60s");
    assert_eq!(cells[8], 1);
    let series = json!({"metadata": {"name": "e3"}, "involvedObject": {"kind": "Node"},
        "series": {"count": 7, "lastObservedTime": ago(5)}, "eventTime": ago(100)});
    let cells = row("ev", series);
    assert_eq!(cells[0], "5s");
    assert_eq!(cells[3], "node");
    assert_eq!(cells[8], 7);
}

#[test]
fn config_and_accounts() {
    let ns = row(
        "ns",
        json!({"metadata": {"name": "default", "creationTimestamp": ago(60)}, "status": {"phase": "Active"}}),
    );
    assert_eq!(ns, [json!("default"), json!("Active"), json!("60s")]);
    let cm = row(
        "cm",
        json!({"metadata": meta("c"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
    );
    assert_eq!(cm[1], 3);
    let secret = row(
        "secrets",
        json!({"metadata": meta("s"), "type": "Opaque", "data": {"a": "MQ=="},
        "stringData": {"a": "1", "b": "2"}}),
    );
    assert_eq!(secret[1..3], [json!("Opaque"), json!(2)]);
    let sa = row("sa", json!({"metadata": meta("default")}));
    assert_eq!(sa[1], 0);
    let quota = row(
        "quota",
        json!({"metadata": meta("q"), "status": {
        "hard": {"pods": "10", "limits.cpu": "2", "requests.memory": "1Gi"},
        "used": {"pods": "3", "limits.cpu": "500m"}}}),
    );
    assert_eq!(
        quota[1..3],
        [
            json!("pods: 3/10, requests.memory: 0/1Gi"),
            json!("limits.cpu: 500m/2")
        ]
    );
    let template = row(
        "podtemplates",
        json!({"metadata": meta("t"), "template": {
        "metadata": {"labels": {"app": "t"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}),
    );
    assert_eq!(
        template,
        [json!("t"), json!("c"), json!("i"), json!("app=t")]
    );
    let rc = row(
        "rc",
        json!({"metadata": meta("rc"), "spec": {"replicas": 2, "selector": {"app": "rc"}},
        "status": {"replicas": 2, "readyReplicas": 2}}),
    );
    assert_eq!(rc[1..4], [json!(2), json!(2), json!(2)]);
    assert_eq!(rc[5..], [json!(""), json!(""), json!("app=rc")]);
}

#[test]
fn volumes() {
    let pv = row(
        "pv",
        json!({
            "metadata": {"name": "pv1", "creationTimestamp": ago(60)},
            "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "default", "name": "data"},
                "storageClassName": "local", "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"},
        }),
    );
    assert_eq!(
        pv,
        [
            json!("pv1"),
            json!("5Gi"),
            json!("RWO,RWX"),
            json!("Retain"),
            json!("Bound"),
            json!("default/data"),
            json!("local"),
            json!("<unset>"),
            json!(""),
            json!("60s"),
            json!("Filesystem"),
        ]
    );
    let pending = row(
        "pvc",
        json!({"metadata": {"name": "data", "annotations":
        {"volume.beta.kubernetes.io/storage-class": "old"}}, "spec": {"storageClassName": "new"},
        "status": {"phase": "Pending"}}),
    );
    assert_eq!(
        pending[1..6],
        [
            json!("Pending"),
            json!(""),
            json!(""),
            json!(""),
            json!("old")
        ]
    );
    let bound = row(
        "pvc",
        json!({"metadata": {"name": "data"}, "spec": {"volumeName": "pv1"},
        "status": {"phase": "Bound", "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"]}}),
    );
    assert_eq!(bound[2..5], [json!("pv1"), json!("5Gi"), json!("RWO")]);
    let sc = row(
        "sc",
        json!({"metadata": {"name": "local", "annotations":
        {"storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "rancher.io/local-path"}),
    );
    assert_eq!(
        sc[..5],
        [
            json!("local (default)"),
            json!("rancher.io/local-path"),
            json!("Delete"),
            json!("Immediate"),
            json!(false)
        ]
    );
    let driver = row("csidrivers", json!({"metadata": {"name": "d"}, "spec": {}}));
    assert_eq!(
        driver[1..7],
        [
            json!(true),
            json!(false),
            json!(false),
            json!("<unset>"),
            json!(false),
            json!("<none>")
        ]
    );
    let va = row(
        "volumeattachments",
        json!({"metadata": {"name": "va"}, "spec": {"attacher": "csi",
        "nodeName": "n1", "source": {"persistentVolumeName": "pv1"}}, "status": {"attached": true}}),
    );
    assert_eq!(
        va[1..5],
        [json!("csi"), json!("pv1"), json!("n1"), json!(true)]
    );
    let csinode = row(
        "csinodes",
        json!({"metadata": {"name": "n1"}, "spec": {"drivers": [{"name": "d"}]}}),
    );
    assert_eq!(csinode[1], 1);
}

#[test]
fn networking_and_access() {
    let ing = row(
        "ing",
        json!({"metadata": meta("web"), "spec": {"ingressClassName": "nginx",
        "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {}, {"host": "c.example.com"},
            {"host": "d.example.com"}], "tls": [{"hosts": ["a.example.com"]}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.9"}]}}}),
    );
    assert_eq!(
        ing[1..5],
        [
            json!("nginx"),
            json!("a.example.com,b.example.com,c.example.com + 2 more..."),
            json!("10.0.0.9"),
            json!("80, 443")
        ]
    );
    let any = row("ing", json!({"metadata": meta("any"), "spec": {}}));
    assert_eq!(
        any[1..5],
        [json!("<none>"), json!("*"), json!(""), json!("80")]
    );
    let class = row(
        "ingressclasses",
        json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx",
        "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}}),
    );
    assert_eq!(
        class[1..3],
        [
            json!("k8s.io/ingress-nginx"),
            json!("IngressParameters.k8s.example.com/p")
        ]
    );
    let netpol = row("netpol", json!({"metadata": meta("deny"), "spec": {}}));
    assert_eq!(netpol[1], "<none>");
    let binding = row(
        "rolebindings",
        json!({"metadata": meta("b"), "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
            {"kind": "Group", "name": "devs"}, {"kind": "ServiceAccount", "namespace": "ci", "name": "bot"}]}),
    );
    assert_eq!(binding[1], "Role/r");
    assert_eq!(
        binding[3..],
        [json!("alice, bob"), json!("devs"), json!("ci/bot")]
    );
    let crb = row(
        "clusterrolebindings",
        json!({"metadata": {"name": "admin"},
        "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}}),
    );
    assert_eq!(crb[1], "ClusterRole/cluster-admin");
    let lease = row(
        "leases",
        json!({"metadata": meta("n1"), "spec": {"holderIdentity": "n1"}}),
    );
    assert_eq!(lease[1], "n1");
    let pc = row(
        "pc",
        json!({"metadata": {"name": "high"}, "value": 1000, "globalDefault": false,
        "preemptionPolicy": "PreemptLowerPriority"}),
    );
    assert_eq!(pc[1..3], [json!(1000), json!(false)]);
    assert_eq!(pc[4], "PreemptLowerPriority");
    let csr = row(
        "csr",
        json!({"metadata": {"name": "c"}, "spec": {"signerName": "kubernetes.io/kubelet-serving",
        "username": "system:node:n1", "expirationSeconds": 86400},
        "status": {"conditions": [{"type": "Approved"}], "certificate": "LS0t"}}),
    );
    assert_eq!(
        csr[2..],
        [
            json!("kubernetes.io/kubelet-serving"),
            json!("system:node:n1"),
            json!("24h"),
            json!("Approved,Issued")
        ]
    );
    let pending = row("csr", json!({"metadata": {"name": "c"}, "spec": {}}));
    assert_eq!(
        pending[2..],
        [
            json!("<none>"),
            json!(""),
            json!("<none>"),
            json!("Pending")
        ]
    );
    let hooks = row(
        "validatingwebhookconfigurations",
        json!({"metadata": {"name": "v"},
        "webhooks": [{"name": "a"}, {"name": "b"}]}),
    );
    assert_eq!(hooks[1], 2);
}
