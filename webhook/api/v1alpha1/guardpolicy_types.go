package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GuardMode says what the guard does with a mutation it would deny.
// +kubebuilder:validation:Enum=Enforce;Warn
type GuardMode string

const (
	// Enforce denies the mutation.
	Enforce GuardMode = "Enforce"
	// Warn allows it with a warning to the client and an audit record.
	Warn GuardMode = "Warn"
)

// WitnessMode says what the guard does with a write by Writ's own agent that no verified commit
// declares (the witness, README "What the agent's identity alone can no longer do"). The Sync's
// spec.witness (reconcile/api/v1alpha1.SyncWitnessMode) takes the same three values.
// +kubebuilder:validation:Enum=Enforce;Warn;Off
type WitnessMode string

const (
	// WitnessEnforce denies the write, naming the field and the value Git declares.
	WitnessEnforce WitnessMode = "Enforce"
	// WitnessWarn allows it with a warning to the client and an UnverifiedAgentWrite audit record.
	WitnessWarn WitnessMode = "Warn"
	// WitnessOff does not judge the agent's writes against Git.
	WitnessOff WitnessMode = "Off"
)

// SubjectKind is the kind of an identity. There is no Group kind: a group is something a user
// is in, not who they are (anyone who may impersonate can add any group to any name).
// +kubebuilder:validation:Enum=User;ServiceAccount;Node
type SubjectKind string

const (
	UserSubject           SubjectKind = "User"
	ServiceAccountSubject SubjectKind = "ServiceAccount"
	// NodeSubject is every kubelet: a user named system:node:<node name> who is also in the
	// group system:nodes, the identity the NodeRestriction admission plugin restricts to its own
	// node's objects. Its name is "*" (any node) or one node's name.
	NodeSubject SubjectKind = "Node"
)

// Subject is an identity as the API server authenticates it. Names match exactly: no prefixes,
// no wildcards, no trimming.
type Subject struct {
	Kind SubjectKind `json:"kind"`
	// Name is the user name, service account name, or node name ("*" for every node).
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Namespace of a service account.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// ResourceRule selects resources by API group and resource (plural, as in RBAC).
type ResourceRule struct {
	// APIGroups: "" is the core group; "*" all groups.
	// +kubebuilder:validation:MinItems=1
	APIGroups []string `json:"apiGroups"`
	// Resources, e.g. "deployments", "configmaps"; "*" all. Subresources are selected by
	// Subresources, not here.
	// +kubebuilder:validation:MinItems=1
	Resources []string `json:"resources"`
}

// NamespaceSelector selects namespaces by name or label.
type NamespaceSelector struct {
	// +optional
	Names []string `json:"names,omitempty"`
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// Protection says what the policy protects.
type Protection struct {
	// Namespaces whose namespaced resources are protected.
	// +optional
	Namespaces NamespaceSelector `json:"namespaces,omitempty"`
	// Resources limits protection in those namespaces; empty means every resource.
	// +optional
	Resources []ResourceRule `json:"resources,omitempty"`
	// ClusterResources are cluster-scoped resources protected everywhere (e.g. clusterroles).
	// +optional
	ClusterResources []ResourceRule `json:"clusterResources,omitempty"`
	// TrackedObjects protects objects that carry a GitOps tracking marker (Writ's label, Argo
	// CD's tracking-id annotation, Flux's labels) wherever they live. Default true.
	// +optional
	TrackedObjects *bool `json:"trackedObjects,omitempty"`
	// ArgoCDLabelTracking also counts Argo CD's legacy label tracking (the label
	// app.kubernetes.io/instance) as a tracking marker. Off by default: every Helm chart sets
	// that label, and Argo CD 3 tracks by annotation. Turn it on only if your Argo CD uses
	// application.resourceTrackingMethod: label.
	// +optional
	ArgoCDLabelTracking bool `json:"argoCDLabelTracking,omitempty"`
}

// Exemption lets a named identity make named writes Kubernetes itself needs (the HPA writing
// scale, node status updates…). It never matches more than it names: no wildcards in subjects,
// and operations and resources must be listed. Names, Changes and OwnedBy narrow it to what the
// controller actually writes; the guard enforces them by reading the objects (before and after).
type Exemption struct {
	// Name explains the exemption in audit records.
	// +kubebuilder:validation:MinLength=1
	Name    string  `json:"name"`
	Subject Subject `json:"subject"`
	// +kubebuilder:validation:MinItems=1
	Resources []ResourceRule `json:"resources"`
	// Operations: CREATE, UPDATE, DELETE, CONNECT.
	// +kubebuilder:validation:MinItems=1
	Operations []string `json:"operations"`
	// Subresources the exemption covers ("" the main resource, "status", "scale"…). Empty means
	// the main resource only.
	// +optional
	Subresources []string `json:"subresources,omitempty"`
	// Names limits the exemption to objects of these names (e.g. kube-root-ca.crt).
	// +optional
	Names []string `json:"names,omitempty"`
	// Changes limits an UPDATE to these metadata fields: the object before and after must be
	// equal in everything else (spec, data, status, labels, annotations…). Without it an
	// exempt UPDATE may change anything the resources and subresources name.
	// +optional
	Changes []MetadataField `json:"changes,omitempty"`
	// OwnedBy limits the exemption to objects whose controller (the ownerReference with
	// controller: true) is an object of this kind in the same namespace, found in the guard's
	// cache with the referenced UID, that is itself Git-declared (carries a tracking marker) or
	// owned as OwnedBy.OwnedBy says. The object must also match what its owner declares: a Pod
	// its owner's pod template (containers, volumes, service account, host namespaces and
	// security contexts), a ReplicaSet its Deployment's pod template, a Secret its SealedSecret
	// (same name, the templated type). CREATE and UPDATE check the object after, DELETE before.
	// +optional
	OwnedBy *OwnerRule `json:"ownedBy,omitempty"`
}

// MetadataField names a metadata field an exempt UPDATE may change.
// +kubebuilder:validation:Enum=ownerReferences;finalizers
type MetadataField string

const (
	OwnerReferencesField MetadataField = "ownerReferences"
	FinalizersField      MetadataField = "finalizers"
)

// OwnerRule names the kind of an object's controller. The guard knows how to read and compare
// apps/v1 Deployment, ReplicaSet and StatefulSet, batch/v1 Job, v1 Service and
// bitnami.com/v1alpha1 SealedSecret; any other kind is rejected when the policy is compiled.
type OwnerRule struct {
	OwnerKind `json:",inline"`
	// OwnedBy requires the owner to be controlled in turn by an object of this kind (a
	// ReplicaSet by a Deployment); the last owner of the chain must be Git-declared.
	// +optional
	OwnedBy *OwnerKind `json:"ownedBy,omitempty"`
}

// OwnerKind is an owner's apiVersion and kind, as its ownerReference names them.
type OwnerKind struct {
	// APIVersion of the owner (e.g. apps/v1).
	// +kubebuilder:validation:MinLength=1
	APIVersion string `json:"apiVersion"`
	// Kind of the owner (e.g. ReplicaSet).
	// +kubebuilder:validation:MinLength=1
	Kind string `json:"kind"`
}

// BreakGlassPolicy configures emergency access.
type BreakGlassPolicy struct {
	// RequesterGroups may create BreakGlassRequests.
	// +optional
	RequesterGroups []string `json:"requesterGroups,omitempty"`
	// ApproverGroups may approve them; an approver is never the requester.
	// +optional
	ApproverGroups []string `json:"approverGroups,omitempty"`
	// MaxDuration caps a request's duration. Default 1h.
	// +optional
	MaxDuration *metav1.Duration `json:"maxDuration,omitempty"`
}

// GuardPolicySpec is one guard policy.
type GuardPolicySpec struct {
	// Mode is Enforce (default) or Warn.
	// +kubebuilder:default=Enforce
	// +optional
	Mode GuardMode `json:"mode,omitempty"`
	// Protect says what is protected.
	Protect Protection `json:"protect"`
	// Agents are the identities that may change protected resources: the GitOps agent (Writ's
	// reconciler service account by default; Argo CD's application-controller, Flux's
	// controllers).
	// +optional
	Agents []Subject `json:"agents,omitempty"`
	// Exemptions for system controllers.
	// +optional
	Exemptions []Exemption `json:"exemptions,omitempty"`
	// BreakGlass configures emergency access.
	// +optional
	BreakGlass BreakGlassPolicy `json:"breakGlass,omitempty"`
	// SourceOfTruth is shown in denial messages when an object does not name its own (Writ
	// annotates what it applies with repository and path).
	// +optional
	SourceOfTruth string `json:"sourceOfTruth,omitempty"`
	// Witness is what happens to a write by Writ's own agent, to an object this policy protects,
	// that no verified commit declares: Enforce, Warn or Off. Unset, it does not take part: the
	// strictest mode set by a protecting policy or the object's Sync applies, and with none set the
	// webhook's --witness-mode (default Enforce).
	// +optional
	Witness WitnessMode `json:"witness,omitempty"`
}

// GuardPolicy protects resources so that only the GitOps agent may change them.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=gp
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GuardPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec GuardPolicySpec `json:"spec"`
}

// GuardPolicyList is a list of GuardPolicy.
// +kubebuilder:object:root=true
type GuardPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GuardPolicy `json:"items"`
}
