package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"writ.dev/writ/wellknown"
	"writ.dev/writ/witness"
)

// The mutating admission objects the witness accounts for. Kubernetes never sends admission
// configuration to a webhook, so the guard cannot judge the agent's writes of them; and what a
// mutating webhook or admission policy adds to a write is owned by no field manager, so the
// managedFields rule lets it through (on purpose: a sidecar injector Git trusts). Whoever can act
// as the agent could therefore create a mutator no commit declares and have it add a container to
// the agent's next writes. The witness closes that by watching every mutating admission object:
// while one exists that it cannot account for, it admits no write of the agent's at all.
//
// Accounted for: what a verified commit the index holds declares, as it is stored
// (witness.Index.CheckStored: every declared value, and every field any manager owns declared,
// except the CA bundles an injector writes); or named in Options.TrustedMutators (a mutator that
// Git does not manage, such as a cloud provider's; trusted whatever it holds); or one that can
// match only Writ's own BreakGlassRequests and AuditEvents (every rule names group writ.dev and
// one of those resources, no wildcard), which the witness never judges the agent's writes of as
// anything but bookkeeping: Writ's own writ-breakglass stamp and audit submitter policy; or a
// binding of a trusted or such a MutatingAdmissionPolicy (a binding only narrows what its policy
// matches).

// admissionGroup is the group of the mutating admission kinds.
const admissionGroup = admissionregistrationv1.GroupName

// mutatorKinds are the kinds watched, MutatingAdmissionPolicies only where the apiserver serves
// them.
var (
	webhookKind = schema.GroupVersionKind{Group: admissionGroup, Version: "v1", Kind: "MutatingWebhookConfiguration"}
	policyKind  = schema.GroupVersionKind{Group: admissionGroup, Version: "v1", Kind: "MutatingAdmissionPolicy"}
	bindingKind = schema.GroupVersionKind{Group: admissionGroup, Version: "v1", Kind: "MutatingAdmissionPolicyBinding"}
)

// ParseTrustedMutator reads a trusted mutator's name, "MutatingWebhookConfiguration/NAME" or
// "MutatingAdmissionPolicy/NAME" (its bindings are trusted with it).
func ParseTrustedMutator(s string) (witness.Key, error) {
	kind, name, ok := strings.Cut(s, "/")
	if !ok || name == "" || strings.Contains(name, "/") || (kind != webhookKind.Kind && kind != policyKind.Kind) {
		return witness.Key{}, fmt.Errorf("trusted mutator %q: give MutatingWebhookConfiguration/NAME or MutatingAdmissionPolicy/NAME", s)
	}
	return witness.Key{Group: admissionGroup, Kind: kind, Name: name}, nil
}

// unaccounted is a mutator the witness cannot account for, and why.
type unaccounted struct {
	key  witness.Key
	why  string
	sync types.NamespacedName // the Sync its writ.dev/managed label names, if any: a catch-up may account for it
}

// verdict is the list of unaccounted mutators for one state of the watched objects and the index.
type verdict struct {
	seen, index uint64
	list        []unaccounted
}

// stored is one watched object: its JSON as stored, and what it names.
type stored struct {
	raw      []byte
	sync     types.NamespacedName
	policy   string // a binding's spec.policyName
	writOnly bool   // its rules match Writ's BreakGlassRequests and AuditEvents alone
}

// mutators keeps the cluster's mutating admission objects (from the manager's cache) and says
// which of them the index does not account for.
type mutators struct {
	index   *witness.Index
	trusted map[witness.Key]bool
	metrics *Metrics

	client  client.Reader
	cache   cache.Cache
	kinds   []schema.GroupVersionKind // the kinds the apiserver serves
	mu      sync.Mutex                // serialises rebuilds and recomputations
	objects map[witness.Key]stored    // replaced whole by each rebuild
	seen    atomic.Uint64             // counts the rebuilds
	synced  atomic.Bool               // the first rebuild from a synced cache is done
	verdict atomic.Pointer[verdict]
}

func newMutators(index *witness.Index, trusted []witness.Key, m *Metrics) *mutators {
	t := make(map[witness.Key]bool, len(trusted))
	for _, k := range trusted {
		t[k] = true
	}
	return &mutators{index: index, trusted: t, metrics: m}
}

// setup registers a controller that rebuilds the set on every event of a watched kind, and the
// set itself as a runnable that builds it once the cache has synced.
func (m *mutators) setup(mgr ctrl.Manager) error {
	m.client, m.cache = mgr.GetClient(), mgr.GetCache()
	m.kinds = []schema.GroupVersionKind{webhookKind}
	for _, gvk := range []schema.GroupVersionKind{policyKind, bindingKind} {
		if _, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			if meta.IsNoMatchError(err) {
				mgr.GetLogger().Info("the apiserver serves no "+gvk.Kind+"s: the witness watches none", "apiVersion", gvk.GroupVersion().String())
				continue
			}
			return fmt.Errorf("asking the apiserver whether it serves %ss: %w", gvk.Kind, err)
		}
		m.kinds = append(m.kinds, gvk)
	}
	if err := mgr.Add(m); err != nil {
		return err
	}
	no := false
	enqueue := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []ctrlreconcile.Request {
		return []ctrlreconcile.Request{rebuild}
	})
	b := ctrl.NewControllerManagedBy(mgr).Named("witness-mutators").
		WithOptions(controller.Options{MaxConcurrentReconciles: 1, NeedLeaderElection: &no})
	for _, gvk := range m.kinds {
		obj, err := mgr.GetScheme().New(gvk)
		if err != nil {
			return fmt.Errorf("the scheme has no %s: %w", gvk.Kind, err)
		}
		// Every event, metadata too: a label may name the Sync that declares it.
		b = b.Watches(obj.(client.Object), enqueue)
	}
	return b.Complete(m)
}

// Start builds the set once the cache holds every watched object (with none, no event would
// ever build it), and returns.
func (m *mutators) Start(ctx context.Context) error {
	for _, gvk := range m.kinds {
		if _, err := m.cache.GetInformerForKind(ctx, gvk); err != nil { // waits until synced
			return fmt.Errorf("watching %ss for the witness: %w", gvk.Kind, err)
		}
	}
	buildOnce(ctx, m)
	return nil
}

// NeedLeaderElection is false: every webhook replica judges reviews.
func (m *mutators) NeedLeaderElection() bool { return false }

// Reconcile lists every watched object from the cache and swaps in the set.
func (m *mutators) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	objects := map[witness.Key]stored{}
	var webhooks admissionregistrationv1.MutatingWebhookConfigurationList
	if err := m.client.List(ctx, &webhooks); err != nil {
		return ctrl.Result{}, err
	}
	for i := range webhooks.Items {
		w := &webhooks.Items[i]
		only := true
		for _, h := range w.Webhooks {
			only = only && writOnly(h.Rules)
		}
		if err := add(objects, webhookKind, w, "", only); err != nil {
			return ctrl.Result{}, err
		}
	}
	if slices.Contains(m.kinds, policyKind) {
		var policies admissionregistrationv1.MutatingAdmissionPolicyList
		if err := m.client.List(ctx, &policies); err != nil {
			return ctrl.Result{}, err
		}
		for i := range policies.Items {
			p := &policies.Items[i]
			only := p.Spec.MatchConstraints != nil && len(p.Spec.MatchConstraints.ResourceRules) > 0
			if only {
				rules := make([]admissionregistrationv1.RuleWithOperations, len(p.Spec.MatchConstraints.ResourceRules))
				for j, r := range p.Spec.MatchConstraints.ResourceRules {
					rules[j] = r.RuleWithOperations
				}
				only = writOnly(rules)
			}
			if err := add(objects, policyKind, p, "", only); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	if slices.Contains(m.kinds, bindingKind) {
		var bindings admissionregistrationv1.MutatingAdmissionPolicyBindingList
		if err := m.client.List(ctx, &bindings); err != nil {
			return ctrl.Result{}, err
		}
		for i := range bindings.Items {
			if err := add(objects, bindingKind, &bindings.Items[i], bindings.Items[i].Spec.PolicyName, false); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	m.mu.Lock()
	m.objects = objects
	m.seen.Add(1)
	m.mu.Unlock()
	m.synced.Store(true)
	m.current() // the metric follows the cluster, not only the agent's writes
	return ctrl.Result{}, nil
}

// add puts obj, of kind gvk, into objects as JSON, with its kind set (the cache leaves it empty,
// and the manifest it is compared with declares it).
func add(objects map[witness.Key]stored, gvk schema.GroupVersionKind, obj client.Object, policy string, only bool) error {
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	raw, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encoding %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	s := stored{raw: raw, policy: policy, writOnly: only}
	if ns, name, ok := strings.Cut(obj.GetLabels()[wellknown.ManagedLabel], "."); ok {
		s.sync = types.NamespacedName{Namespace: ns, Name: name}
	}
	objects[witness.Key{Group: admissionGroup, Kind: gvk.Kind, Name: obj.GetName()}] = s
	return nil
}

// writOnlyResources are the resources of group writ.dev a mutator may match and still need no
// accounting for.
var writOnlyResources = []string{"breakglassrequests", "auditevents"}

// writOnly reports whether rules, none of them empty, match only writOnlyResources of writ.dev.
func writOnly(rules []admissionregistrationv1.RuleWithOperations) bool {
	if len(rules) == 0 {
		return false
	}
	for _, r := range rules {
		if len(r.APIGroups) == 0 || len(r.Resources) == 0 {
			return false
		}
		for _, g := range r.APIGroups {
			if g != "writ.dev" {
				return false
			}
		}
		for _, res := range r.Resources {
			if !slices.Contains(writOnlyResources, res) {
				return false
			}
		}
	}
	return true
}

// current returns the unaccounted mutators, sorted by key, recomputed when the watched objects or
// the index changed since they last were. Until the set has been built from a synced cache, the
// answer is one entry that says so: the witness cannot know what mutates the agent's writes.
func (m *mutators) current() []unaccounted {
	if !m.synced.Load() {
		return notListed
	}
	seen, index := m.seen.Load(), m.index.Version()
	if v := m.verdict.Load(); v != nil && v.seen == seen && v.index == index {
		return v.list
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seen, index = m.seen.Load(), m.index.Version() // as of the objects and index read below
	if v := m.verdict.Load(); v != nil && v.seen == seen && v.index == index {
		return v.list
	}
	var list []unaccounted
	for k, s := range m.objects {
		if m.trusted[k] || s.writOnly {
			continue
		}
		if k.Kind == bindingKind.Kind {
			p := witness.Key{Group: admissionGroup, Kind: policyKind.Kind, Name: s.policy}
			if m.trusted[p] || m.objects[p].writOnly {
				continue
			}
		}
		r := m.index.CheckStored(k, s.raw)
		if r.Allowed {
			continue
		}
		list = append(list, unaccounted{key: k, why: accountWhy(r), sync: s.sync})
	}
	slices.SortFunc(list, func(a, b unaccounted) int { return strings.Compare(a.key.String(), b.key.String()) })
	m.verdict.Store(&verdict{seen: seen, index: index, list: list})
	m.metrics.mutators(len(list))
	return list
}

// notListed is current's answer before the first list.
var notListed = []unaccounted{{why: "the witness has not yet listed the cluster's mutating admission objects"}}

// accountWhy says why a stored mutator is not what any indexed commit declares.
func accountWhy(r witness.Result) string {
	switch r.Reason {
	case witness.Undeclared:
		return "no verified commit declares it"
	case witness.Mismatch:
		return "field " + r.Path + " differs from what commit " + r.Commit + " of Sync " + r.Sync.String() + " declares"
	case witness.UndeclaredField:
		return "field " + r.Path + " (field manager " + fmt.Sprintf("%q", r.Manager) + ") is not declared by commit " + r.Commit + " of Sync " + r.Sync.String()
	case witness.NoManagedFields:
		return "it has no managedFields, so the witness cannot tell who set what it holds"
	}
	return "it is not what a verified commit declares (" + string(r.Reason) + ")"
}

// vet turns r, an allowed CREATE or UPDATE, into an UnaccountedMutator denial while a mutator is
// unaccounted for: the first (by key) is named. A mutator whose writ.dev/managed label names a
// Sync gets that Sync caught up with first, once (a new commit that adds or changes it).
func (m *mutators) vet(r witness.Result, catch func(types.NamespacedName) bool) witness.Result {
	if !r.Allowed || (r.Operation != witness.Create && r.Operation != witness.Update) {
		return r
	}
	list := m.current()
	if len(list) == 0 {
		return r
	}
	caught, asked := false, map[types.NamespacedName]bool{}
	for _, u := range list {
		if !asked[u.sync] { // the zero Sync: every GitSource whose status is ahead of the index
			asked[u.sync] = true
			caught = catch(u.sync) || caught
		}
	}
	if caught {
		if list = m.current(); len(list) == 0 {
			return r
		}
	}
	u := list[0]
	name := "the cluster's mutating admission"
	if u.key.Name != "" {
		name = u.key.String()
	}
	more := ""
	if len(list) > 1 {
		more = fmt.Sprintf(" (and %d more)", len(list)-1)
	}
	return witness.Result{Reason: witness.UnaccountedMutator, Operation: r.Operation, Object: r.Object, Sync: r.Sync, Commit: r.Commit,
		Why: name + more + ": " + u.why}
}

// ready reports whether the set has been built from a synced cache.
func (m *mutators) ready() bool { return m.synced.Load() }
