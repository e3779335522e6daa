package webhook

import (
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/audit"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
	"writ.dev/writ/witness"
)

// Witness judges the writes of Writ's own agent against what verified commits declare (package
// witness; the feed, witness/feed, implements it over the index it keeps). The guard owns the
// interface; a nil Witness on the Guard means no witness: the agent's writes are decided by the
// policy chain alone, as before issue #14.
type Witness interface {
	// Check judges a write by an identity Witnessed returned true for.
	Check(w witness.Write) witness.Result
	// Witnessed reports whether user is an identity of Writ's own agent whose writes the witness
	// judges: the reconciler's service account (system:serviceaccount:<Writ's
	// namespace>:writ-reconciler, wellknown) and every service account a Sync names in
	// spec.serviceAccountName (system:serviceaccount:<the Sync's namespace>:<name>). Lock-free,
	// allocation-free.
	Witnessed(user string) bool
	// CheckUnsealed judges a write of a core Secret by an identity Unsealer returned true for,
	// against the SealedSecrets verified commits declare (witness.Index.CheckUnsealed).
	CheckUnsealed(w witness.Write) witness.Result
	// Unsealer reports whether user is writ-controller's service account in Writ's namespace
	// (system:serviceaccount:<Writ's namespace>:writ-controller, wellknown), which unseals
	// SealedSecrets into Secrets (unsealed.go). Lock-free, allocation-free.
	Unsealer(user string) bool
}

// DeclaredValuer is implemented by a Witness that can say what Git declares at a denied Result's
// field path (witness.Index.DeclaredValue); the guard then adds it to the denial, except for a
// Secret, whose values it never names. A Witness without it gets denials naming the field only.
type DeclaredValuer interface {
	DeclaredValue(r witness.Result) (value string, ok bool)
}

// unverified ends every witness denial, as witness.Result.Message ends its own.
const unverified = "the agent's identity was used for a change no verified commit declares"

// Reasons of the witness's decisions the guard makes itself, besides witness.Reason's.
const (
	// witnessSubresource: a write of a subresource other than status (a Deployment's scale, a
	// pod's exec): its object is not the object Git declares, so it cannot be compared, and Writ's
	// agent never writes one.
	witnessSubresource witness.Reason = "Subresource"
)

// judge is the witness step of a review (issue #14): for a write by an identity the Witness
// witnesses, other than its bookkeeping (Bookkeeping), and for a Secret the unsealer writes
// (judges, unsealed.go), the Decision the witness makes of a write no verified commit declares,
// in the effective mode: a denial in Enforce, an allowed warning in Warn, both recorded as
// UnverifiedAgentWrite. nil: not judged, allowed by the witness, or Off.
func (g *Guard) judge(r *Request, rr *requestReads, s *Snapshot) *Decision {
	if g.Witness == nil || r == nil || !g.judges(r) {
		return nil
	}
	res := g.check(r)
	if res.Allowed {
		g.Metrics.witnessed(res.Reason, "allowed")
		return nil
	}
	mode := g.witnessMode(res, r, rr, s)
	switch mode {
	case guardv1.WitnessOff:
		g.Metrics.witnessed(res.Reason, "off")
		return nil
	case guardv1.WitnessWarn:
		g.Metrics.witnessed(res.Reason, "warned")
	default:
		g.Metrics.witnessed(res.Reason, "denied")
	}
	d := &Decision{Plugin: "witness", Reason: string(res.Reason), Message: g.witnessMessage(r, res),
		Audit: audit.UnverifiedAgentWrite, Field: res.Path, Commit: res.Commit, WitnessMode: mode}
	if mode == guardv1.WitnessWarn {
		d.Allowed, d.Warn = true, true
	}
	return d
}

// check builds the witness.Write of r and checks it. The object is the one about to be stored
// (PATCH and server-side apply reach admission as UPDATE or CREATE of the whole object); its key
// is the request's group, kind, namespace and name, which for the object itself and its status
// subresource are the object's (a Namespace's own requests carry its name as their namespace:
// the key has none). Any other subresource is denied without a Check: its object is not the
// object Git declares (a Deployment's scale is a Scale, a pod's exec its options), so it cannot
// be compared soundly, and Writ's agent never writes one: CONNECT (exec, attach, port-forward,
// proxy) is denied so too.
func (g *Guard) check(r *Request) witness.Result {
	w := witness.Write{Operation: witness.Operation(r.Operation), RawValidated: true,
		Object: witness.Key{Group: r.Group, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}}
	if r.Group == "" && r.Resource == "namespaces" {
		w.Object.Namespace = ""
	}
	if r.Subresource != "" && r.Subresource != "status" {
		return witness.Result{Reason: witnessSubresource, Operation: w.Operation, Object: w.Object}
	}
	// The tracking label of the object as it is (UPDATE, DELETE) or will be (CREATE): it only
	// lets Check say NotReady, never admits anything.
	m := r.Old
	if w.Operation == witness.Create {
		m = r.New
	}
	if m != nil {
		if ns, name, ok := strings.Cut(m.Labels[wellknown.ManagedLabel], "."); ok {
			w.Sync = types.NamespacedName{Namespace: ns, Name: name}
		}
	}
	if w.Operation != witness.Delete {
		// Decoded by controller-runtime with the apiserver's JSON serializer (sigs.k8s.io/json,
		// encoding/json's fork), which validates the whole AdmissionReview first.
		w.Raw = r.Object
		if w.Operation == witness.Update {
			w.Old = r.OldObject // its managedFields: what the write gains over them must be declared
		}
		// Where meta found the managedFields lists: the witness compares them, not the objects.
		if r.New != nil && r.New.managedFields != nil {
			w.Managed = r.New.managedFields
			if w.Operation == witness.Update && r.Old != nil {
				w.OldManaged = r.Old.managedFields
			}
		}
	}
	if g.unsealerWrite(r) {
		return g.Witness.CheckUnsealed(w)
	}
	return g.Witness.Check(w)
}

// witnessMode is the effective mode of a denied write: the strictest mode set explicitly by the
// Sync whose commit declares the object (a Mismatch, a DeleteDeclared, an UnsealedMismatch or an
// UnaccountedMutator, which the index found declared, names it) and by every GuardPolicy that protects the request; with none set, g.WitnessMode
// (default Enforce). The Sync the object's own writ.dev/managed label names is not asked: the
// label is the writer's to set, and would let a write pick a lenient Sync; so an undeclared
// object, and one whose Sync the witness has no index of yet (NotReady), get the policies' mode
// or the default. Whatever cannot be read is Enforce.
func (g *Guard) witnessMode(res witness.Result, r *Request, rr *requestReads, s *Snapshot) guardv1.WitnessMode {
	mode := guardv1.WitnessMode("")
	if res.Reason == witness.Mismatch || res.Reason == witness.DeleteDeclared || res.Reason == witness.UnsealedMismatch ||
		res.Reason == witness.UnaccountedMutator {
		var sync reconcilev1.Sync
		err := g.Reader.Get(&rr.deadline, client.ObjectKey(res.Sync), &sync, client.UnsafeDisableDeepCopy)
		switch {
		case err == nil:
			mode = stricter(mode, guardv1.WitnessMode(sync.Spec.Witness))
		case client.IgnoreNotFound(err) != nil:
			return guardv1.WitnessEnforce
		}
	}
	var buf [8]*Policy
	for _, p := range s.ordered(r, buf[:0]) {
		if p.Witness == "" {
			continue
		}
		protected, err := p.protects(r, s)
		if err != nil {
			return guardv1.WitnessEnforce
		}
		if protected {
			mode = stricter(mode, p.Witness)
		}
	}
	switch {
	case mode != "":
		return mode
	case g.WitnessMode != "":
		return g.WitnessMode
	}
	return guardv1.WitnessEnforce
}

// stricter returns the stricter of two modes, "" (unset) being the least strict; a mode it does
// not know counts as Enforce.
func stricter(a, b guardv1.WitnessMode) guardv1.WitnessMode {
	rank := func(m guardv1.WitnessMode) int {
		switch m {
		case "":
			return 0
		case guardv1.WitnessOff:
			return 1
		case guardv1.WitnessWarn:
			return 2
		}
		return 3
	}
	if rank(b) > rank(a) {
		if rank(b) == 3 {
			return guardv1.WitnessEnforce
		}
		return b
	}
	return a
}

// witnessMessage is the denial (or warning) the client sees: Result.Message, and the value Git
// declares at the field when the Witness can say it and the object is not a Secret.
func (g *Guard) witnessMessage(r *Request, res witness.Result) string {
	if res.Reason == witnessSubresource {
		return "witness: denied " + string(res.Operation) + " of " + r.Ref() + ": the witness judges only the objects Git declares and their status, " +
			"never another subresource (its object, such as a Deployment's Scale or a pod's exec options, is not what Git declares), " +
			"and Writ's agent writes none: change the object itself in Git; " + unverified
	}
	msg := res.Message()
	if res.Reason != witness.Mismatch || (res.Object.Group == "" && res.Object.Kind == "Secret") {
		return msg
	}
	if dv, ok := g.Witness.(DeclaredValuer); ok {
		if v, ok := dv.DeclaredValue(res); ok {
			msg += " (Git declares " + res.Path + " = " + shortened(v) + ")"
		}
	}
	return msg
}

// maxDeclaredValue bounds the value a denial quotes: a path can name a whole declared subtree (a
// list whose length differs), which the client needs no more than the start of.
const maxDeclaredValue = 256

// shortened is v cut to maxDeclaredValue bytes, at a character boundary, marked with "…".
func shortened(v string) string {
	if len(v) <= maxDeclaredValue {
		return v
	}
	cut := maxDeclaredValue
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "…"
}
