package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BreakGlassScope is what a request may change: namespaced objects in the listed namespaces,
// and cluster-scoped objects only as ClusterResources names them. RBAC, admission
// configuration and Writ's own kinds are never in scope (the guard refuses such a request).
type BreakGlassScope struct {
	// Namespaces whose objects the request covers; each a namespace's name (never empty).
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`
	// Resources in those namespaces; empty means every resource.
	// +optional
	Resources []ResourceRule `json:"resources,omitempty"`
	// Names limits the request to these object names in those namespaces; empty means every
	// object.
	// +optional
	Names []string `json:"names,omitempty"`
	// ClusterResources are the cluster-scoped objects the request covers, each named.
	// +optional
	ClusterResources []NamedResource `json:"clusterResources,omitempty"`
}

// NamedResource names cluster-scoped objects of one resource.
type NamedResource struct {
	// APIGroup of the resource ("" the core group).
	// +optional
	APIGroup string `json:"apiGroup"`
	// Resource (plural, as in RBAC), e.g. persistentvolumes.
	// +kubebuilder:validation:MinLength=1
	Resource string `json:"resource"`
	// Names of the objects; at least one.
	// +kubebuilder:validation:MinItems=1
	Names []string `json:"names"`
}

// BreakGlassRequestSpec is a request for emergency access. Once approved it cannot change.
type BreakGlassRequestSpec struct {
	// Requester is the user asking; it must be the user who creates the request.
	// +kubebuilder:validation:MinLength=1
	Requester string `json:"requester"`
	// Justification says why, for the audit trail.
	// +kubebuilder:validation:MinLength=10
	Justification string `json:"justification"`
	// Ticket is the incident or change ticket.
	// +optional
	Ticket string          `json:"ticket,omitempty"`
	Scope  BreakGlassScope `json:"scope"`
	// Duration of the grant from approval, at most the policy's maxDuration.
	Duration metav1.Duration `json:"duration"`
	// ApprovedBy is set by the approver, who must be another user in an approver group.
	// +optional
	ApprovedBy string `json:"approvedBy,omitempty"`
	// ApprovedAt is when the approval was admitted. The guard's mutating webhook (writ-breakglass)
	// sets it from its own clock when an update sets approvedBy; the validating guard accepts
	// only a time within a few seconds of its own clock, never later.
	// +optional
	ApprovedAt *metav1.Time `json:"approvedAt,omitempty"`
}

// BreakGlassRequest is a time-boxed, second-person-approved exception to the guard.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=bgr
// +kubebuilder:printcolumn:name="Requester",type=string,JSONPath=`.spec.requester`
// +kubebuilder:printcolumn:name="Approved By",type=string,JSONPath=`.spec.approvedBy`
// +kubebuilder:printcolumn:name="Approved At",type=date,JSONPath=`.spec.approvedAt`
// +kubebuilder:printcolumn:name="Duration",type=string,JSONPath=`.spec.duration`
type BreakGlassRequest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec BreakGlassRequestSpec `json:"spec"`
}

// BreakGlassRequestList is a list of BreakGlassRequest.
// +kubebuilder:object:root=true
type BreakGlassRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BreakGlassRequest `json:"items"`
}
