//! The messages of core/v1 from `AWSElasticBlockStoreVolumeSource` to `PodAffinity`.

use super::*;

msg! { AWSElasticBlockStoreVolumeSource [
    (1, "volumeID", Keep(Str)),
    (2, "fsType", Omit(Str)),
    (3, "partition", Omit(I32)),
    (4, "readOnly", Omit(Bool)),
] }
msg! { Affinity [
    (1, "nodeAffinity", Keep(M(&NodeAffinity))),
    (2, "podAffinity", Keep(M(&PodAffinity))),
    (3, "podAntiAffinity", Keep(M(&PodAntiAffinity))),
] }
msg! { AppArmorProfile [(1, "type", Keep(Str)), (2, "localhostProfile", Keep(Str))] }
msg! { AttachedVolume [(1, "name", Keep(Str)), (2, "devicePath", Keep(Str))] }
msg! { AzureDiskVolumeSource [
    (1, "diskName", Keep(Str)),
    (2, "diskURI", Keep(Str)),
    (3, "cachingMode", Keep(Str)),
    (4, "fsType", Keep(Str)),
    (5, "readOnly", Keep(Bool)),
    (6, "kind", Keep(Str)),
] }
msg! { AzureFilePersistentVolumeSource [
    (1, "secretName", Keep(Str)),
    (2, "shareName", Keep(Str)),
    (3, "readOnly", Omit(Bool)),
    (4, "secretNamespace", Keep(Str)),
] }
msg! { AzureFileVolumeSource [
    (1, "secretName", Keep(Str)),
    (2, "shareName", Keep(Str)),
    (3, "readOnly", Omit(Bool)),
] }
msg! { Binding [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "target", Keep(M(&ObjectReference))),
] }
msg! { CSIPersistentVolumeSource [
    (1, "driver", Keep(Str)),
    (2, "volumeHandle", Keep(Str)),
    (3, "readOnly", Omit(Bool)),
    (4, "fsType", Omit(Str)),
    (5, "volumeAttributes", Map(Str)),
    (6, "controllerPublishSecretRef", Keep(M(&SecretReference))),
    (7, "nodeStageSecretRef", Keep(M(&SecretReference))),
    (8, "nodePublishSecretRef", Keep(M(&SecretReference))),
    (9, "controllerExpandSecretRef", Keep(M(&SecretReference))),
    (10, "nodeExpandSecretRef", Keep(M(&SecretReference))),
] }
msg! { CSIVolumeSource [
    (1, "driver", Keep(Str)),
    (2, "readOnly", Keep(Bool)),
    (3, "fsType", Keep(Str)),
    (4, "volumeAttributes", Map(Str)),
    (5, "nodePublishSecretRef", Keep(M(&LocalObjectReference))),
] }
msg! { Capabilities [(1, "add", Rep(Str)), (2, "drop", Rep(Str))] }
msg! { CephFSPersistentVolumeSource [
    (1, "monitors", Rep(Str)),
    (2, "path", Omit(Str)),
    (3, "user", Omit(Str)),
    (4, "secretFile", Omit(Str)),
    (5, "secretRef", Keep(M(&SecretReference))),
    (6, "readOnly", Omit(Bool)),
] }
msg! { CephFSVolumeSource [
    (1, "monitors", Rep(Str)),
    (2, "path", Omit(Str)),
    (3, "user", Omit(Str)),
    (4, "secretFile", Omit(Str)),
    (5, "secretRef", Keep(M(&LocalObjectReference))),
    (6, "readOnly", Omit(Bool)),
] }
msg! { CinderPersistentVolumeSource [
    (1, "volumeID", Keep(Str)),
    (2, "fsType", Omit(Str)),
    (3, "readOnly", Omit(Bool)),
    (4, "secretRef", Keep(M(&SecretReference))),
] }
msg! { CinderVolumeSource [
    (1, "volumeID", Keep(Str)),
    (2, "fsType", Omit(Str)),
    (3, "readOnly", Omit(Bool)),
    (4, "secretRef", Keep(M(&LocalObjectReference))),
] }
msg! { ClientIPConfig [(1, "timeoutSeconds", Keep(I32))] }
msg! { ClusterTrustBundleProjection [
    (1, "name", Keep(Str)),
    (2, "signerName", Keep(Str)),
    (3, "labelSelector", Keep(M(&meta_v1::LabelSelector))),
    (4, "path", Keep(Str)),
    (5, "optional", Keep(Bool)),
] }
msg! { ComponentCondition [
    (1, "type", Keep(Str)),
    (2, "status", Keep(Str)),
    (3, "message", Omit(Str)),
    (4, "error", Omit(Str)),
] }
msg! { ComponentStatus [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "conditions", Rep(M(&ComponentCondition))),
] }
msg! { ComponentStatusList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&ComponentStatus))),
] }
msg! { ConfigMap [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "data", Map(Str)),
    (3, "binaryData", Map(Bytes)),
    (4, "immutable", Keep(Bool)),
] }
msg! { ConfigMapEnvSource [(1, "", Inline(&LocalObjectReference)), (2, "optional", Keep(Bool))] }
msg! { ConfigMapKeySelector [
    (1, "", Inline(&LocalObjectReference)),
    (2, "key", Keep(Str)),
    (3, "optional", Keep(Bool)),
] }
msg! { ConfigMapList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&ConfigMap))),
] }
msg! { ConfigMapNodeConfigSource [
    (1, "namespace", Keep(Str)),
    (2, "name", Keep(Str)),
    (3, "uid", Omit(Str)),
    (4, "resourceVersion", Omit(Str)),
    (5, "kubeletConfigKey", Keep(Str)),
] }
msg! { ConfigMapProjection [
    (1, "", Inline(&LocalObjectReference)),
    (2, "items", Rep(M(&KeyToPath))),
    (4, "optional", Keep(Bool)),
] }
msg! { ConfigMapVolumeSource [
    (1, "", Inline(&LocalObjectReference)),
    (2, "items", Rep(M(&KeyToPath))),
    (3, "defaultMode", Keep(I32)),
    (4, "optional", Keep(Bool)),
] }
msg! { Container [
    (1, "name", Keep(Str)),
    (2, "image", Omit(Str)),
    (3, "command", Rep(Str)),
    (4, "args", Rep(Str)),
    (5, "workingDir", Omit(Str)),
    (6, "ports", Rep(M(&ContainerPort))),
    (7, "env", Rep(M(&EnvVar))),
    (8, "resources", Keep(M(&ResourceRequirements))),
    (9, "volumeMounts", Rep(M(&VolumeMount))),
    (10, "livenessProbe", Keep(M(&Probe))),
    (11, "readinessProbe", Keep(M(&Probe))),
    (12, "lifecycle", Keep(M(&Lifecycle))),
    (13, "terminationMessagePath", Omit(Str)),
    (14, "imagePullPolicy", Omit(Str)),
    (15, "securityContext", Keep(M(&SecurityContext))),
    (16, "stdin", Omit(Bool)),
    (17, "stdinOnce", Omit(Bool)),
    (18, "tty", Omit(Bool)),
    (19, "envFrom", Rep(M(&EnvFromSource))),
    (20, "terminationMessagePolicy", Omit(Str)),
    (21, "volumeDevices", Rep(M(&VolumeDevice))),
    (22, "startupProbe", Keep(M(&Probe))),
    (23, "resizePolicy", Rep(M(&ContainerResizePolicy))),
    (24, "restartPolicy", Keep(Str)),
    (25, "restartPolicyRules", Rep(M(&ContainerRestartRule))),
] }
msg! { ContainerExtendedResourceRequest [
    (1, "containerName", Keep(Str)),
    (2, "resourceName", Keep(Str)),
    (3, "requestName", Keep(Str)),
] }
msg! { ContainerImage [(1, "names", Rep(Str)), (2, "sizeBytes", Omit(I64))] }
msg! { ContainerPort [
    (1, "name", Omit(Str)),
    (2, "hostPort", Omit(I32)),
    (3, "containerPort", Keep(I32)),
    (4, "protocol", Omit(Str)),
    (5, "hostIP", Omit(Str)),
] }
msg! { ContainerResizePolicy [(1, "resourceName", Keep(Str)), (2, "restartPolicy", Keep(Str))] }
msg! { ContainerRestartRule [
    (1, "action", Omit(Str)),
    (2, "exitCodes", Keep(M(&ContainerRestartRuleOnExitCodes))),
] }
msg! { ContainerRestartRuleOnExitCodes [(1, "operator", Omit(Str)), (2, "values", Rep(I32))] }
msg! { ContainerState [
    (1, "waiting", Keep(M(&ContainerStateWaiting))),
    (2, "running", Keep(M(&ContainerStateRunning))),
    (3, "terminated", Keep(M(&ContainerStateTerminated))),
] }
msg! { ContainerStateRunning [(1, "startedAt", Keep(M(&meta_v1::Time)))] }
msg! { ContainerStateTerminated [
    (1, "exitCode", Keep(I32)),
    (2, "signal", Omit(I32)),
    (3, "reason", Omit(Str)),
    (4, "message", Omit(Str)),
    (5, "startedAt", Keep(M(&meta_v1::Time))),
    (6, "finishedAt", Keep(M(&meta_v1::Time))),
    (7, "containerID", Omit(Str)),
] }
msg! { ContainerStateWaiting [(1, "reason", Omit(Str)), (2, "message", Omit(Str))] }
msg! { ContainerStatus [
    (1, "name", Keep(Str)),
    (2, "state", Keep(M(&ContainerState))),
    (3, "lastState", Keep(M(&ContainerState))),
    (4, "ready", Keep(Bool)),
    (5, "restartCount", Keep(I32)),
    (6, "image", Keep(Str)),
    (7, "imageID", Keep(Str)),
    (8, "containerID", Omit(Str)),
    (9, "started", Keep(Bool)),
    (10, "allocatedResources", Map(M(&resource::Quantity))),
    (11, "resources", Keep(M(&ResourceRequirements))),
    (12, "volumeMounts", Rep(M(&VolumeMountStatus))),
    (13, "user", Keep(M(&ContainerUser))),
    (14, "allocatedResourcesStatus", Rep(M(&ResourceStatus))),
    (15, "stopSignal", Keep(Str)),
] }
msg! { ContainerUser [(1, "linux", Keep(M(&LinuxContainerUser)))] }
msg! { DaemonEndpoint [(1, "Port", Keep(I32))] }
msg! { DownwardAPIProjection [(1, "items", Rep(M(&DownwardAPIVolumeFile)))] }
msg! { DownwardAPIVolumeFile [
    (1, "path", Keep(Str)),
    (2, "fieldRef", Keep(M(&ObjectFieldSelector))),
    (3, "resourceFieldRef", Keep(M(&ResourceFieldSelector))),
    (4, "mode", Keep(I32)),
] }
msg! { DownwardAPIVolumeSource [
    (1, "items", Rep(M(&DownwardAPIVolumeFile))),
    (2, "defaultMode", Keep(I32)),
] }
msg! { EmptyDirVolumeSource [
    (1, "medium", Omit(Str)),
    (2, "sizeLimit", Keep(M(&resource::Quantity))),
] }
msg! { EndpointAddress [
    (1, "ip", Keep(Str)),
    (2, "targetRef", Keep(M(&ObjectReference))),
    (3, "hostname", Omit(Str)),
    (4, "nodeName", Keep(Str)),
] }
msg! { EndpointPort [
    (1, "name", Omit(Str)),
    (2, "port", Keep(I32)),
    (3, "protocol", Omit(Str)),
    (4, "appProtocol", Keep(Str)),
] }
msg! { EndpointSubset [
    (1, "addresses", Rep(M(&EndpointAddress))),
    (2, "notReadyAddresses", Rep(M(&EndpointAddress))),
    (3, "ports", Rep(M(&EndpointPort))),
] }
msg! { Endpoints [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "subsets", Rep(M(&EndpointSubset))),
] }
msg! { EndpointsList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&Endpoints))),
] }
msg! { EnvFromSource [
    (1, "prefix", Omit(Str)),
    (2, "configMapRef", Keep(M(&ConfigMapEnvSource))),
    (3, "secretRef", Keep(M(&SecretEnvSource))),
] }
msg! { EnvVar [
    (1, "name", Keep(Str)),
    (2, "value", Omit(Str)),
    (3, "valueFrom", Keep(M(&EnvVarSource))),
] }
msg! { EnvVarSource [
    (1, "fieldRef", Keep(M(&ObjectFieldSelector))),
    (2, "resourceFieldRef", Keep(M(&ResourceFieldSelector))),
    (3, "configMapKeyRef", Keep(M(&ConfigMapKeySelector))),
    (4, "secretKeyRef", Keep(M(&SecretKeySelector))),
    (5, "fileKeyRef", Keep(M(&FileKeySelector))),
] }
msg! { EphemeralContainer [
    (1, "", Inline(&EphemeralContainerCommon)),
    (2, "targetContainerName", Omit(Str)),
] }
msg! { EphemeralContainerCommon [
    (1, "name", Keep(Str)),
    (2, "image", Omit(Str)),
    (3, "command", Rep(Str)),
    (4, "args", Rep(Str)),
    (5, "workingDir", Omit(Str)),
    (6, "ports", Rep(M(&ContainerPort))),
    (7, "env", Rep(M(&EnvVar))),
    (8, "resources", Keep(M(&ResourceRequirements))),
    (9, "volumeMounts", Rep(M(&VolumeMount))),
    (10, "livenessProbe", Keep(M(&Probe))),
    (11, "readinessProbe", Keep(M(&Probe))),
    (12, "lifecycle", Keep(M(&Lifecycle))),
    (13, "terminationMessagePath", Omit(Str)),
    (14, "imagePullPolicy", Omit(Str)),
    (15, "securityContext", Keep(M(&SecurityContext))),
    (16, "stdin", Omit(Bool)),
    (17, "stdinOnce", Omit(Bool)),
    (18, "tty", Omit(Bool)),
    (19, "envFrom", Rep(M(&EnvFromSource))),
    (20, "terminationMessagePolicy", Omit(Str)),
    (21, "volumeDevices", Rep(M(&VolumeDevice))),
    (22, "startupProbe", Keep(M(&Probe))),
    (23, "resizePolicy", Rep(M(&ContainerResizePolicy))),
    (24, "restartPolicy", Keep(Str)),
    (25, "restartPolicyRules", Rep(M(&ContainerRestartRule))),
] }
msg! { EphemeralVolumeSource [(1, "volumeClaimTemplate", Keep(M(&PersistentVolumeClaimTemplate)))] }
msg! { Event [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "involvedObject", Keep(M(&ObjectReference))),
    (3, "reason", Omit(Str)),
    (4, "message", Omit(Str)),
    (5, "source", Keep(M(&EventSource))),
    (6, "firstTimestamp", Keep(M(&meta_v1::Time))),
    (7, "lastTimestamp", Keep(M(&meta_v1::Time))),
    (8, "count", Omit(I32)),
    (9, "type", Omit(Str)),
    (10, "eventTime", Keep(M(&meta_v1::MicroTime))),
    (11, "series", Keep(M(&EventSeries))),
    (12, "action", Omit(Str)),
    (13, "related", Keep(M(&ObjectReference))),
    (14, "reportingComponent", Keep(Str)),
    (15, "reportingInstance", Keep(Str)),
] }
msg! { EventList [(1, "metadata", Keep(M(&meta_v1::ListMeta))), (2, "items", Rep(M(&Event)))] }
msg! { EventSeries [
    (1, "count", Omit(I32)),
    (2, "lastObservedTime", Keep(M(&meta_v1::MicroTime))),
] }
msg! { EventSource [(1, "component", Omit(Str)), (2, "host", Omit(Str))] }
msg! { ExecAction [(1, "command", Rep(Str))] }
msg! { FCVolumeSource [
    (1, "targetWWNs", Rep(Str)),
    (2, "lun", Keep(I32)),
    (3, "fsType", Omit(Str)),
    (4, "readOnly", Omit(Bool)),
    (5, "wwids", Rep(Str)),
] }
msg! { FileKeySelector [
    (1, "volumeName", Keep(Str)),
    (2, "path", Keep(Str)),
    (3, "key", Keep(Str)),
    (4, "optional", Keep(Bool)),
] }
msg! { FlexPersistentVolumeSource [
    (1, "driver", Keep(Str)),
    (2, "fsType", Omit(Str)),
    (3, "secretRef", Keep(M(&SecretReference))),
    (4, "readOnly", Omit(Bool)),
    (5, "options", Map(Str)),
] }
msg! { FlexVolumeSource [
    (1, "driver", Keep(Str)),
    (2, "fsType", Omit(Str)),
    (3, "secretRef", Keep(M(&LocalObjectReference))),
    (4, "readOnly", Omit(Bool)),
    (5, "options", Map(Str)),
] }
msg! { FlockerVolumeSource [(1, "datasetName", Omit(Str)), (2, "datasetUUID", Omit(Str))] }
msg! { GCEPersistentDiskVolumeSource [
    (1, "pdName", Keep(Str)),
    (2, "fsType", Omit(Str)),
    (3, "partition", Omit(I32)),
    (4, "readOnly", Omit(Bool)),
] }
msg! { GRPCAction [(1, "port", Keep(I32)), (2, "service", Keep(Str))] }
msg! { GitRepoVolumeSource [
    (1, "repository", Keep(Str)),
    (2, "revision", Omit(Str)),
    (3, "directory", Omit(Str)),
] }
msg! { GlusterfsPersistentVolumeSource [
    (1, "endpoints", Keep(Str)),
    (2, "path", Keep(Str)),
    (3, "readOnly", Omit(Bool)),
    (4, "endpointsNamespace", Keep(Str)),
] }
msg! { GlusterfsVolumeSource [
    (1, "endpoints", Keep(Str)),
    (2, "path", Keep(Str)),
    (3, "readOnly", Omit(Bool)),
] }
msg! { HTTPGetAction [
    (1, "path", Omit(Str)),
    (2, "port", Keep(M(&intstr::IntOrString))),
    (3, "host", Omit(Str)),
    (4, "scheme", Omit(Str)),
    (5, "httpHeaders", Rep(M(&HTTPHeader))),
] }
msg! { HTTPHeader [(1, "name", Keep(Str)), (2, "value", Keep(Str))] }
msg! { HostAlias [(1, "ip", Keep(Str)), (2, "hostnames", Rep(Str))] }
msg! { HostIP [(1, "ip", Keep(Str))] }
msg! { HostPathVolumeSource [(1, "path", Keep(Str)), (2, "type", Keep(Str))] }
msg! { ISCSIPersistentVolumeSource [
    (1, "targetPortal", Keep(Str)),
    (2, "iqn", Keep(Str)),
    (3, "lun", Keep(I32)),
    (4, "iscsiInterface", Omit(Str)),
    (5, "fsType", Omit(Str)),
    (6, "readOnly", Omit(Bool)),
    (7, "portals", Rep(Str)),
    (8, "chapAuthDiscovery", Omit(Bool)),
    (10, "secretRef", Keep(M(&SecretReference))),
    (11, "chapAuthSession", Omit(Bool)),
    (12, "initiatorName", Keep(Str)),
] }
msg! { ISCSIVolumeSource [
    (1, "targetPortal", Keep(Str)),
    (2, "iqn", Keep(Str)),
    (3, "lun", Keep(I32)),
    (4, "iscsiInterface", Omit(Str)),
    (5, "fsType", Omit(Str)),
    (6, "readOnly", Omit(Bool)),
    (7, "portals", Rep(Str)),
    (8, "chapAuthDiscovery", Omit(Bool)),
    (10, "secretRef", Keep(M(&LocalObjectReference))),
    (11, "chapAuthSession", Omit(Bool)),
    (12, "initiatorName", Keep(Str)),
] }
msg! { ImageVolumeSource [(1, "reference", Omit(Str)), (2, "pullPolicy", Omit(Str))] }
msg! { KeyToPath [(1, "key", Keep(Str)), (2, "path", Keep(Str)), (3, "mode", Keep(I32))] }
msg! { Lifecycle [
    (1, "postStart", Keep(M(&LifecycleHandler))),
    (2, "preStop", Keep(M(&LifecycleHandler))),
    (3, "stopSignal", Keep(Str)),
] }
msg! { LifecycleHandler [
    (1, "exec", Keep(M(&ExecAction))),
    (2, "httpGet", Keep(M(&HTTPGetAction))),
    (3, "tcpSocket", Keep(M(&TCPSocketAction))),
    (4, "sleep", Keep(M(&SleepAction))),
] }
msg! { LimitRange [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&LimitRangeSpec))),
] }
msg! { LimitRangeItem [
    (1, "type", Keep(Str)),
    (2, "max", Map(M(&resource::Quantity))),
    (3, "min", Map(M(&resource::Quantity))),
    (4, "default", Map(M(&resource::Quantity))),
    (5, "defaultRequest", Map(M(&resource::Quantity))),
    (6, "maxLimitRequestRatio", Map(M(&resource::Quantity))),
] }
msg! { LimitRangeList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&LimitRange))),
] }
msg! { LimitRangeSpec [(1, "limits", Rep(M(&LimitRangeItem)))] }
msg! { LinuxContainerUser [
    (1, "uid", Keep(I64)),
    (2, "gid", Keep(I64)),
    (3, "supplementalGroups", Rep(I64)),
] }
msg! { List [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&runtime::RawExtension))),
] }
msg! { LoadBalancerIngress [
    (1, "ip", Omit(Str)),
    (2, "hostname", Omit(Str)),
    (3, "ipMode", Keep(Str)),
    (4, "ports", Rep(M(&PortStatus))),
] }
msg! { LoadBalancerStatus [(1, "ingress", Rep(M(&LoadBalancerIngress)))] }
msg! { LocalObjectReference [(1, "name", Omit(Str))] }
msg! { LocalVolumeSource [(1, "path", Keep(Str)), (2, "fsType", Keep(Str))] }
msg! { ModifyVolumeStatus [
    (1, "targetVolumeAttributesClassName", Omit(Str)),
    (2, "status", Keep(Str)),
] }
msg! { NFSVolumeSource [
    (1, "server", Keep(Str)),
    (2, "path", Keep(Str)),
    (3, "readOnly", Omit(Bool)),
] }
msg! { Namespace [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&NamespaceSpec))),
    (3, "status", Keep(M(&NamespaceStatus))),
] }
msg! { NamespaceCondition [
    (1, "type", Keep(Str)),
    (2, "status", Keep(Str)),
    (4, "lastTransitionTime", Keep(M(&meta_v1::Time))),
    (5, "reason", Omit(Str)),
    (6, "message", Omit(Str)),
] }
msg! { NamespaceList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&Namespace))),
] }
msg! { NamespaceSpec [(1, "finalizers", Rep(Str))] }
msg! { NamespaceStatus [(1, "phase", Omit(Str)), (2, "conditions", Rep(M(&NamespaceCondition)))] }
msg! { Node [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&NodeSpec))),
    (3, "status", Keep(M(&NodeStatus))),
] }
msg! { NodeAddress [(1, "type", Keep(Str)), (2, "address", Keep(Str))] }
msg! { NodeAffinity [
    (1, "requiredDuringSchedulingIgnoredDuringExecution", Keep(M(&NodeSelector))),
    (2, "preferredDuringSchedulingIgnoredDuringExecution", Rep(M(&PreferredSchedulingTerm))),
] }
msg! { NodeCondition [
    (1, "type", Keep(Str)),
    (2, "status", Keep(Str)),
    (3, "lastHeartbeatTime", Keep(M(&meta_v1::Time))),
    (4, "lastTransitionTime", Keep(M(&meta_v1::Time))),
    (5, "reason", Omit(Str)),
    (6, "message", Omit(Str)),
] }
msg! { NodeConfigSource [(2, "configMap", Keep(M(&ConfigMapNodeConfigSource)))] }
msg! { NodeConfigStatus [
    (1, "assigned", Keep(M(&NodeConfigSource))),
    (2, "active", Keep(M(&NodeConfigSource))),
    (3, "lastKnownGood", Keep(M(&NodeConfigSource))),
    (4, "error", Omit(Str)),
] }
msg! { NodeDaemonEndpoints [(1, "kubeletEndpoint", Keep(M(&DaemonEndpoint)))] }
msg! { NodeFeatures [(1, "supplementalGroupsPolicy", Keep(Bool))] }
msg! { NodeList [(1, "metadata", Keep(M(&meta_v1::ListMeta))), (2, "items", Rep(M(&Node)))] }
msg! { NodeProxyOptions [(1, "path", Omit(Str))] }
msg! { NodeRuntimeHandler [
    (1, "name", Keep(Str)),
    (2, "features", Keep(M(&NodeRuntimeHandlerFeatures))),
] }
msg! { NodeRuntimeHandlerFeatures [
    (1, "recursiveReadOnlyMounts", Keep(Bool)),
    (2, "userNamespaces", Keep(Bool)),
] }
msg! { NodeSelector [(1, "nodeSelectorTerms", Rep(M(&NodeSelectorTerm)))] }
msg! { NodeSelectorRequirement [
    (1, "key", Keep(Str)),
    (2, "operator", Keep(Str)),
    (3, "values", Rep(Str)),
] }
msg! { NodeSelectorTerm [
    (1, "matchExpressions", Rep(M(&NodeSelectorRequirement))),
    (2, "matchFields", Rep(M(&NodeSelectorRequirement))),
] }
msg! { NodeSpec [
    (1, "podCIDR", Omit(Str)),
    (2, "externalID", Omit(Str)),
    (3, "providerID", Omit(Str)),
    (4, "unschedulable", Omit(Bool)),
    (5, "taints", Rep(M(&Taint))),
    (6, "configSource", Keep(M(&NodeConfigSource))),
    (7, "podCIDRs", Rep(Str)),
] }
msg! { NodeStatus [
    (1, "capacity", Map(M(&resource::Quantity))),
    (2, "allocatable", Map(M(&resource::Quantity))),
    (3, "phase", Omit(Str)),
    (4, "conditions", Rep(M(&NodeCondition))),
    (5, "addresses", Rep(M(&NodeAddress))),
    (6, "daemonEndpoints", Keep(M(&NodeDaemonEndpoints))),
    (7, "nodeInfo", Keep(M(&NodeSystemInfo))),
    (8, "images", Rep(M(&ContainerImage))),
    (9, "volumesInUse", Rep(Str)),
    (10, "volumesAttached", Rep(M(&AttachedVolume))),
    (11, "config", Keep(M(&NodeConfigStatus))),
    (12, "runtimeHandlers", Rep(M(&NodeRuntimeHandler))),
    (13, "features", Keep(M(&NodeFeatures))),
    (14, "declaredFeatures", Rep(Str)),
] }
msg! { NodeSwapStatus [(1, "capacity", Keep(I64))] }
msg! { NodeSystemInfo [
    (1, "machineID", Keep(Str)),
    (2, "systemUUID", Keep(Str)),
    (3, "bootID", Keep(Str)),
    (4, "kernelVersion", Keep(Str)),
    (5, "osImage", Keep(Str)),
    (6, "containerRuntimeVersion", Keep(Str)),
    (7, "kubeletVersion", Keep(Str)),
    (8, "kubeProxyVersion", Keep(Str)),
    (9, "operatingSystem", Keep(Str)),
    (10, "architecture", Keep(Str)),
    (11, "swap", Keep(M(&NodeSwapStatus))),
] }
msg! { ObjectFieldSelector [(1, "apiVersion", Omit(Str)), (2, "fieldPath", Keep(Str))] }
msg! { ObjectReference [
    (1, "kind", Omit(Str)),
    (2, "namespace", Omit(Str)),
    (3, "name", Omit(Str)),
    (4, "uid", Omit(Str)),
    (5, "apiVersion", Omit(Str)),
    (6, "resourceVersion", Omit(Str)),
    (7, "fieldPath", Omit(Str)),
] }
msg! { PersistentVolume [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&PersistentVolumeSpec))),
    (3, "status", Keep(M(&PersistentVolumeStatus))),
] }
msg! { PersistentVolumeClaim [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&PersistentVolumeClaimSpec))),
    (3, "status", Keep(M(&PersistentVolumeClaimStatus))),
] }
msg! { PersistentVolumeClaimCondition [
    (1, "type", Keep(Str)),
    (2, "status", Keep(Str)),
    (3, "lastProbeTime", Keep(M(&meta_v1::Time))),
    (4, "lastTransitionTime", Keep(M(&meta_v1::Time))),
    (5, "reason", Omit(Str)),
    (6, "message", Omit(Str)),
] }
msg! { PersistentVolumeClaimList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&PersistentVolumeClaim))),
] }
msg! { PersistentVolumeClaimSpec [
    (1, "accessModes", Rep(Str)),
    (2, "resources", Keep(M(&VolumeResourceRequirements))),
    (3, "volumeName", Omit(Str)),
    (4, "selector", Keep(M(&meta_v1::LabelSelector))),
    (5, "storageClassName", Keep(Str)),
    (6, "volumeMode", Keep(Str)),
    (7, "dataSource", Keep(M(&TypedLocalObjectReference))),
    (8, "dataSourceRef", Keep(M(&TypedObjectReference))),
    (9, "volumeAttributesClassName", Keep(Str)),
] }
msg! { PersistentVolumeClaimStatus [
    (1, "phase", Omit(Str)),
    (2, "accessModes", Rep(Str)),
    (3, "capacity", Map(M(&resource::Quantity))),
    (4, "conditions", Rep(M(&PersistentVolumeClaimCondition))),
    (5, "allocatedResources", Map(M(&resource::Quantity))),
    (7, "allocatedResourceStatuses", Map(Str)),
    (8, "currentVolumeAttributesClassName", Keep(Str)),
    (9, "modifyVolumeStatus", Keep(M(&ModifyVolumeStatus))),
] }
msg! { PersistentVolumeClaimTemplate [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&PersistentVolumeClaimSpec))),
] }
msg! { PersistentVolumeClaimVolumeSource [
    (1, "claimName", Keep(Str)),
    (2, "readOnly", Omit(Bool)),
] }
msg! { PersistentVolumeList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&PersistentVolume))),
] }
msg! { PersistentVolumeSource [
    (1, "gcePersistentDisk", Keep(M(&GCEPersistentDiskVolumeSource))),
    (2, "awsElasticBlockStore", Keep(M(&AWSElasticBlockStoreVolumeSource))),
    (3, "hostPath", Keep(M(&HostPathVolumeSource))),
    (4, "glusterfs", Keep(M(&GlusterfsPersistentVolumeSource))),
    (5, "nfs", Keep(M(&NFSVolumeSource))),
    (6, "rbd", Keep(M(&RBDPersistentVolumeSource))),
    (7, "iscsi", Keep(M(&ISCSIPersistentVolumeSource))),
    (8, "cinder", Keep(M(&CinderPersistentVolumeSource))),
    (9, "cephfs", Keep(M(&CephFSPersistentVolumeSource))),
    (10, "fc", Keep(M(&FCVolumeSource))),
    (11, "flocker", Keep(M(&FlockerVolumeSource))),
    (12, "flexVolume", Keep(M(&FlexPersistentVolumeSource))),
    (13, "azureFile", Keep(M(&AzureFilePersistentVolumeSource))),
    (14, "vsphereVolume", Keep(M(&VsphereVirtualDiskVolumeSource))),
    (15, "quobyte", Keep(M(&QuobyteVolumeSource))),
    (16, "azureDisk", Keep(M(&AzureDiskVolumeSource))),
    (17, "photonPersistentDisk", Keep(M(&PhotonPersistentDiskVolumeSource))),
    (18, "portworxVolume", Keep(M(&PortworxVolumeSource))),
    (19, "scaleIO", Keep(M(&ScaleIOPersistentVolumeSource))),
    (20, "local", Keep(M(&LocalVolumeSource))),
    (21, "storageos", Keep(M(&StorageOSPersistentVolumeSource))),
    (22, "csi", Keep(M(&CSIPersistentVolumeSource))),
] }
msg! { PersistentVolumeSpec [
    (1, "capacity", Map(M(&resource::Quantity))),
    (2, "", Inline(&PersistentVolumeSource)),
    (3, "accessModes", Rep(Str)),
    (4, "claimRef", Keep(M(&ObjectReference))),
    (5, "persistentVolumeReclaimPolicy", Omit(Str)),
    (6, "storageClassName", Omit(Str)),
    (7, "mountOptions", Rep(Str)),
    (8, "volumeMode", Keep(Str)),
    (9, "nodeAffinity", Keep(M(&VolumeNodeAffinity))),
    (10, "volumeAttributesClassName", Keep(Str)),
] }
msg! { PersistentVolumeStatus [
    (1, "phase", Omit(Str)),
    (2, "message", Omit(Str)),
    (3, "reason", Omit(Str)),
    (4, "lastPhaseTransitionTime", Keep(M(&meta_v1::Time))),
] }
msg! { PhotonPersistentDiskVolumeSource [(1, "pdID", Keep(Str)), (2, "fsType", Omit(Str))] }
msg! { Pod [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&PodSpec))),
    (3, "status", Keep(M(&PodStatus))),
] }
msg! { PodAffinity [
    (1, "requiredDuringSchedulingIgnoredDuringExecution", Rep(M(&PodAffinityTerm))),
    (2, "preferredDuringSchedulingIgnoredDuringExecution", Rep(M(&WeightedPodAffinityTerm))),
] }
