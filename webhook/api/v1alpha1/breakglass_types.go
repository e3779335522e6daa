package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BreakGlassScope is what a request may change.
type BreakGlassScope struct {
	// +kubebuilder:validation:MinItems=1
	Namespaces []string `json:"namespaces"`
	// Resources in those namespaces; empty means every resource.
	// +optional
	Resources []ResourceRule `json:"resources,omitempty"`
	// Names limits the request to these object names; empty means every object.
	// +optional
	Names []string `json:"names,omitempty"`
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
	// ApprovedAt is when the approval was admitted (set together with approvedBy).
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
