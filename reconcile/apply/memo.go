package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/wellknown"
)

// Memo remembers, per sync and object, what Writ last applied (a hash of the stamped object) and
// the resourceVersion the object had right after. While both still match, nobody has written the
// object since and Git has not changed it, so Apply and Drift skip the object's server-side
// dry-run: a no-op resync costs one labelled LIST per kind and namespace instead of a request
// per object. Any write to the object changes its resourceVersion, so an edit, a deletion or a
// change in Git always takes the full path. A Memo is in memory only: after a restart the first
// resync of each sync takes the full path and fills it again. Safe for concurrent use.
type Memo struct {
	mu sync.Mutex
	m  map[string]map[string]memoEntry // owner → subject → entry
}

// memoEntry: hash and resourceVersion are what Writ applied and the version right after;
// inStep is the newest version a drift check found in step with Git (another manager's write of
// fields Git does not set, an HPA's replicas, moves it on), from which a drift's edit was made.
type memoEntry struct{ hash, resourceVersion, inStep string }

// NewMemo returns an empty Memo.
func NewMemo() *Memo { return &Memo{m: map[string]map[string]memoEntry{}} }

// Forget drops what is remembered for a sync (when it is deleted).
func (m *Memo) Forget(syncNamespace, syncName string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.m, Stamp{SyncNamespace: syncNamespace, SyncName: syncName}.owner())
	m.mu.Unlock()
}

// Len is the number of objects remembered, over all syncs.
func (m *Memo) Len() int {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.m {
		n += len(s)
	}
	return n
}

// inSync reports whether o (stamped, hashed as h) is as Writ left it: same desired content and
// the live resourceVersion unchanged since.
func (m *Memo) inSync(owner string, o *unstructured.Unstructured, h string, live map[string]liveObject) bool {
	if m == nil {
		return false
	}
	l, ok := live[subject(o)]
	if !ok {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[owner][subject(o)]
	return ok && e.hash == h && e.resourceVersion == l.resourceVersion
}

// remember records the hashes of objs with their live resourceVersions, after an apply.
func (m *Memo) remember(owner string, objs []*unstructured.Unstructured, hashes []string, live map[string]liveObject) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.m[owner]
	if s == nil {
		s = map[string]memoEntry{}
		m.m[owner] = s
	}
	for i, o := range objs {
		if l, ok := live[subject(o)]; ok {
			s[subject(o)] = memoEntry{hash: hashes[i], resourceVersion: l.resourceVersion, inStep: l.resourceVersion}
		} else {
			delete(s, subject(o))
		}
	}
}

// stepped records that the object of subject was found in step with Git at resourceVersion rv.
func (m *Memo) stepped(owner, subject, rv string) {
	if m == nil || rv == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.m[owner][subject]; ok {
		e.inStep = rv
		m.m[owner][subject] = e
	}
}

// since is the newest resourceVersion at which the object of subject was known to be in step
// with Git (after Writ's apply, or a drift check that found nothing), "" when unknown (nothing
// remembered since the reconciler started, or the last apply failed).
func (m *Memo) since(owner, subject string) string {
	if m == nil {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[owner][subject].inStep
}

// forgetOwner drops a sync's entries after a failed apply, whose outcome is unknown.
func (m *Memo) forgetOwner(owner string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.m, owner)
	m.mu.Unlock()
}

// desiredHash hashes a stamped object without its commit annotation: that annotation follows the
// live object (see Apply), and a change to it shows in the resourceVersion anyway.
func desiredHash(o *unstructured.Unstructured) string {
	c := o.DeepCopy()
	ann := c.GetAnnotations()
	delete(ann, wellknown.CommitAnnotation)
	c.SetAnnotations(ann)
	b, err := json.Marshal(c.Object) // map keys are sorted: the same object hashes the same
	if err != nil {
		return "" // never equal to a remembered hash
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// liveObject is what a labelled LIST tells about a live object of this sync: obj is the object as
// the apiserver stores it.
type liveObject struct {
	commit, resourceVersion string
	obj                     *unstructured.Unstructured
}

// liveState returns the commit annotation and resourceVersion of every live object this sync
// owns among the kinds and namespaces of objs, keyed by subject: one labelled LIST per kind and
// namespace instead of a GET per object.
func (e *Engine) liveState(ctx context.Context, objs []*unstructured.Unstructured, s Stamp) map[string]liveObject {
	type scope struct {
		gvk schema.GroupVersionKind
		ns  string
	}
	seen := map[scope]bool{}
	out := map[string]liveObject{}
	for _, o := range objs {
		sc := scope{o.GroupVersionKind(), o.GetNamespace()}
		if seen[sc] {
			continue
		}
		seen[sc] = true
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(sc.gvk.GroupVersion().WithKind(sc.gvk.Kind + "List"))
		opts := []client.ListOption{client.MatchingLabels{wellknown.ManagedLabel: s.owner()}}
		if sc.ns != "" {
			opts = append(opts, client.InNamespace(sc.ns))
		}
		if err := e.c.List(ctx, list, opts...); err != nil {
			continue // a kind not served yet (a CRD in this very apply): nothing live to keep
		}
		for i := range list.Items {
			it := &list.Items[i]
			out[subject(it)] = liveObject{commit: it.GetAnnotations()[wellknown.CommitAnnotation], resourceVersion: it.GetResourceVersion(), obj: it}
		}
	}
	return out
}
