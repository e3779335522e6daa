package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Actor is who did or tried something.
type Actor struct {
	// +optional
	User string `json:"user,omitempty"`
	// +optional
	Groups []string `json:"groups,omitempty"`
	// +optional
	ServiceAccount string `json:"serviceAccount,omitempty"`
}

// ObjectRef names a Kubernetes object.
type ObjectRef struct {
	// +optional
	Group string `json:"group,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	Kind string `json:"kind,omitempty"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Subresource string `json:"subresource,omitempty"`
	// UID is the object's metadata.uid, where the recorder knows it.
	// +optional
	UID string `json:"uid,omitempty"`
}

// Submitter is who created an AuditEvent, as the apiserver authenticated them. The
// MutatingAdmissionPolicy writ-audit-submitter (audit/controller.SubmitterPolicy, shipped by the
// chart) writes it from request.userInfo on every create and carries it over unchanged on every
// update: whatever a client puts here is overwritten. The audit ingester stores only events whose
// submitter is one of Writ's own service accounts.
type Submitter struct {
	// Username is the authenticated user name (system:serviceaccount:<namespace>:<name> for a
	// service account).
	Username string `json:"username"`
	// UID is the authenticated user's UID (a service account's UID).
	// +optional
	UID string `json:"uid,omitempty"`
	// Groups are the authenticated user's groups.
	// +optional
	Groups []string `json:"groups,omitempty"`
}

// AuditEventSpec is the record. It never holds a Secret's value: field paths and digests only.
type AuditEventSpec struct {
	// Type is the record kind (MutationDenied, DriftDetected, SyncApplied, …).
	// +kubebuilder:validation:MinLength=1
	Type string `json:"type"`
	// Time is when it happened.
	Time metav1.MicroTime `json:"time"`
	// +optional
	Actor Actor `json:"actor,omitempty"`
	// +optional
	Object ObjectRef `json:"object,omitempty"`
	// +optional
	Operation string `json:"operation,omitempty"`
	// +optional
	Commit string `json:"commit,omitempty"`
	// +optional
	Repository string `json:"repository,omitempty"`
	// +optional
	Signers []string `json:"signers,omitempty"`
	// +optional
	Approvers []string `json:"approvers,omitempty"`
	// +optional
	Policy string `json:"policy,omitempty"`
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	BreakGlass string `json:"breakGlass,omitempty"`
	// Manager is the field manager a write was made under, as the client set it (see audit.Event).
	// +optional
	Manager string `json:"manager,omitempty"`
	// ResourceVersion: of the stored object a write was made on, or of the live object a drift
	// was seen in (see audit.Event).
	// +optional
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// SinceResourceVersion: on a drift record, the object's last version in step with Git.
	// +optional
	SinceResourceVersion string `json:"sinceResourceVersion,omitempty"`
	// +optional
	Fields []string `json:"fields,omitempty"`
	// +optional
	Digests map[string]string `json:"digests,omitempty"`
	// +optional
	Objects map[string]int `json:"objects,omitempty"`
	// Count is how many identical events this object aggregates (a retried denial).
	// +kubebuilder:validation:Minimum=1
	// +optional
	Count int `json:"count,omitempty"`
	// Submitter is set by the apiserver, never by the client: see Submitter.
	// +optional
	Submitter *Submitter `json:"submitter,omitempty"`
}

// AuditEvent is an audit record on its way to the audit store.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=ae
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="User",type=string,JSONPath=`.spec.actor.user`
// +kubebuilder:printcolumn:name="Submitter",type=string,JSONPath=`.spec.submitter.username`
// +kubebuilder:printcolumn:name="Count",type=integer,JSONPath=`.spec.count`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AuditEvent struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AuditEventSpec `json:"spec"`
}

// AuditEventList is a list of AuditEvent.
// +kubebuilder:object:root=true
type AuditEventList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AuditEvent `json:"items"`
}
