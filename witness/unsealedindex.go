package witness

import (
	"cmp"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// unsealedIndex is one immutable state of what the SealedSecrets of the indexed commits unseal
// into, beside the snapshot of declarations: for each Sync, its newest and previous commits'
// SealedSecrets, and for each Secret key, every declaration of it. It is rebuilt whole on each
// Publish and Forget (a cluster holds far fewer SealedSecrets than objects).
type unsealedIndex struct {
	syncs   map[types.NamespacedName]unsealedSync
	secrets map[Key][]unsealedDeclaration
}

// unsealedSync is one Sync's newest commit's SealedSecrets and, once a second commit is
// published, the previous one's.
type unsealedSync struct {
	newest, previous *unsealedGeneration
}

// unsealedGeneration is what one commit's SealedSecrets unseal into, by Secret key.
type unsealedGeneration struct {
	commit  string
	secrets map[Key]*unsealed
}

// unsealedDeclaration is one commit's SealedSecret, as the Secret it unseals into.
type unsealedDeclaration struct {
	sync     types.NamespacedName
	commit   string
	newest   bool
	unsealed *unsealed
}

var noUnsealed = &unsealedIndex{}

func (x *Index) loadUnsealed() *unsealedIndex {
	if s := x.unsealed.Load(); s != nil {
		return s
	}
	return noUnsealed
}

// unsealedOf returns, by Secret key, what the SealedSecrets among a commit's objects unseal
// into. Publish calls it before it takes its lock; an error leaves the index unchanged.
func unsealedOf(sync types.NamespacedName, commit string, objs []*unstructured.Unstructured) (*unsealedGeneration, error) {
	g := &unsealedGeneration{commit: commit, secrets: map[Key]*unsealed{}}
	for i, obj := range objs {
		k, err := KeyOf(obj)
		if err != nil || !isSealedSecret(k) {
			continue // Publish reports a key error itself
		}
		u, err := compileUnsealed(obj)
		if err != nil {
			return nil, fmt.Errorf("witness: publish Sync %s commit %s: object %d%s: %w", sync, commit, i, describe(k), err)
		}
		if u != nil {
			g.secrets[secretKeyOf(k)] = u
		}
	}
	return g, nil
}

// with returns the state in which g is sync's newest generation (shifting the newest to previous
// as Publish does), or in which sync has none if g is nil.
func (s *unsealedIndex) with(sync types.NamespacedName, g *unsealedGeneration) *unsealedIndex {
	n := &unsealedIndex{syncs: make(map[types.NamespacedName]unsealedSync, len(s.syncs)+1), secrets: map[Key][]unsealedDeclaration{}}
	for name, si := range s.syncs {
		if name != sync {
			n.syncs[name] = si
		}
	}
	if g != nil {
		next := unsealedSync{newest: g}
		if old, ok := s.syncs[sync]; ok {
			next.previous = old.newest
			if old.newest.commit == g.commit {
				next.previous = old.previous
			}
		}
		n.syncs[sync] = next
	}
	for name, si := range n.syncs {
		for _, gen := range []*unsealedGeneration{si.newest, si.previous} {
			if gen == nil {
				continue
			}
			for k, u := range gen.secrets {
				n.secrets[k] = append(n.secrets[k], unsealedDeclaration{sync: name, commit: gen.commit, newest: gen == si.newest, unsealed: u})
			}
		}
	}
	for _, ds := range n.secrets {
		slices.SortFunc(ds, func(a, b unsealedDeclaration) int {
			if a.newest != b.newest {
				if a.newest {
					return -1
				}
				return 1
			}
			return cmp.Or(cmp.Compare(a.sync.Namespace, b.sync.Namespace), cmp.Compare(a.sync.Name, b.sync.Name))
		})
	}
	return n
}

// CheckUnsealed judges a write of a core Secret by writ-controller, the unsealer: allowed
// (Unsealed) if some SealedSecret of the same namespace and name, in the newest or the previous
// commit of any Sync, unseals into exactly it: the template's labels and annotations and no
// other (but sealing.AnnotationUnsealedWith), the template's type, immutable only if the template
// says so, exactly the data keys of encryptedData and the template's data, and the one controller
// owner reference to that SealedSecret (uid not compared: it is not in Git), or the template's own
// owner references when it skips that one. Values are never compared: the witness has no sealing
// key. Otherwise UnsealedMismatch names the first field of the first declaration that differs;
// NoSealedSecret (or NotReady, when the Secret names in its writ.dev/managed label a Sync with no
// index) when no indexed commit declares the SealedSecret; UnsealerDelete for a DELETE, which the
// unsealer never makes (the garbage collector deletes an unsealed Secret with its SealedSecret);
// Malformed for JSON that does not parse or an operation Check does not judge. It never waits for
// a Publish.
func (x *Index) CheckUnsealed(w Write) Result {
	r := Result{Operation: w.Operation, Object: w.Object}
	switch w.Operation {
	case Create, Update:
	case Delete:
		r.Reason = UnsealerDelete
		return r
	default:
		r.Reason = Malformed
		return r
	}
	s := x.loadUnsealed()
	ds := s.secrets[w.Object]
	if len(ds) == 0 {
		r.Reason = NoSealedSecret
		if _, ready := s.syncs[w.Sync]; w.Sync != (types.NamespacedName{}) && !ready {
			r.Reason, r.Sync = NotReady, w.Sync
		}
		return r
	}
	stored, err := decodeSecret(w.Raw)
	if err != nil {
		r.Reason = Malformed
		return r
	}
	for i := range ds {
		d := &ds[i]
		path, err := d.unsealed.firstDiff(w.Raw, stored)
		if err != nil {
			r.Reason, r.Path, r.Sync, r.Commit = Malformed, "", types.NamespacedName{}, ""
			return r
		}
		if path == "" {
			r.Allowed, r.Reason, r.Path, r.Sync, r.Commit = true, Unsealed, "", d.sync, d.commit
			return r
		}
		if i == 0 {
			r.Reason, r.Path, r.Sync, r.Commit = UnsealedMismatch, path, d.sync, d.commit
		}
	}
	return r
}
