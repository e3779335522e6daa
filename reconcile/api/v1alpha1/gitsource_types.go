package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// GitRef says which revision of a repository to deploy: exactly one of its fields.
// +kubebuilder:validation:XValidation:rule="[has(self.branch), has(self.tag), has(self.semver), has(self.commit)].filter(x, x).size() == 1",message="set exactly one of branch, tag, semver and commit"
type GitRef struct {
	// +optional
	Branch string `json:"branch,omitempty"`
	// +optional
	Tag string `json:"tag,omitempty"`
	// SemVer is a range over tags, e.g. ">=1.2.0 <2.0.0"; the highest matching tag is deployed.
	// +optional
	SemVer string `json:"semver,omitempty"`
	// Commit pins a commit hash.
	// +optional
	Commit string `json:"commit,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// GitSourceSpec says what to fetch and whose signatures to require.
type GitSourceSpec struct {
	// URL of the repository: https://, ssh:// (or scp-like user@host:path) or file://.
	// +kubebuilder:validation:Pattern=`^(https?://|ssh://|file://|[A-Za-z0-9._-]+@[^:]+:).+`
	URL string `json:"url"`
	// Ref to deploy; default the branch "main".
	// +optional
	Ref *GitRef `json:"ref,omitempty"`
	// SecretRef names a Secret with credentials: username and password, or bearerToken (https);
	// identity and known_hosts (ssh).
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// TrustPolicy names the cluster-scoped TrustPolicy every commit must satisfy. Required:
	// Writ never applies an unverified commit.
	// +kubebuilder:validation:MinLength=1
	TrustPolicy string `json:"trustPolicy"`
	// Interval between fetches.
	// +kubebuilder:default="1m"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Timeout of one fetch.
	// +kubebuilder:default="60s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// Suspend stops fetching.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// Signer is who signed a verified commit, or approved it (a signed approval tag under a
// TrustPolicy's two-person rule).
type Signer struct {
	// ID names the signer as every audit record and evidence report does
	// (provenance/signature.Signer.ID): "ssh:SHA256:… (alice@example.com)",
	// "keyless:alice@example.com (https://accounts.google.com)". Records are named from the
	// fields below, not from this one.
	// +optional
	ID     string `json:"id,omitempty"`
	Method string `json:"method"`
	// Approval is true for an approver: the signer of an approval tag, not of the commit.
	// +optional
	Approval bool `json:"approval,omitempty"`
	// +optional
	Fingerprint string `json:"fingerprint,omitempty"`
	// +optional
	Identity string `json:"identity,omitempty"`
	// +optional
	Issuer string `json:"issuer,omitempty"`
}

// Revocation says that a served commit no longer verifies, and why.
type Revocation struct {
	// Commit is the served commit that no longer verifies.
	Commit string `json:"commit"`
	// Reason is the verifier's reason code (Revoked, UnknownKey, NotEnoughApprovals, ...).
	Reason string `json:"reason"`
	// Message says what failed, in words.
	// +optional
	Message string `json:"message,omitempty"`
	// TrustPolicyGeneration is the generation of the TrustPolicy the commit failed under.
	TrustPolicyGeneration int64 `json:"trustPolicyGeneration"`
	// Time is when Writ found the commit revoked.
	Time metav1.Time `json:"time"`
}

// GitSourceStatus reports the last fetch and verification.
type GitSourceStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready (a verified commit is available), SourceVerified (the latest fetched
	// commit verified; False with reason Revoked when the served commit no longer does),
	// Stalled (the configuration cannot work without a change).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastFetchedCommit is the commit the ref resolved to at the last fetch.
	// +optional
	LastFetchedCommit string `json:"lastFetchedCommit,omitempty"`
	// LastVerifiedCommit is the newest commit that verified: what syncs deploy.
	// +optional
	LastVerifiedCommit string `json:"lastVerifiedCommit,omitempty"`
	// LastVerifiedBase is the commit the range that admitted LastVerifiedCommit started after
	// (Range mode; empty for the whole history or range.base), so that the same range can be
	// verified again when the TrustPolicy changes.
	// +optional
	LastVerifiedBase string `json:"lastVerifiedBase,omitempty"`
	// LastVerifiedTag is the signed tag object that admitted LastVerifiedCommit (Tag mode).
	// +optional
	LastVerifiedTag string `json:"lastVerifiedTag,omitempty"`
	// TrustPolicyUID and TrustPolicyGeneration identify the TrustPolicy, as it was, that
	// LastVerifiedCommit was last judged under. When the policy changes, the commit is verified
	// again: the verdict is kept only for one commit under one generation of one policy.
	// +optional
	TrustPolicyUID types.UID `json:"trustPolicyUID,omitempty"`
	// +optional
	TrustPolicyGeneration int64 `json:"trustPolicyGeneration,omitempty"`
	// Revoked is set while LastVerifiedCommit no longer verifies under the TrustPolicy (a key
	// was removed or revoked, an approval withdrawn): the syncs using this source are frozen,
	// applying and healing nothing, until a commit that verifies is served (or the policy
	// accepts this one again).
	// +optional
	Revoked *Revocation `json:"revoked,omitempty"`
	// Signers of LastVerifiedCommit (and its approvers).
	// +optional
	Signers []Signer `json:"signers,omitempty"`
	// Verdict of the last verification, with its reason when rejected.
	// +optional
	Verdict string `json:"verdict,omitempty"`
}

// GitSource is a Git repository Writ fetches and verifies.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gs
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Verified",type=string,JSONPath=`.status.lastVerifiedCommit`
// +kubebuilder:printcolumn:name="Revoked",type=string,JSONPath=`.status.revoked.commit`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GitSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   GitSourceSpec   `json:"spec"`
	Status GitSourceStatus `json:"status,omitempty"`
}

// GitSourceList is a list of GitSource.
// +kubebuilder:object:root=true
type GitSourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GitSource `json:"items"`
}
