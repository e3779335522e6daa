package render

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// RESTMapperScope answers scope questions from a RESTMapper, such as the controller's; a kind the
// mapper cannot map is unknown.
func RESTMapperScope(m meta.RESTMapper) ScopeFunc {
	return func(gvk schema.GroupVersionKind) (bool, bool) {
		mapping, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil || mapping.Scope == nil {
			return false, false
		}
		return mapping.Scope.Name() == meta.RESTScopeNameNamespace, true
	}
}

// scope asks, in turn, the CustomResourceDefinitions rendered, the caller's ScopeFunc, and the
// table of built-in kinds.
func (r *renderer) scope(user ScopeFunc) ScopeFunc {
	defined := map[schema.GroupKind]bool{}
	for _, it := range r.items {
		if it.obj.GroupVersionKind().GroupKind() != crdGK {
			continue
		}
		group, _, _ := unstructured.NestedString(it.obj.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(it.obj.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(it.obj.Object, "spec", "scope")
		if kind != "" && (scope == "Namespaced" || scope == "Cluster") {
			defined[schema.GroupKind{Group: group, Kind: kind}] = scope == "Namespaced"
		}
	}
	return func(gvk schema.GroupVersionKind) (bool, bool) {
		if namespaced, ok := defined[gvk.GroupKind()]; ok {
			return namespaced, true
		}
		if user != nil {
			if namespaced, known := user(gvk); known {
				return namespaced, true
			}
		}
		namespaced, ok := builtinScope[gvk.GroupKind()]
		return namespaced, ok
	}
}

// builtinScope holds the scope of the kinds Kubernetes serves itself: true for namespaced.
var builtinScope = func() map[schema.GroupKind]bool {
	m := map[schema.GroupKind]bool{}
	add := func(group string, namespaced bool, kinds ...string) {
		for _, k := range kinds {
			m[schema.GroupKind{Group: group, Kind: k}] = namespaced
		}
	}
	add("", true, "Binding", "ConfigMap", "Endpoints", "Event", "LimitRange", "PersistentVolumeClaim",
		"Pod", "PodTemplate", "ReplicationController", "ResourceQuota", "Secret", "Service", "ServiceAccount")
	add("", false, "ComponentStatus", "Namespace", "Node", "PersistentVolume")
	add("apps", true, "ControllerRevision", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet")
	add("batch", true, "CronJob", "Job")
	add("autoscaling", true, "HorizontalPodAutoscaler")
	add("policy", true, "PodDisruptionBudget")
	add("coordination.k8s.io", true, "Lease")
	add("discovery.k8s.io", true, "EndpointSlice")
	add("events.k8s.io", true, "Event")
	add("networking.k8s.io", true, "Ingress", "NetworkPolicy")
	add("networking.k8s.io", false, "IngressClass", "IPAddress", "ServiceCIDR")
	add("rbac.authorization.k8s.io", true, "Role", "RoleBinding")
	add("rbac.authorization.k8s.io", false, "ClusterRole", "ClusterRoleBinding")
	add("storage.k8s.io", true, "CSIStorageCapacity")
	add("storage.k8s.io", false, "CSIDriver", "CSINode", "StorageClass", "VolumeAttachment", "VolumeAttributesClass")
	add("resource.k8s.io", true, "ResourceClaim", "ResourceClaimTemplate")
	add("resource.k8s.io", false, "DeviceClass", "ResourceSlice")
	add("apiextensions.k8s.io", false, "CustomResourceDefinition")
	add("apiregistration.k8s.io", false, "APIService")
	add("admissionregistration.k8s.io", false, "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding",
		"MutatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
		"ValidatingWebhookConfiguration")
	add("certificates.k8s.io", false, "CertificateSigningRequest", "ClusterTrustBundle")
	add("flowcontrol.apiserver.k8s.io", false, "FlowSchema", "PriorityLevelConfiguration")
	add("node.k8s.io", false, "RuntimeClass")
	add("scheduling.k8s.io", false, "PriorityClass")
	return m
}()
