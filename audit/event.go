package audit

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind says what an Event records.
type Kind string

// The kinds of record. Their string values are stable: they are stored and exported.
const (
	MutationDenied      Kind = "MutationDenied"
	MutationWarned      Kind = "MutationWarned"
	BreakGlassRequested Kind = "BreakGlassRequested"
	BreakGlassApproved  Kind = "BreakGlassApproved"
	BreakGlassUsed      Kind = "BreakGlassUsed"
	BreakGlassExpired   Kind = "BreakGlassExpired"
	DriftDetected       Kind = "DriftDetected"
	DriftHealed         Kind = "DriftHealed"
	CommitVerified      Kind = "CommitVerified"
	CommitRejected      Kind = "CommitRejected"
	// CommitRevoked: a commit already served no longer verifies under its TrustPolicy (a key
	// was removed or revoked); the syncs using it stop applying and healing.
	CommitRevoked     Kind = "CommitRevoked"
	SyncApplied       Kind = "SyncApplied"
	SealingKeyCreated Kind = "SealingKeyCreated"
	SealingKeyRotated Kind = "SealingKeyRotated"
	PolicyChanged     Kind = "PolicyChanged"
	// UnverifiedAgentWrite: the identity of Writ's own agent was used for a write no verified
	// commit declares (the witness). Reason is the witness's reason code (Mismatch, Undeclared,
	// DeleteDeclared, NotReady, Malformed, Subresource); Policy the effective witness mode, Enforce
	// (denied) or Warn (allowed with a warning); Fields the first differing field path; Commit the
	// commit the write was judged against. One record per write: never aggregated.
	UnverifiedAgentWrite Kind = "UnverifiedAgentWrite"
	// MutationAllowed: the guard admitted a write of an object a Sync tracks (labelled
	// writ.dev/managed) by an identity other than the agent, under an exemption (a system
	// controller). It records who wrote which resourceVersion, never the object's contents, so a
	// drift record can name the person behind it (see Event.SinceResourceVersion). Break-glass
	// writes are BreakGlassUsed and Warn-mode writes MutationWarned, which carry the same fields.
	MutationAllowed Kind = "MutationAllowed"
)

// Criterion is a SOC 2 trust services criterion a record is evidence for.
type Criterion string

// The SOC 2 criteria Writ's records evidence.
const (
	CC6_1 Criterion = "CC6.1" // logical access: only the GitOps agent may change protected resources
	CC7_2 Criterion = "CC7.2" // monitoring: anomalies (drift, denied attempts) are detected
	CC8_1 Criterion = "CC8.1" // change management: changes are authorised, tested and approved
)

// kindCriteria maps each kind to the criteria it evidences. It is also the list of known kinds.
var kindCriteria = map[Kind][]Criterion{
	MutationDenied:       {CC6_1, CC7_2},
	MutationWarned:       {CC6_1, CC7_2},
	BreakGlassRequested:  {CC6_1, CC8_1},
	BreakGlassApproved:   {CC6_1, CC8_1},
	BreakGlassUsed:       {CC6_1, CC7_2, CC8_1},
	BreakGlassExpired:    {CC6_1},
	DriftDetected:        {CC7_2},
	DriftHealed:          {CC7_2, CC8_1},
	CommitVerified:       {CC8_1},
	CommitRejected:       {CC8_1, CC7_2},
	CommitRevoked:        {CC8_1, CC7_2},
	SyncApplied:          {CC8_1},
	SealingKeyCreated:    {CC6_1},
	SealingKeyRotated:    {CC6_1},
	PolicyChanged:        {CC6_1, CC8_1},
	UnverifiedAgentWrite: {CC6_1, CC7_2, CC8_1},
	MutationAllowed:      {CC6_1, CC7_2},
}

// Kinds returns every known kind.
func Kinds() []Kind {
	out := make([]Kind, 0, len(kindCriteria))
	for k := range kindCriteria {
		out = append(out, k)
	}
	return out
}

// Criteria returns the SOC 2 criteria a kind of record evidences, or nil for an unknown kind.
func (k Kind) Criteria() []Criterion { return append([]Criterion(nil), kindCriteria[k]...) }

// Known reports whether k is one of the defined kinds.
func (k Kind) Known() bool { _, ok := kindCriteria[k]; return ok }

// Actor is who did (or tried) something.
type Actor struct {
	User   string   `json:"user,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// ServiceAccount is namespace/name when User is a service account.
	ServiceAccount string `json:"serviceAccount,omitempty"`
}

// ObjectRef names a Kubernetes object.
type ObjectRef struct {
	Group       string `json:"group,omitempty"`
	Version     string `json:"version,omitempty"`
	Kind        string `json:"kind,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name,omitempty"`
	Subresource string `json:"subresource,omitempty"`
	// UID is the object's metadata.uid, where the recorder knows it: it tells a recreated object
	// of the same name from the one before it.
	UID string `json:"uid,omitempty"`
}

func (o ObjectRef) String() string {
	gk := o.Kind
	if o.Group != "" {
		gk += "." + o.Group
	}
	name := o.Name
	if o.Namespace != "" {
		name = o.Namespace + "/" + name
	}
	s := gk + " " + name
	if o.Subresource != "" {
		s += " (" + o.Subresource + ")"
	}
	return s
}

// Event is one audit record.
type Event struct {
	// Seq is the record's position in the store, from 1; set by the store.
	Seq  uint64    `json:"seq,omitempty"`
	Time time.Time `json:"time"`
	Kind Kind      `json:"kind"`

	Actor Actor `json:"actor,omitzero"`
	// Submitter is who handed the record to the audit trail: the identity the apiserver
	// authenticated when the AuditEvent carrying it was created (stamped by the apiserver, never
	// taken from the record's own fields), one of Writ's own service accounts. Actor is who did
	// what the record describes, as the submitter reports it. Empty on records stored before
	// Writ stamped submitters.
	Submitter Actor     `json:"submitter,omitzero"`
	Object    ObjectRef `json:"object,omitzero"`
	Operation string    `json:"operation,omitempty"` // CREATE, UPDATE, DELETE, CONNECT, apply, prune…

	// Commit is the Git commit the record concerns, with the repository it came from.
	Commit     string `json:"commit,omitempty"`
	Repository string `json:"repository,omitempty"`
	// Signers and Approvers identify who signed and approved Commit (key fingerprint or
	// certificate identity).
	Signers   []string `json:"signers,omitempty"`
	Approvers []string `json:"approvers,omitempty"`

	// Policy names the policy that made the decision; Reason says why, in words.
	Policy string `json:"policy,omitempty"`
	Reason string `json:"reason,omitempty"`
	// BreakGlass is the id of the break-glass request the record belongs to.
	BreakGlass string `json:"breakGlass,omitempty"`
	// Manager is the field manager a write was made under (an admission record: the request's
	// fieldManager; a drift record: the manager that owns the drifted fields, newest first). Any
	// client sets it to any string it likes, so it never says who: Actor does.
	Manager string `json:"manager,omitempty"`
	// ResourceVersion is, on the guard's record of a write (MutationAllowed, MutationWarned,
	// BreakGlassUsed), the resourceVersion of the stored object the write was made on (the
	// AdmissionReview's oldObject; empty for a CREATE); on a drift record, the live object's where
	// the drift was seen.
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// SinceResourceVersion is, on a drift record, the last resourceVersion of the object the
	// reconciler saw in step with Git (usually its own write's): the write that caused the drift
	// was made on it, so the guard's record of that write (same Object.UID, ResourceVersion equal
	// to this) names who made it. Empty when the reconciler does not know it.
	SinceResourceVersion string `json:"sinceResourceVersion,omitempty"`
	// Fields are the field paths concerned (drift, a denied patch); never their values.
	Fields []string `json:"fields,omitempty"`
	// Digests maps a field path to a digest of its value where a value must be evidenced.
	Digests map[string]string `json:"digests,omitempty"`
	// Objects summarises a sync: counts of created, configured, pruned objects.
	Objects map[string]int `json:"objects,omitempty"`
	// Count is how many identical events this record aggregates (a retried denial); 0 means 1.
	Count int `json:"count,omitempty"`

	Criteria []Criterion `json:"criteria,omitempty"`

	// Hash chain, set by the store: PrevHash is the previous record's Hash; Hash covers this
	// record's canonical encoding including PrevHash.
	PrevHash string `json:"prevHash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// ErrInvalidEvent is wrapped by every error Validate returns.
var ErrInvalidEvent = errors.New("invalid audit event")

// secretMarkers are substrings that must never reach a record: PEM blocks and token prefixes.
var secretMarkers = []string{"-----BEGIN", "PRIVATE KEY", "eyJhbGciOi"}

// Validate checks that an event can be stored: a known kind, a time, and no secret material in its
// free-text fields.
func (e *Event) Validate() error {
	if !e.Kind.Known() {
		return fmt.Errorf("%w: unknown kind %q", ErrInvalidEvent, e.Kind)
	}
	if e.Time.IsZero() {
		return fmt.Errorf("%w: %s has no time", ErrInvalidEvent, e.Kind)
	}
	if e.Count < 0 {
		return fmt.Errorf("%w: negative count %d", ErrInvalidEvent, e.Count)
	}
	texts := append([]string{e.Reason, e.Operation, e.Policy, e.Commit}, e.Fields...)
	for _, s := range texts {
		for _, m := range secretMarkers {
			if strings.Contains(s, m) {
				return fmt.Errorf("%w: %s carries what looks like secret material; record field paths and digests, not values", ErrInvalidEvent, e.Kind)
			}
		}
	}
	return nil
}

// WithDefaults returns a copy of e with Criteria filled from its kind when empty, and Time set to
// now when zero.
func (e Event) WithDefaults(now func() time.Time) Event {
	if e.Time.IsZero() {
		e.Time = now().UTC()
	}
	if len(e.Criteria) == 0 {
		e.Criteria = e.Kind.Criteria()
	}
	return e
}
