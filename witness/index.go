package witness

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"writ.dev/writ/reconcile/declared"
)

// Index is the witness's index: for each Sync, what its newest verified commit and the one before
// declare. The zero value is an empty index, ready to use. Check and Ready never wait for Publish
// or Forget; Publish and Forget are serialised among themselves.
type Index struct {
	current  atomic.Pointer[snapshot]
	unsealed atomic.Pointer[unsealedIndex] // what the SealedSecrets unseal into (CheckUnsealed)
	mu       sync.Mutex                    // serialises the swaps of current and unsealed
	version  atomic.Uint64                 // counts the swaps (Version)
}

func (x *Index) load() *snapshot {
	if s := x.current.Load(); s != nil {
		return s
	}
	return empty
}

// Publish makes objs, the rendered objects of the verified commit, sync's newest generation, and
// the generation that was newest the previous one; publishing the commit that is already newest
// again replaces its objects without shifting. Each object must carry its kind, name and the
// namespace it is applied in; it is compiled with declared.Compile and not kept. A manifest the
// index already holds compiled for the same object (most of a new commit's, unchanged from the one
// before) is not compiled again: both commits share its Fields. On any error the index is
// unchanged.
func (x *Index) Publish(sync types.NamespacedName, commit string, objs []*unstructured.Unstructured) error {
	if sync.Name == "" || sync.Namespace == "" {
		return fmt.Errorf("witness: publish: the Sync %q needs a namespace and a name", sync.String())
	}
	if commit == "" {
		return fmt.Errorf("witness: publish Sync %s: no commit", sync)
	}
	g := &generation{commit: commit, keys: make([]Key, len(objs)), fields: make([]*declared.Fields, len(objs)), sums: make([]manifestSum, len(objs))}
	seen := make(map[Key]struct{}, len(objs))
	// Compiled manifests to reuse: a Publish in between may drop some, never make one wrong.
	cur := x.load()
	for i, obj := range objs {
		k, err := KeyOf(obj)
		if err == nil {
			if _, dup := seen[k]; dup {
				err = errors.New("declared twice in this commit")
			}
		}
		if err == nil {
			g.sums[i] = sumOf(obj)
			if g.fields[i] = cur.compiled(k, g.sums[i]); g.fields[i] == nil {
				g.fields[i], err = declared.Compile(obj)
			}
		}
		if err != nil {
			return fmt.Errorf("witness: publish Sync %s commit %s: object %d%s: %w", sync, commit, i, describe(k), err)
		}
		seen[k] = struct{}{}
		g.keys[i] = k
	}
	sealed, err := unsealedOf(sync, commit, objs)
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	cur = x.load()
	next := &syncIndex{newest: g}
	if old := cur.syncs[sync]; old != nil {
		next.previous = old.newest
		if old.newest.commit == commit {
			next.previous = old.previous
		}
	}
	x.current.Store(cur.with(sync, next))
	x.unsealed.Store(x.loadUnsealed().with(sync, sealed))
	x.version.Add(1)
	return nil
}

// Forget drops sync's index (the Sync was deleted): its objects are no longer declared by it, and
// Ready(sync) is false again.
func (x *Index) Forget(sync types.NamespacedName) {
	x.mu.Lock()
	defer x.mu.Unlock()
	cur := x.load()
	if cur.syncs[sync] == nil {
		return
	}
	x.current.Store(cur.with(sync, nil))
	x.unsealed.Store(x.loadUnsealed().with(sync, nil))
	x.version.Add(1)
}

// Version changes whenever what the index declares may have changed (each Publish and Forget that
// changes it), so that a caller can keep an answer of CheckStored until it does.
func (x *Index) Version() uint64 { return x.version.Load() }

// Ready reports whether sync has an index: a commit of it has been published.
func (x *Index) Ready(sync types.NamespacedName) bool {
	return x.load().syncs[sync] != nil
}

// Check decides an agent's write against the commits indexed now (see the package documentation
// for the rule). It never waits for a Publish, and its lookup allocates nothing.
func (x *Index) Check(w Write) Result {
	return x.load().check(w)
}

// CheckStored decides whether obj, the JSON of an object k as the apiserver stores it (read from
// the API, managedFields included), is what a commit indexed now declares, as a CREATE of it by
// the agent would be judged (Declared, or the reason it is not), with one difference: the CA
// bundles of a webhook configuration's webhooks, which a CA injector writes, are not asked of the
// manifest (declared.Fields.FirstUndeclaredOwned). The witness asks it of the mutating admission
// objects it watches, which the apiserver never sends to a webhook.
func (x *Index) CheckStored(k Key, obj []byte) Result {
	return x.load().check(Write{Operation: Create, Object: k, Raw: obj, stored: true})
}

// sumOf identifies obj's manifest (encoding/json sorts map keys, so equal manifests have equal
// sums); zero if it does not marshal, and then it is compiled every time.
func sumOf(obj *unstructured.Unstructured) manifestSum {
	b, err := json.Marshal(obj.Object)
	if err != nil {
		return manifestSum{}
	}
	return sha256.Sum256(b)
}

// describe names an object in an error, as far as it has a kind and name.
func describe(k Key) string {
	if k.Kind == "" || k.Name == "" {
		return ""
	}
	return " (" + k.String() + ")"
}

// DeclaredValue returns the compact JSON of what the declaration r was judged against (r.Sync's
// commit r.Commit, object r.Object) declares at r.Path, for a denial to show next to the path.
// It refuses (false) for a core Secret, always: a Secret's declared value is never shown, only
// the field's path. It is also false when r names no field, or when the index no longer holds
// that declaration (a newer commit or a Forget replaced it since r was decided).
func (x *Index) DeclaredValue(r Result) (string, bool) {
	if r.Object.Group == "" && r.Object.Kind == "Secret" || r.Path == "" || r.Commit == "" {
		return "", false
	}
	for _, d := range x.load().objects[r.Object] {
		if d.sync == r.Sync && d.commit == r.Commit {
			return d.fields.DeclaredAt(r.Path)
		}
	}
	return "", false
}
