package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VerificationMode says which commits a policy checks.
// +kubebuilder:validation:Enum=Head;Range;Tag
type VerificationMode string

const (
	// ModeHead verifies the target commit only.
	ModeHead VerificationMode = "Head"
	// ModeRange verifies every commit from the last verified one (or Range.Base) to the target,
	// following every parent of merges.
	ModeRange VerificationMode = "Range"
	// ModeTag verifies a signed annotated tag and the commit it points at.
	ModeTag VerificationMode = "Tag"
)

// TrustPolicySpec says whose signatures Writ accepts on which commits.
// +kubebuilder:validation:XValidation:rule="has(self.openpgp) || has(self.ssh) || has(self.keyless)",message="trust at least one signature format: set openpgp, ssh or keyless"
type TrustPolicySpec struct {
	// Mode selects the commits to verify: Head, Range (default) or Tag.
	// +kubebuilder:default=Range
	// +optional
	Mode VerificationMode `json:"mode,omitempty"`

	// Range tunes Range mode.
	// +optional
	Range *RangeOptions `json:"range,omitempty"`

	// Tag tunes Tag mode.
	// +optional
	Tag *TagOptions `json:"tag,omitempty"`

	// OpenPGP trusts OpenPGP (gpg) signatures made by the given keys.
	// +optional
	OpenPGP *OpenPGPTrust `json:"openpgp,omitempty"`

	// SSH trusts SSH signatures (git's gpg.format=ssh) made by the given allowed signers.
	// +optional
	SSH *SSHTrust `json:"ssh,omitempty"`

	// Keyless trusts Sigstore keyless (gitsign) signatures by the given identities.
	// +optional
	Keyless *KeylessTrust `json:"keyless,omitempty"`

	// Approvals are two-person rules: commits touching the given paths need signatures from
	// several distinct principals (people), not merely several keys.
	// +optional
	// +listType=map
	// +listMapKey=name
	Approvals []ApprovalRule `json:"approvals,omitempty"`

	// Principals group trusted keys by the person (or robot) holding them, for approvals: the
	// signatures of one principal's keys count as one approver. A key listed nowhere belongs to
	// the principal its own identity names (the allowed_signers principal, the OpenPGP user id's
	// e-mail address, the keyless certificate's subject), and keys whose identities share an
	// e-mail address are one principal too. Grouping only ever merges: no entry here can make
	// one key count as two approvers.
	// +optional
	// +listType=map
	// +listMapKey=name
	Principals []Principal `json:"principals,omitempty"`

	// Rollback controls whether a new target may fail to descend from the last verified target.
	// +optional
	Rollback RollbackOptions `json:"rollback,omitempty"`

	// Revocations mark keys or identities as revoked from a date: commits they signed after it fail.
	// +optional
	Revocations []Revocation `json:"revocations,omitempty"`
}

// RangeOptions tunes Range mode.
type RangeOptions struct {
	// Base is the commit (or ref) the first verification starts after, when nothing has been
	// verified yet. Empty means the whole history down to the root commits.
	// +optional
	Base string `json:"base,omitempty"`
}

// TagOptions tunes Tag mode.
type TagOptions struct {
	// Pattern is a glob over tag names (without refs/tags/) that may be deployed, e.g. "v*".
	// +optional
	Pattern string `json:"pattern,omitempty"`
}

// OpenPGPTrust lists trusted OpenPGP public keys.
type OpenPGPTrust struct {
	// Keys are ASCII-armored public keys. Each entry may hold several armored blocks.
	// +kubebuilder:validation:MinItems=1
	Keys []string `json:"keys"`
}

// SSHTrust lists trusted SSH signers.
type SSHTrust struct {
	// AllowedSigners is a file in git's gpg.ssh.allowedSignersFile format: principals, options
	// (namespaces="git", valid-after, valid-before, cert-authority) and a public key per line.
	// +kubebuilder:validation:MinLength=1
	AllowedSigners string `json:"allowedSigners"`
}

// KeylessTrust trusts Sigstore certificates issued to given identities.
type KeylessTrust struct {
	// Identities are the certificate identities accepted; a signature must match one.
	// +kubebuilder:validation:MinItems=1
	Identities []KeylessIdentity `json:"identities"`

	// TrustedRoot is a Sigstore trusted_root.json. Empty means the Sigstore public-good root
	// shipped with Writ.
	// +optional
	TrustedRoot string `json:"trustedRoot,omitempty"`

	// TransparencyLog says how the Rekor entry of each signature is checked.
	// +optional
	TransparencyLog TransparencyLogOptions `json:"transparencyLog,omitempty"`

	// RequireSCT requires a signed certificate timestamp in the leaf certificate. Private
	// Sigstores without a CT log set it to false.
	// +kubebuilder:default=true
	// +optional
	RequireSCT *bool `json:"requireSCT,omitempty"`
}

// KeylessIdentity matches a certificate's issuer and subject (SAN), as cosign and gitsign name
// them. Exactly one of issuer/issuerRegExp and one of subject/subjectRegExp must be set.
// +kubebuilder:validation:XValidation:rule="has(self.issuer) != has(self.issuerRegExp)",message="set exactly one of issuer and issuerRegExp"
// +kubebuilder:validation:XValidation:rule="has(self.subject) != has(self.subjectRegExp)",message="set exactly one of subject and subjectRegExp"
type KeylessIdentity struct {
	// +optional
	Issuer string `json:"issuer,omitempty"`
	// +optional
	IssuerRegExp string `json:"issuerRegExp,omitempty"`
	// +optional
	Subject string `json:"subject,omitempty"`
	// +optional
	SubjectRegExp string `json:"subjectRegExp,omitempty"`
}

// TransparencyLogOptions says how signatures' transparency-log entries are checked.
type TransparencyLogOptions struct {
	// Required requires a verified Rekor entry (inclusion proof or signed entry timestamp) for
	// every keyless signature. Default true.
	// +kubebuilder:default=true
	// +optional
	Required *bool `json:"required,omitempty"`
	// Online lets Writ look up entries that are not embedded in the signature in Rekor, as
	// gitsign does. Off by default: verification is then fully offline.
	// +optional
	Online bool `json:"online,omitempty"`
	// URL is the Rekor server for online look-ups. Default the public-good instance.
	// +optional
	URL string `json:"url,omitempty"`
	// InsecureSkipVerificationUnsafe turns every transparency-log check off. Signing times then
	// come from the commit itself, which the signer controls. Never set it in production.
	// +optional
	InsecureSkipVerificationUnsafe bool `json:"insecureSkipVerificationUnsafe,omitempty"`
}

// Principal names the keys one person (or robot) holds.
type Principal struct {
	// Name of the principal, e.g. alice@example.com; it names the approver in results. A name
	// that is an e-mail address also ties to keys whose identity is that address.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Fingerprints of the principal's OpenPGP (hex) and SSH (SHA256:...) keys.
	// +kubebuilder:validation:MinItems=1
	Fingerprints []string `json:"fingerprints"`
}

// ApprovalRule is a two-person rule.
type ApprovalRule struct {
	// Name identifies the rule in results and messages.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Paths are globs (gitignore-like: "clusters/prod/**") of files whose change needs approval.
	// +kubebuilder:validation:MinItems=1
	Paths []string `json:"paths"`
	// MinSigners is how many distinct principals a matching commit needs: its own signer plus
	// the signers of approval tags pointing at it, two keys of one principal counting once.
	// +kubebuilder:validation:Minimum=2
	MinSigners int `json:"minSigners"`
	// TagPattern is a glob over the names of annotated tags that carry approvals. The name is
	// the one the tag object itself carries (and signs), and the tag must be reached through a
	// ref of that name: a signed tag served under another name approves nothing.
	// +kubebuilder:default="approve/*"
	// +optional
	TagPattern string `json:"tagPattern,omitempty"`
}

// RollbackOptions controls rollback protection.
type RollbackOptions struct {
	// Allow lets a new target that does not descend from the last verified one be applied.
	// +optional
	Allow bool `json:"allow,omitempty"`
}

// Revocation revokes a key or a keyless identity from a point in time.
// +kubebuilder:validation:XValidation:rule="has(self.fingerprint) != has(self.identity)",message="set exactly one of fingerprint and identity"
type Revocation struct {
	// Fingerprint of an OpenPGP key (hex) or SSH key (SHA256:...).
	// +optional
	Fingerprint string `json:"fingerprint,omitempty"`
	// Identity of a keyless signer.
	// +optional
	Identity *KeylessIdentity `json:"identity,omitempty"`
	// From is when the revocation takes effect: signatures made at or after it fail.
	From metav1.Time `json:"from"`
	// Reason is recorded in verification results.
	// +optional
	Reason string `json:"reason,omitempty"`
}

// TrustPolicyStatus reports whether the policy compiled.
type TrustPolicyStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready is true when the policy compiled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// TrustPolicy says whose signatures Writ accepts on which commits.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=tp
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TrustPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TrustPolicySpec   `json:"spec"`
	Status TrustPolicyStatus `json:"status,omitempty"`
}

// TrustPolicyList is a list of TrustPolicy.
// +kubebuilder:object:root=true
type TrustPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TrustPolicy `json:"items"`
}
