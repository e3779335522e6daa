package webhook

import (
	"fmt"
	"strings"
	"time"

	"writ.dev/writ/audit"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

// Decision is the guard's answer for one request.
type Decision struct {
	Allowed bool
	// Warn is set when a Warn-mode policy would have denied: allowed, with a warning.
	Warn bool
	// Policy and Plugin say who decided; Reason is a short code for metrics and audit.
	Policy, Plugin, Reason string
	// Message is what the client sees.
	Message string
	// BreakGlass is the grant that allowed the request (or the BreakGlassRequest created or
	// approved).
	BreakGlass string
	// Exemption is the exemption that allowed the request.
	Exemption string
	// Audit is the record the decision makes: of an allowed one, BreakGlassUsed,
	// BreakGlassRequested or BreakGlassApproved (empty: none); of a denial or a warning,
	// UnverifiedAgentWrite for the witness's, which replaces MutationDenied or MutationWarned.
	// Denials and warnings are always recorded (auditKind).
	Audit audit.Kind
	// Field and Commit are the witness's: the first field path the write differs in from what
	// Git declares, and the commit it was judged against (empty where there is none).
	Field, Commit string
	// WitnessMode is the witness's effective mode for its decision (Enforce or Warn).
	WitnessMode guardv1.WitnessMode
}

// outcome is the decision as the audit annotations and metrics name it: allowed, denied or
// warned.
func (d *Decision) outcome() string {
	switch {
	case !d.Allowed:
		return "denied"
	case d.Warn:
		return "warned"
	}
	return "allowed"
}

// auditKind is the audit record the decision makes: for a denial or a warning, MutationDenied or
// MutationWarned unless Audit is UnverifiedAgentWrite (never a kind that records an allowed
// change); for an allowed decision, Audit ("" for none).
func (d *Decision) auditKind() audit.Kind {
	switch {
	case d.Audit == audit.UnverifiedAgentWrite:
		if !d.Allowed || d.Warn {
			return d.Audit
		}
		return ""
	case !d.Allowed:
		return audit.MutationDenied
	case d.Warn:
		return audit.MutationWarned
	}
	return d.Audit
}

// plugin decides one aspect of a request under one policy that protects it. decide returns the
// Decision, complete (allowed or denied, its reason, the grant or exemption that allowed it), or
// nil to abstain; an abstaining plugin may say in note why it did not allow, for the denial
// message. An error means the plugin could not look (a read failed): the guard denies. The
// Decision may be shared (one its policy compiled): the chain copies it and never writes to it.
type plugin struct {
	name   string
	decide func(p *Policy, r *Request, s *Snapshot) (d *Decision, note string, err error)
}

// chain is the plugins applied, in order, under each policy that protects a request: the first
// that does not abstain decides for that policy, and a request no plugin decides is denied.
type chain []plugin

// perPolicy is the guard's chain.
var perPolicy = chain{
	{"agent", byAgent},
	{"exemption", byExemption},
	{"breakglass", byBreakGlass},
}

// byAgent allows the policy's GitOps agents.
func byAgent(p *Policy, r *Request, _ *Snapshot) (*Decision, string, error) {
	for _, a := range p.Agents {
		if matches(a, r) {
			return &p.agentAllowed, "", nil
		}
	}
	return nil, "", nil
}

// byExemption allows what one of the policy's exemptions covers, as far as its narrowing
// allows; abstaining, it says why the first exemption that covered the request did not allow.
func byExemption(p *Policy, r *Request, s *Snapshot) (*Decision, string, error) {
	note := ""
	for _, e := range p.exemptions {
		if !e.covers(r) {
			continue
		}
		not, err := e.narrowed(p, r, s)
		if err != nil {
			return nil, "", err
		}
		if not == "" {
			return &e.allowed, "", nil
		}
		if note == "" {
			note = fmt.Sprintf("exemption %q does not cover this: %s", e.Name, not)
		}
	}
	return nil, note, nil
}

// byBreakGlass allows the holder of a live grant whose scope covers the request.
func byBreakGlass(p *Policy, r *Request, s *Snapshot) (*Decision, string, error) {
	for i := range s.Grants {
		// An expired grant is no longer one, but a newer one may be.
		if g := &s.Grants[i]; g.covers(r) && g.liveAt(s.Now) {
			return &Decision{Allowed: true, Policy: p.Name, Plugin: "breakglass", Reason: "BreakGlass", BreakGlass: g.ID, Audit: audit.BreakGlassUsed}, "", nil
		}
	}
	return nil, "", nil
}

// Decide runs the guard's chain for r.
func Decide(r *Request, s *Snapshot) Decision {
	return perPolicy.decide(r, s)
}

// decide runs the chain under every policy that protects r. The first Enforce policy that
// denies decides; else a Warn policy that would have denied warns; else the request is allowed:
// by a break-glass grant if one allowed it under any policy (so that the use is recorded), by the
// first policy that allowed it otherwise, or as unprotected.
func (c chain) decide(r *Request, s *Snapshot) Decision {
	if s.ExemptNamespaces[r.Namespace] || (r.Resource == "namespaces" && r.Group == "" && s.ExemptNamespaces[r.Name]) {
		return Decision{Allowed: true, Plugin: "exempt-namespace", Reason: "ExemptNamespace"}
	}
	var warn, allowed Decision
	var buf [8]*Policy
	for _, p := range s.ordered(r, buf[:0]) {
		protected, err := p.protects(r, s)
		if err != nil {
			return lookupFailed(p, "protect", r, err)
		}
		if !protected {
			continue
		}
		d := c.under(p, r, s)
		switch {
		case d.Allowed:
			if !allowed.Allowed || d.BreakGlass != "" {
				allowed = d
			}
		case p.Mode == guardv1.Warn:
			if !warn.Warn {
				warn = d
				warn.Allowed, warn.Warn = true, true
			}
		default:
			return d
		}
	}
	switch {
	case warn.Warn:
		return warn
	case allowed.Allowed:
		return allowed
	}
	return Decision{Allowed: true, Plugin: "unprotected", Reason: "Unprotected"}
}

// under is the decision for r under p: the first plugin that does not abstain decides, and if
// all abstain the request is denied with the first note any of them gave.
func (c chain) under(p *Policy, r *Request, s *Snapshot) Decision {
	note := ""
	for _, pl := range c {
		d, why, err := pl.decide(p, r, s)
		if err != nil {
			return lookupFailed(p, pl.name, r, err)
		}
		if d != nil {
			return *d
		}
		if note == "" {
			note = why
		}
	}
	return Decision{Policy: p.Name, Plugin: "guard", Reason: "NotAgent", Message: denialMessage(p, r, s, note)}
}

// lookupFailed is the denial when the guard could not read what it decides on.
func lookupFailed(p *Policy, plugin string, r *Request, err error) Decision {
	return Decision{Policy: p.Name, Plugin: plugin, Reason: "LookupFailed",
		Message: fmt.Sprintf("writ cannot decide on %s (%v); the guard fails closed: retry, or ask an administrator", r.Ref(), err)}
}

// denialMessage tells a person who they are, what was denied, which policy, where the source of
// truth lives and how to get emergency access.
func denialMessage(p *Policy, r *Request, s *Snapshot, note string) string {
	var b strings.Builder
	b.Grow(512) // the message with a source and break-glass instructions, in one allocation
	fmt.Fprintf(&b, "writ: %s of %s by %q denied by GuardPolicy %q: only the GitOps agent may change it", strings.ToLower(r.Operation), r.Ref(), r.User, p.Name)
	if note != "" {
		fmt.Fprintf(&b, " (%s)", note)
	}
	b.WriteByte('.')
	src := p.SourceOfTruth
	for _, m := range []*ObjectMeta{r.Old, r.New} {
		if m != nil && m.Annotations[wellknown.SourceAnnotation] != "" {
			src = m.Annotations[wellknown.SourceAnnotation]
		}
	}
	if src != "" {
		fmt.Fprintf(&b, " Change it in Git: %s.", src)
	} else {
		b.WriteString(" Change it in Git.")
	}
	for i := range s.Grants {
		if g := &s.Grants[i]; g.covers(r) && !g.liveAt(s.Now) {
			fmt.Fprintf(&b, " Your break-glass request %q expired at %s.", g.ID, g.Expires.UTC().Format(time.RFC3339))
		}
	}
	if len(p.breakGlass.RequesterGroups) > 0 {
		fmt.Fprintf(&b, " In an emergency, a member of %s can create a BreakGlassRequest (kubectl create -f request.yaml) for a member of %s to approve.",
			strings.Join(p.breakGlass.RequesterGroups, " or "), strings.Join(p.breakGlass.ApproverGroups, " or "))
	}
	return b.String()
}
