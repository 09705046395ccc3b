//! The messages of core/v1 from `PodAffinityTerm` to `WorkloadReference`.

use super::*;

msg! { PodAffinityTerm [
    (1, "labelSelector", Keep(M(&meta_v1::LabelSelector))),
    (2, "namespaces", Rep(Str)),
    (3, "topologyKey", Keep(Str)),
    (4, "namespaceSelector", Keep(M(&meta_v1::LabelSelector))),
    (5, "matchLabelKeys", Rep(Str)),
    (6, "mismatchLabelKeys", Rep(Str)),
] }
msg! { PodAntiAffinity [
    (1, "requiredDuringSchedulingIgnoredDuringExecution", Rep(M(&PodAffinityTerm))),
    (2, "preferredDuringSchedulingIgnoredDuringExecution", Rep(M(&WeightedPodAffinityTerm))),
] }
msg! { PodAttachOptions [
    (1, "stdin", Omit(Bool)),
    (2, "stdout", Omit(Bool)),
    (3, "stderr", Omit(Bool)),
    (4, "tty", Omit(Bool)),
    (5, "container", Omit(Str)),
] }
msg! { PodCertificateProjection [
    (1, "signerName", Omit(Str)),
    (2, "keyType", Omit(Str)),
    (3, "maxExpirationSeconds", Keep(I32)),
    (4, "credentialBundlePath", Omit(Str)),
    (5, "keyPath", Omit(Str)),
    (6, "certificateChainPath", Omit(Str)),
    (7, "userAnnotations", Map(Str)),
] }
msg! { PodCondition [
    (1, "type", Keep(Str)),
    (2, "status", Keep(Str)),
    (3, "lastProbeTime", Keep(M(&meta_v1::Time))),
    (4, "lastTransitionTime", Keep(M(&meta_v1::Time))),
    (5, "reason", Omit(Str)),
    (6, "message", Omit(Str)),
    (7, "observedGeneration", Omit(I64)),
] }
msg! { PodDNSConfig [
    (1, "nameservers", Rep(Str)),
    (2, "searches", Rep(Str)),
    (3, "options", Rep(M(&PodDNSConfigOption))),
] }
msg! { PodDNSConfigOption [(1, "name", Omit(Str)), (2, "value", Keep(Str))] }
msg! { PodExecOptions [
    (1, "stdin", Omit(Bool)),
    (2, "stdout", Omit(Bool)),
    (3, "stderr", Omit(Bool)),
    (4, "tty", Omit(Bool)),
    (5, "container", Omit(Str)),
    (6, "command", Rep(Str)),
] }
msg! { PodExtendedResourceClaimStatus [
    (1, "requestMappings", Rep(M(&ContainerExtendedResourceRequest))),
    (2, "resourceClaimName", Keep(Str)),
] }
msg! { PodIP [(1, "ip", Keep(Str))] }
msg! { PodList [(1, "metadata", Keep(M(&meta_v1::ListMeta))), (2, "items", Rep(M(&Pod)))] }
msg! { PodLogOptions [
    (1, "container", Omit(Str)),
    (2, "follow", Omit(Bool)),
    (3, "previous", Omit(Bool)),
    (4, "sinceSeconds", Keep(I64)),
    (5, "sinceTime", Keep(M(&meta_v1::Time))),
    (6, "timestamps", Omit(Bool)),
    (7, "tailLines", Keep(I64)),
    (8, "limitBytes", Keep(I64)),
    (9, "insecureSkipTLSVerifyBackend", Omit(Bool)),
    (10, "stream", Keep(Str)),
] }
msg! { PodOS [(1, "name", Keep(Str))] }
msg! { PodPortForwardOptions [(1, "ports", Rep(I32))] }
msg! { PodProxyOptions [(1, "path", Omit(Str))] }
msg! { PodReadinessGate [(1, "conditionType", Keep(Str))] }
msg! { PodResourceClaim [
    (1, "name", Keep(Str)),
    (3, "resourceClaimName", Keep(Str)),
    (4, "resourceClaimTemplateName", Keep(Str)),
] }
msg! { PodResourceClaimStatus [(1, "name", Keep(Str)), (2, "resourceClaimName", Keep(Str))] }
msg! { PodSchedulingGate [(1, "name", Keep(Str))] }
msg! { PodSecurityContext [
    (1, "seLinuxOptions", Keep(M(&SELinuxOptions))),
    (2, "runAsUser", Keep(I64)),
    (3, "runAsNonRoot", Keep(Bool)),
    (4, "supplementalGroups", Rep(I64)),
    (5, "fsGroup", Keep(I64)),
    (6, "runAsGroup", Keep(I64)),
    (7, "sysctls", Rep(M(&Sysctl))),
    (8, "windowsOptions", Keep(M(&WindowsSecurityContextOptions))),
    (9, "fsGroupChangePolicy", Keep(Str)),
    (10, "seccompProfile", Keep(M(&SeccompProfile))),
    (11, "appArmorProfile", Keep(M(&AppArmorProfile))),
    (12, "supplementalGroupsPolicy", Keep(Str)),
    (13, "seLinuxChangePolicy", Keep(Str)),
] }
msg! { PodSpec [
    (1, "volumes", Rep(M(&Volume))),
    (2, "containers", Rep(M(&Container))),
    (3, "restartPolicy", Omit(Str)),
    (4, "terminationGracePeriodSeconds", Keep(I64)),
    (5, "activeDeadlineSeconds", Keep(I64)),
    (6, "dnsPolicy", Omit(Str)),
    (7, "nodeSelector", Map(Str)),
    (8, "serviceAccountName", Omit(Str)),
    (9, "serviceAccount", Omit(Str)),
    (10, "nodeName", Omit(Str)),
    (11, "hostNetwork", Omit(Bool)),
    (12, "hostPID", Omit(Bool)),
    (13, "hostIPC", Omit(Bool)),
    (14, "securityContext", Keep(M(&PodSecurityContext))),
    (15, "imagePullSecrets", Rep(M(&LocalObjectReference))),
    (16, "hostname", Omit(Str)),
    (17, "subdomain", Omit(Str)),
    (18, "affinity", Keep(M(&Affinity))),
    (19, "schedulerName", Omit(Str)),
    (20, "initContainers", Rep(M(&Container))),
    (21, "automountServiceAccountToken", Keep(Bool)),
    (22, "tolerations", Rep(M(&Toleration))),
    (23, "hostAliases", Rep(M(&HostAlias))),
    (24, "priorityClassName", Omit(Str)),
    (25, "priority", Keep(I32)),
    (26, "dnsConfig", Keep(M(&PodDNSConfig))),
    (27, "shareProcessNamespace", Keep(Bool)),
    (28, "readinessGates", Rep(M(&PodReadinessGate))),
    (29, "runtimeClassName", Keep(Str)),
    (30, "enableServiceLinks", Keep(Bool)),
    (31, "preemptionPolicy", Keep(Str)),
    (32, "overhead", Map(M(&resource::Quantity))),
    (33, "topologySpreadConstraints", Rep(M(&TopologySpreadConstraint))),
    (34, "ephemeralContainers", Rep(M(&EphemeralContainer))),
    (35, "setHostnameAsFQDN", Keep(Bool)),
    (36, "os", Keep(M(&PodOS))),
    (37, "hostUsers", Keep(Bool)),
    (38, "schedulingGates", Rep(M(&PodSchedulingGate))),
    (39, "resourceClaims", Rep(M(&PodResourceClaim))),
    (40, "resources", Keep(M(&ResourceRequirements))),
    (41, "hostnameOverride", Keep(Str)),
    (42, "workloadRef", Keep(M(&WorkloadReference))),
] }
msg! { PodStatus [
    (1, "phase", Omit(Str)),
    (2, "conditions", Rep(M(&PodCondition))),
    (3, "message", Omit(Str)),
    (4, "reason", Omit(Str)),
    (5, "hostIP", Omit(Str)),
    (6, "podIP", Omit(Str)),
    (7, "startTime", Keep(M(&meta_v1::Time))),
    (8, "containerStatuses", Rep(M(&ContainerStatus))),
    (9, "qosClass", Omit(Str)),
    (10, "initContainerStatuses", Rep(M(&ContainerStatus))),
    (11, "nominatedNodeName", Omit(Str)),
    (12, "podIPs", Rep(M(&PodIP))),
    (13, "ephemeralContainerStatuses", Rep(M(&ContainerStatus))),
    (14, "resize", Omit(Str)),
    (15, "resourceClaimStatuses", Rep(M(&PodResourceClaimStatus))),
    (16, "hostIPs", Rep(M(&HostIP))),
    (17, "observedGeneration", Omit(I64)),
    (18, "extendedResourceClaimStatus", Keep(M(&PodExtendedResourceClaimStatus))),
    (19, "allocatedResources", Map(M(&resource::Quantity))),
    (20, "resources", Keep(M(&ResourceRequirements))),
] }
msg! { PodStatusResult [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "status", Keep(M(&PodStatus))),
] }
msg! { PodTemplate [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "template", Keep(M(&PodTemplateSpec))),
] }
msg! { PodTemplateList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&PodTemplate))),
] }
msg! { PodTemplateSpec [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&PodSpec))),
] }
msg! { PortStatus [(1, "port", Keep(I32)), (2, "protocol", Keep(Str)), (3, "error", Keep(Str))] }
msg! { PortworxVolumeSource [
    (1, "volumeID", Keep(Str)),
    (2, "fsType", Omit(Str)),
    (3, "readOnly", Omit(Bool)),
] }
msg! { PreferredSchedulingTerm [
    (1, "weight", Keep(I32)),
    (2, "preference", Keep(M(&NodeSelectorTerm))),
] }
msg! { Probe [
    (1, "", Inline(&ProbeHandler)),
    (2, "initialDelaySeconds", Omit(I32)),
    (3, "timeoutSeconds", Omit(I32)),
    (4, "periodSeconds", Omit(I32)),
    (5, "successThreshold", Omit(I32)),
    (6, "failureThreshold", Omit(I32)),
    (7, "terminationGracePeriodSeconds", Keep(I64)),
] }
msg! { ProbeHandler [
    (1, "exec", Keep(M(&ExecAction))),
    (2, "httpGet", Keep(M(&HTTPGetAction))),
    (3, "tcpSocket", Keep(M(&TCPSocketAction))),
    (4, "grpc", Keep(M(&GRPCAction))),
] }
msg! { ProjectedVolumeSource [
    (1, "sources", Rep(M(&VolumeProjection))),
    (2, "defaultMode", Keep(I32)),
] }
msg! { QuobyteVolumeSource [
    (1, "registry", Keep(Str)),
    (2, "volume", Keep(Str)),
    (3, "readOnly", Omit(Bool)),
    (4, "user", Omit(Str)),
    (5, "group", Omit(Str)),
    (6, "tenant", Omit(Str)),
] }
msg! { RBDPersistentVolumeSource [
    (1, "monitors", Rep(Str)),
    (2, "image", Keep(Str)),
    (3, "fsType", Omit(Str)),
    (4, "pool", Omit(Str)),
    (5, "user", Omit(Str)),
    (6, "keyring", Omit(Str)),
    (7, "secretRef", Keep(M(&SecretReference))),
    (8, "readOnly", Omit(Bool)),
] }
msg! { RBDVolumeSource [
    (1, "monitors", Rep(Str)),
    (2, "image", Keep(Str)),
    (3, "fsType", Omit(Str)),
    (4, "pool", Omit(Str)),
    (5, "user", Omit(Str)),
    (6, "keyring", Omit(Str)),
    (7, "secretRef", Keep(M(&LocalObjectReference))),
    (8, "readOnly", Omit(Bool)),
] }
msg! { RangeAllocation [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "range", Keep(Str)),
    (3, "data", Keep(Bytes)),
] }
msg! { ReplicationController [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&ReplicationControllerSpec))),
    (3, "status", Keep(M(&ReplicationControllerStatus))),
] }
msg! { ReplicationControllerCondition [
    (1, "type", Keep(Str)),
    (2, "status", Keep(Str)),
    (3, "lastTransitionTime", Keep(M(&meta_v1::Time))),
    (4, "reason", Omit(Str)),
    (5, "message", Omit(Str)),
] }
msg! { ReplicationControllerList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&ReplicationController))),
] }
msg! { ReplicationControllerSpec [
    (1, "replicas", Keep(I32)),
    (2, "selector", Map(Str)),
    (3, "template", Keep(M(&PodTemplateSpec))),
    (4, "minReadySeconds", Omit(I32)),
] }
msg! { ReplicationControllerStatus [
    (1, "replicas", Keep(I32)),
    (2, "fullyLabeledReplicas", Omit(I32)),
    (3, "observedGeneration", Omit(I64)),
    (4, "readyReplicas", Omit(I32)),
    (5, "availableReplicas", Omit(I32)),
    (6, "conditions", Rep(M(&ReplicationControllerCondition))),
] }
msg! { ResourceClaim [(1, "name", Keep(Str)), (2, "request", Omit(Str))] }
msg! { ResourceFieldSelector [
    (1, "containerName", Omit(Str)),
    (2, "resource", Keep(Str)),
    (3, "divisor", Keep(M(&resource::Quantity))),
] }
msg! { ResourceHealth [(1, "resourceID", Keep(Str)), (2, "health", Omit(Str))] }
msg! { ResourceQuota [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&ResourceQuotaSpec))),
    (3, "status", Keep(M(&ResourceQuotaStatus))),
] }
msg! { ResourceQuotaList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&ResourceQuota))),
] }
msg! { ResourceQuotaSpec [
    (1, "hard", Map(M(&resource::Quantity))),
    (2, "scopes", Rep(Str)),
    (3, "scopeSelector", Keep(M(&ScopeSelector))),
] }
msg! { ResourceQuotaStatus [
    (1, "hard", Map(M(&resource::Quantity))),
    (2, "used", Map(M(&resource::Quantity))),
] }
msg! { ResourceRequirements [
    (1, "limits", Map(M(&resource::Quantity))),
    (2, "requests", Map(M(&resource::Quantity))),
    (3, "claims", Rep(M(&ResourceClaim))),
] }
msg! { ResourceStatus [(1, "name", Keep(Str)), (2, "resources", Rep(M(&ResourceHealth)))] }
msg! { SELinuxOptions [
    (1, "user", Omit(Str)),
    (2, "role", Omit(Str)),
    (3, "type", Omit(Str)),
    (4, "level", Omit(Str)),
] }
msg! { ScaleIOPersistentVolumeSource [
    (1, "gateway", Keep(Str)),
    (2, "system", Keep(Str)),
    (3, "secretRef", Keep(M(&SecretReference))),
    (4, "sslEnabled", Omit(Bool)),
    (5, "protectionDomain", Omit(Str)),
    (6, "storagePool", Omit(Str)),
    (7, "storageMode", Omit(Str)),
    (8, "volumeName", Omit(Str)),
    (9, "fsType", Omit(Str)),
    (10, "readOnly", Omit(Bool)),
] }
msg! { ScaleIOVolumeSource [
    (1, "gateway", Keep(Str)),
    (2, "system", Keep(Str)),
    (3, "secretRef", Keep(M(&LocalObjectReference))),
    (4, "sslEnabled", Omit(Bool)),
    (5, "protectionDomain", Omit(Str)),
    (6, "storagePool", Omit(Str)),
    (7, "storageMode", Omit(Str)),
    (8, "volumeName", Omit(Str)),
    (9, "fsType", Omit(Str)),
    (10, "readOnly", Omit(Bool)),
] }
msg! { ScopeSelector [(1, "matchExpressions", Rep(M(&ScopedResourceSelectorRequirement)))] }
msg! { ScopedResourceSelectorRequirement [
    (1, "scopeName", Keep(Str)),
    (2, "operator", Keep(Str)),
    (3, "values", Rep(Str)),
] }
msg! { SeccompProfile [(1, "type", Keep(Str)), (2, "localhostProfile", Keep(Str))] }
msg! { Secret [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "data", Map(Bytes)),
    (3, "type", Omit(Str)),
    (4, "stringData", Map(Str)),
    (5, "immutable", Keep(Bool)),
] }
msg! { SecretEnvSource [(1, "", Inline(&LocalObjectReference)), (2, "optional", Keep(Bool))] }
msg! { SecretKeySelector [
    (1, "", Inline(&LocalObjectReference)),
    (2, "key", Keep(Str)),
    (3, "optional", Keep(Bool)),
] }
msg! { SecretList [(1, "metadata", Keep(M(&meta_v1::ListMeta))), (2, "items", Rep(M(&Secret)))] }
msg! { SecretProjection [
    (1, "", Inline(&LocalObjectReference)),
    (2, "items", Rep(M(&KeyToPath))),
    (4, "optional", Keep(Bool)),
] }
msg! { SecretReference [(1, "name", Omit(Str)), (2, "namespace", Omit(Str))] }
msg! { SecretVolumeSource [
    (1, "secretName", Omit(Str)),
    (2, "items", Rep(M(&KeyToPath))),
    (3, "defaultMode", Keep(I32)),
    (4, "optional", Keep(Bool)),
] }
msg! { SecurityContext [
    (1, "capabilities", Keep(M(&Capabilities))),
    (2, "privileged", Keep(Bool)),
    (3, "seLinuxOptions", Keep(M(&SELinuxOptions))),
    (4, "runAsUser", Keep(I64)),
    (5, "runAsNonRoot", Keep(Bool)),
    (6, "readOnlyRootFilesystem", Keep(Bool)),
    (7, "allowPrivilegeEscalation", Keep(Bool)),
    (8, "runAsGroup", Keep(I64)),
    (9, "procMount", Keep(Str)),
    (10, "windowsOptions", Keep(M(&WindowsSecurityContextOptions))),
    (11, "seccompProfile", Keep(M(&SeccompProfile))),
    (12, "appArmorProfile", Keep(M(&AppArmorProfile))),
] }
msg! { SerializedReference [(1, "reference", Keep(M(&ObjectReference)))] }
msg! { Service [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&ServiceSpec))),
    (3, "status", Keep(M(&ServiceStatus))),
] }
msg! { ServiceAccount [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "secrets", Rep(M(&ObjectReference))),
    (3, "imagePullSecrets", Rep(M(&LocalObjectReference))),
    (4, "automountServiceAccountToken", Keep(Bool)),
] }
msg! { ServiceAccountList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&ServiceAccount))),
] }
msg! { ServiceAccountTokenProjection [
    (1, "audience", Omit(Str)),
    (2, "expirationSeconds", Keep(I64)),
    (3, "path", Keep(Str)),
] }
msg! { ServiceList [(1, "metadata", Keep(M(&meta_v1::ListMeta))), (2, "items", Rep(M(&Service)))] }
msg! { ServicePort [
    (1, "name", Omit(Str)),
    (2, "protocol", Omit(Str)),
    (3, "port", Keep(I32)),
    (4, "targetPort", Keep(M(&intstr::IntOrString))),
    (5, "nodePort", Omit(I32)),
    (6, "appProtocol", Keep(Str)),
] }
msg! { ServiceProxyOptions [(1, "path", Omit(Str))] }
msg! { ServiceSpec [
    (1, "ports", Rep(M(&ServicePort))),
    (2, "selector", Map(Str)),
    (3, "clusterIP", Omit(Str)),
    (4, "type", Omit(Str)),
    (5, "externalIPs", Rep(Str)),
    (7, "sessionAffinity", Omit(Str)),
    (8, "loadBalancerIP", Omit(Str)),
    (9, "loadBalancerSourceRanges", Rep(Str)),
    (10, "externalName", Omit(Str)),
    (11, "externalTrafficPolicy", Omit(Str)),
    (12, "healthCheckNodePort", Omit(I32)),
    (13, "publishNotReadyAddresses", Omit(Bool)),
    (14, "sessionAffinityConfig", Keep(M(&SessionAffinityConfig))),
    (17, "ipFamilyPolicy", Keep(Str)),
    (18, "clusterIPs", Rep(Str)),
    (19, "ipFamilies", Rep(Str)),
    (20, "allocateLoadBalancerNodePorts", Keep(Bool)),
    (21, "loadBalancerClass", Keep(Str)),
    (22, "internalTrafficPolicy", Keep(Str)),
    (23, "trafficDistribution", Keep(Str)),
] }
msg! { ServiceStatus [
    (1, "loadBalancer", Keep(M(&LoadBalancerStatus))),
    (2, "conditions", Rep(M(&meta_v1::Condition))),
] }
msg! { SessionAffinityConfig [(1, "clientIP", Keep(M(&ClientIPConfig)))] }
msg! { SleepAction [(1, "seconds", Keep(I64))] }
msg! { StorageOSPersistentVolumeSource [
    (1, "volumeName", Omit(Str)),
    (2, "volumeNamespace", Omit(Str)),
    (3, "fsType", Omit(Str)),
    (4, "readOnly", Omit(Bool)),
    (5, "secretRef", Keep(M(&ObjectReference))),
] }
msg! { StorageOSVolumeSource [
    (1, "volumeName", Omit(Str)),
    (2, "volumeNamespace", Omit(Str)),
    (3, "fsType", Omit(Str)),
    (4, "readOnly", Omit(Bool)),
    (5, "secretRef", Keep(M(&LocalObjectReference))),
] }
msg! { Sysctl [(1, "name", Keep(Str)), (2, "value", Keep(Str))] }
msg! { TCPSocketAction [(1, "port", Keep(M(&intstr::IntOrString))), (2, "host", Omit(Str))] }
msg! { Taint [
    (1, "key", Keep(Str)),
    (2, "value", Omit(Str)),
    (3, "effect", Keep(Str)),
    (4, "timeAdded", Keep(M(&meta_v1::Time))),
] }
msg! { Toleration [
    (1, "key", Omit(Str)),
    (2, "operator", Omit(Str)),
    (3, "value", Omit(Str)),
    (4, "effect", Omit(Str)),
    (5, "tolerationSeconds", Keep(I64)),
] }
msg! { TopologySelectorLabelRequirement [(1, "key", Keep(Str)), (2, "values", Rep(Str))] }
msg! { TopologySelectorTerm [
    (1, "matchLabelExpressions", Rep(M(&TopologySelectorLabelRequirement))),
] }
msg! { TopologySpreadConstraint [
    (1, "maxSkew", Keep(I32)),
    (2, "topologyKey", Keep(Str)),
    (3, "whenUnsatisfiable", Keep(Str)),
    (4, "labelSelector", Keep(M(&meta_v1::LabelSelector))),
    (5, "minDomains", Keep(I32)),
    (6, "nodeAffinityPolicy", Keep(Str)),
    (7, "nodeTaintsPolicy", Keep(Str)),
    (8, "matchLabelKeys", Rep(Str)),
] }
msg! { TypedLocalObjectReference [
    (1, "apiGroup", Keep(Str)),
    (2, "kind", Keep(Str)),
    (3, "name", Keep(Str)),
] }
msg! { TypedObjectReference [
    (1, "apiGroup", Keep(Str)),
    (2, "kind", Keep(Str)),
    (3, "name", Keep(Str)),
    (4, "namespace", Keep(Str)),
] }
msg! { Volume [(1, "name", Keep(Str)), (2, "", Inline(&VolumeSource))] }
msg! { VolumeDevice [(1, "name", Keep(Str)), (2, "devicePath", Keep(Str))] }
msg! { VolumeMount [
    (1, "name", Keep(Str)),
    (2, "readOnly", Omit(Bool)),
    (3, "mountPath", Keep(Str)),
    (4, "subPath", Omit(Str)),
    (5, "mountPropagation", Keep(Str)),
    (6, "subPathExpr", Omit(Str)),
    (7, "recursiveReadOnly", Keep(Str)),
] }
msg! { VolumeMountStatus [
    (1, "name", Keep(Str)),
    (2, "mountPath", Keep(Str)),
    (3, "readOnly", Omit(Bool)),
    (4, "recursiveReadOnly", Keep(Str)),
] }
msg! { VolumeNodeAffinity [(1, "required", Keep(M(&NodeSelector)))] }
msg! { VolumeProjection [
    (1, "secret", Keep(M(&SecretProjection))),
    (2, "downwardAPI", Keep(M(&DownwardAPIProjection))),
    (3, "configMap", Keep(M(&ConfigMapProjection))),
    (4, "serviceAccountToken", Keep(M(&ServiceAccountTokenProjection))),
    (5, "clusterTrustBundle", Keep(M(&ClusterTrustBundleProjection))),
    (6, "podCertificate", Keep(M(&PodCertificateProjection))),
] }
msg! { VolumeResourceRequirements [
    (1, "limits", Map(M(&resource::Quantity))),
    (2, "requests", Map(M(&resource::Quantity))),
] }
msg! { VolumeSource [
    (1, "hostPath", Keep(M(&HostPathVolumeSource))),
    (2, "emptyDir", Keep(M(&EmptyDirVolumeSource))),
    (3, "gcePersistentDisk", Keep(M(&GCEPersistentDiskVolumeSource))),
    (4, "awsElasticBlockStore", Keep(M(&AWSElasticBlockStoreVolumeSource))),
    (5, "gitRepo", Keep(M(&GitRepoVolumeSource))),
    (6, "secret", Keep(M(&SecretVolumeSource))),
    (7, "nfs", Keep(M(&NFSVolumeSource))),
    (8, "iscsi", Keep(M(&ISCSIVolumeSource))),
    (9, "glusterfs", Keep(M(&GlusterfsVolumeSource))),
    (10, "persistentVolumeClaim", Keep(M(&PersistentVolumeClaimVolumeSource))),
    (11, "rbd", Keep(M(&RBDVolumeSource))),
    (12, "flexVolume", Keep(M(&FlexVolumeSource))),
    (13, "cinder", Keep(M(&CinderVolumeSource))),
    (14, "cephfs", Keep(M(&CephFSVolumeSource))),
    (15, "flocker", Keep(M(&FlockerVolumeSource))),
    (16, "downwardAPI", Keep(M(&DownwardAPIVolumeSource))),
    (17, "fc", Keep(M(&FCVolumeSource))),
    (18, "azureFile", Keep(M(&AzureFileVolumeSource))),
    (19, "configMap", Keep(M(&ConfigMapVolumeSource))),
    (20, "vsphereVolume", Keep(M(&VsphereVirtualDiskVolumeSource))),
    (21, "quobyte", Keep(M(&QuobyteVolumeSource))),
    (22, "azureDisk", Keep(M(&AzureDiskVolumeSource))),
    (23, "photonPersistentDisk", Keep(M(&PhotonPersistentDiskVolumeSource))),
    (24, "portworxVolume", Keep(M(&PortworxVolumeSource))),
    (25, "scaleIO", Keep(M(&ScaleIOVolumeSource))),
    (26, "projected", Keep(M(&ProjectedVolumeSource))),
    (27, "storageos", Keep(M(&StorageOSVolumeSource))),
    (28, "csi", Keep(M(&CSIVolumeSource))),
    (29, "ephemeral", Keep(M(&EphemeralVolumeSource))),
    (30, "image", Keep(M(&ImageVolumeSource))),
] }
msg! { VsphereVirtualDiskVolumeSource [
    (1, "volumePath", Keep(Str)),
    (2, "fsType", Omit(Str)),
    (3, "storagePolicyName", Omit(Str)),
    (4, "storagePolicyID", Omit(Str)),
] }
msg! { WeightedPodAffinityTerm [
    (1, "weight", Keep(I32)),
    (2, "podAffinityTerm", Keep(M(&PodAffinityTerm))),
] }
msg! { WindowsSecurityContextOptions [
    (1, "gmsaCredentialSpecName", Keep(Str)),
    (2, "gmsaCredentialSpec", Keep(Str)),
    (3, "runAsUserName", Keep(Str)),
    (4, "hostProcess", Keep(Bool)),
] }
msg! { WorkloadReference [
    (1, "name", Keep(Str)),
    (2, "podGroup", Keep(Str)),
    (3, "podGroupReplicaKey", Omit(Str)),
] }
