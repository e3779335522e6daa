package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DriftMode says what happens when a live object diverges from what Writ applied.
// +kubebuilder:validation:Enum=Heal;Warn;Off
type DriftMode string

const (
	// DriftHeal records the drift and re-applies Git's version.
	DriftHeal DriftMode = "Heal"
	// DriftWarn records and reports the drift and leaves it.
	DriftWarn DriftMode = "Warn"
	// DriftOff does not watch for drift.
	DriftOff DriftMode = "Off"
)

// SyncWitnessMode says what the guard does with a write by Writ's own agent to one of this Sync's
// objects that no verified commit declares. It takes the values of the guard's WitnessMode
// (webhook/api/v1alpha1), which this package must not import: Enforce, Warn or Off.
// +kubebuilder:validation:Enum=Enforce;Warn;Off
type SyncWitnessMode string

const (
	// SyncWitnessEnforce denies the write.
	SyncWitnessEnforce SyncWitnessMode = "Enforce"
	// SyncWitnessWarn allows it with a warning and an UnverifiedAgentWrite audit record.
	SyncWitnessWarn SyncWitnessMode = "Warn"
	// SyncWitnessOff does not judge the agent's writes to this Sync's objects against Git.
	SyncWitnessOff SyncWitnessMode = "Off"
)

// SyncSpec says what to apply from a source.
type SyncSpec struct {
	// SourceRef names the GitSource in this namespace.
	SourceRef LocalObjectReference `json:"sourceRef"`
	// Path in the repository; a kustomization there is built, otherwise YAML files are found
	// recursively. Default the repository root.
	// +optional
	Path string `json:"path,omitempty"`
	// TargetNamespace is set on namespaced objects that name none.
	// +optional
	TargetNamespace string `json:"targetNamespace,omitempty"`
	// Prune deletes objects this sync applied that Git no longer declares. Default true.
	// +kubebuilder:default=true
	// +optional
	Prune *bool `json:"prune,omitempty"`
	// Drift handling: Heal (default), Warn or Off.
	// +kubebuilder:default=Heal
	// +optional
	Drift DriftMode `json:"drift,omitempty"`
	// Interval between full reconciliations (drift is watched continuously).
	// +kubebuilder:default="10m"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Timeout of one apply, health checks included.
	// +kubebuilder:default="5m"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// Suspend stops applying and healing.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// Wait makes the sync Ready only once what it applied is healthy. Default true.
	// +kubebuilder:default=true
	// +optional
	Wait *bool `json:"wait,omitempty"`
	// ServiceAccountName is the account the reconciler impersonates to apply (least privilege).
	// Empty means the reconciler's own identity.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// Witness is what the guard does with a write by the agent to one of this Sync's objects that
	// no verified commit declares: Enforce, Warn or Off. Unset, it does not take part: the
	// strictest mode set by this Sync or a GuardPolicy protecting the object applies, and with none
	// set the webhook's --witness-mode (default Enforce).
	// +optional
	Witness SyncWitnessMode `json:"witness,omitempty"`
}

// InventoryEntry is one applied object.
type InventoryEntry struct {
	// +optional
	Group   string `json:"group,omitempty"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// HistoryEntry is one apply.
type HistoryEntry struct {
	Commit string      `json:"commit"`
	Time   metav1.Time `json:"time"`
	// Result: Applied, Failed, Rejected or Frozen (the source's commit was revoked).
	Result string `json:"result"`
	// +optional
	Message string `json:"message,omitempty"`
}

// SyncStatus reports what is applied.
type SyncStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Reconciling, Stalled (with reason SourceRevoked while the source's
	// commit is revoked: nothing is applied or healed), SourceVerified, Drifted.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastAppliedCommit and its signers.
	// +optional
	LastAppliedCommit string `json:"lastAppliedCommit,omitempty"`
	// +optional
	LastAppliedSigners []Signer `json:"lastAppliedSigners,omitempty"`
	// Inventory of the objects applied from LastAppliedCommit.
	// +optional
	Inventory []InventoryEntry `json:"inventory,omitempty"`
	// History of the last applies, newest first (at most 10).
	// +optional
	History []HistoryEntry `json:"history,omitempty"`
}

// Sync applies a path of a verified GitSource, prunes and heals drift.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.spec.sourceRef.name`
// +kubebuilder:printcolumn:name="Path",type=string,JSONPath=`.spec.path`
// +kubebuilder:printcolumn:name="Applied",type=string,JSONPath=`.status.lastAppliedCommit`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Sync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SyncSpec   `json:"spec"`
	Status SyncStatus `json:"status,omitempty"`
}

// SyncList is a list of Sync.
// +kubebuilder:object:root=true
type SyncList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Sync `json:"items"`
}
