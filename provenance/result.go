package provenance

import (
	"encoding/json"
	"errors"
	"time"

	"writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/provenance/signature"
)

// Verdict is the outcome for one object.
type Verdict string

const (
	Verified Verdict = "verified"
	Rejected Verdict = "rejected"
)

// Result is the outcome for one commit or tag. It marshals to JSON as evidence: the object, who
// signed it (method, key fingerprint or certificate identity and issuer, signing time, log
// index), the approvals it carries, and the verdict with its reason.
type Result struct {
	Commit      string    `json:"commit"`
	Type        string    `json:"type"` // commit or tag
	Subject     string    `json:"subject,omitempty"`
	Committer   string    `json:"committer,omitempty"`
	CommittedAt time.Time `json:"committedAt,omitzero"`
	signature.Signer
	Approvals  []signature.Signer `json:"approvals,omitempty"`
	Verdict    Verdict            `json:"verdict"`
	ReasonCode string             `json:"reasonCode,omitempty"`
	Reason     string             `json:"reason,omitempty"`

	err      error
	approved bool // approval rules already applied
}

// Err returns why the object was rejected (wrapping a sentinel), or nil.
func (r Result) Err() error { return r.err }

// MarshalJSON writes the result with its signer and approvers also named in the one signer form
// (signature.Signer.ID) that status, audit records and evidence reports use: "signer" and
// "approvers" beside the signer's fields. An unsigned object has no "signer".
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result // no methods: marshals field by field
	out := struct {
		plain
		SignerID    string   `json:"signer,omitempty"`
		ApproverIDs []string `json:"approvers,omitempty"`
	}{plain: plain(r)}
	if r.Method != "" {
		out.SignerID = r.Signer.ID()
	}
	for _, a := range r.Approvals {
		out.ApproverIDs = append(out.ApproverIDs, a.ID())
	}
	return json.Marshal(out)
}

func rejected(r Result, err error) Result {
	r.Verdict, r.err, r.Reason, r.ReasonCode = Rejected, err, err.Error(), ReasonCode(err)
	return r
}

// Report is the outcome of one Verify call.
type Report struct {
	Mode v1alpha1.VerificationMode `json:"mode"`
	// TargetRef is the revision asked for, Target the commit it resolved to, Base the commit
	// verification started after (Range mode).
	TargetRef string   `json:"targetRef"`
	Target    string   `json:"target"`
	Base      string   `json:"base,omitempty"`
	Tag       *Result  `json:"tag,omitempty"`
	Commits   []Result `json:"commits"`
	// Rollback is set when the target does not descend from the last verified commit.
	Rollback error `json:"-"`
}

// Verified reports whether everything in scope verified.
func (r *Report) Verified() bool { return r.Err() == nil }

// Err joins every failure in the report, or returns nil when all verified.
func (r *Report) Err() error {
	var errs []error
	if r.Rollback != nil {
		errs = append(errs, r.Rollback)
	}
	if r.Tag != nil && r.Tag.err != nil {
		errs = append(errs, r.Tag.err)
	}
	for _, c := range r.Commits {
		if c.err != nil {
			errs = append(errs, c.err)
		}
	}
	return errors.Join(errs...)
}

// Failures returns the rejected objects.
func (r *Report) Failures() []Result {
	var out []Result
	if r.Tag != nil && r.Tag.Verdict == Rejected {
		out = append(out, *r.Tag)
	}
	for _, c := range r.Commits {
		if c.Verdict == Rejected {
			out = append(out, c)
		}
	}
	return out
}

// Problem is a failure of the report as a whole rather than of one object (a rollback), as it
// appears in JSON.
type Problem struct {
	ReasonCode string `json:"reasonCode"`
	Reason     string `json:"reason"`
}

// MarshalJSON writes the report with its overall verdict first, and the rollback failure, which
// belongs to no single commit: every commit of an older target may verify while the report does
// not.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report // no methods: marshals field by field
	out := struct {
		Verdict Verdict `json:"verdict"`
		*plain
		Rollback *Problem `json:"rollback,omitempty"`
	}{Verdict: Verified, plain: (*plain)(r)}
	if !r.Verified() {
		out.Verdict = Rejected
	}
	if r.Rollback != nil {
		out.Rollback = &Problem{ReasonCode: ReasonCode(r.Rollback), Reason: r.Rollback.Error()}
	}
	return json.Marshal(out)
}
