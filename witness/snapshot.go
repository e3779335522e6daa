package witness

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/types"

	"writ.dev/writ/reconcile/declared"
)

// snapshot is one immutable state of the index. Nothing in it is changed once it is published:
// the next state is a new snapshot sharing what did not change.
type snapshot struct {
	syncs map[types.NamespacedName]*syncIndex
	// objects holds every declaration of each object: newest commits first, then previous ones,
	// each group ordered by Sync.
	objects map[Key][]declaration
}

// syncIndex is what one Sync's newest verified commit and the one before declare; previous is nil
// until a second commit is published.
type syncIndex struct {
	newest, previous *generation
}

// generation is one commit's objects.
type generation struct {
	commit string
	keys   []Key
	fields []*declared.Fields // fields[i] is what the commit declares for keys[i]
	sums   []manifestSum      // sums[i] identifies the manifest fields[i] was compiled from
}

// manifestSum is the SHA-256 of a manifest's JSON (keys sorted), so that a manifest a new commit
// leaves unchanged is not compiled, nor held, twice; the zero value identifies nothing. It never
// leaves the index.
type manifestSum [sha256.Size]byte

// declaration is one commit's declaration of one object.
type declaration struct {
	sync   types.NamespacedName
	commit string
	newest bool
	fields *declared.Fields
	sum    manifestSum
}

var empty = &snapshot{}

// with returns the snapshot in which sync's index is next, or in which sync has none if next is
// nil. Only the objects of sync's old and new commits are touched.
func (s *snapshot) with(sync types.NamespacedName, next *syncIndex) *snapshot {
	n := &snapshot{syncs: maps.Clone(s.syncs), objects: maps.Clone(s.objects)}
	if n.syncs == nil {
		n.syncs = map[types.NamespacedName]*syncIndex{}
	}
	if n.objects == nil {
		n.objects = map[Key][]declaration{}
	}
	if old := s.syncs[sync]; old != nil {
		for _, g := range []*generation{old.newest, old.previous} {
			if g == nil {
				continue
			}
			for _, k := range g.keys {
				if d := withoutSync(n.objects[k], sync); len(d) == 0 {
					delete(n.objects, k)
				} else {
					n.objects[k] = d
				}
			}
		}
	}
	if next == nil {
		delete(n.syncs, sync)
		return n
	}
	n.syncs[sync] = next
	for _, g := range []*generation{next.newest, next.previous} {
		if g == nil {
			continue
		}
		for i, k := range g.keys {
			d := declaration{sync: sync, commit: g.commit, newest: g == next.newest, fields: g.fields[i], sum: g.sums[i]}
			// Clip: the old slice may be shared with the snapshot being replaced, so append copies.
			ds := append(slices.Clip(n.objects[k]), d)
			slices.SortStableFunc(ds, declarationOrder)
			n.objects[k] = ds
		}
	}
	return n
}

// withoutSync returns ds without sync's declarations, as a new slice if it had any.
func withoutSync(ds []declaration, sync types.NamespacedName) []declaration {
	if !slices.ContainsFunc(ds, func(d declaration) bool { return d.sync == sync }) {
		return ds
	}
	var out []declaration
	for _, d := range ds {
		if d.sync != sync {
			out = append(out, d)
		}
	}
	return out
}

func declarationOrder(a, b declaration) int {
	if a.newest != b.newest {
		if a.newest {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(a.sync.Namespace, b.sync.Namespace), cmp.Compare(a.sync.Name, b.sync.Name))
}

// compiled returns the Fields compiled from the manifest whose sum is sum, if some declaration of
// k in this snapshot has them.
func (s *snapshot) compiled(k Key, sum manifestSum) *declared.Fields {
	if sum == (manifestSum{}) {
		return nil
	}
	for i := range s.objects[k] {
		if d := &s.objects[k][i]; d.sum == sum {
			return d.fields
		}
	}
	return nil
}

// comparedBefore reports whether one of ds already holds f (and so was compared, and differed).
func comparedBefore(ds []declaration, f *declared.Fields) bool {
	for i := range ds {
		if ds[i].fields == f {
			return true
		}
	}
	return false
}

// check is Check's decision over this snapshot.
func (s *snapshot) check(w Write) Result {
	r := Result{Operation: w.Operation, Object: w.Object}
	ds := s.objects[w.Object]
	switch w.Operation {
	case Create, Update:
		firstDiff := (*declared.Fields).FirstDiffJSON
		if w.RawValidated {
			// The managedFields list the caller found is jumped over, not walked (most of a
			// large object's bytes; never declared).
			firstDiff = func(f *declared.Fields, raw []byte) (string, bool, error) {
				return f.FirstDiffValidJSONRead(raw, w.Managed)
			}
		}
		var gains *declared.Gains // what the write's field managers gain, read once
		for i := range ds {
			d := &ds[i]
			if comparedBefore(ds[:i], d.fields) {
				continue // a manifest two commits share differs once
			}
			path, differs, err := firstDiff(d.fields, w.Raw)
			if err != nil {
				// The document is malformed (or, if validated, not an object, or a declared number
				// out of range): one error is enough.
				r.Reason, r.Path, r.Sync, r.Commit = Malformed, "", types.NamespacedName{}, ""
				return r
			}
			manager := ""
			if !differs {
				// Every declared value is there: every field the write sets must be declared too.
				if gains == nil {
					if gains, err = w.gains(); err != nil {
						return w.unowned(r, err)
					}
				}
				undeclared := (*declared.Fields).FirstUndeclaredGain
				if w.stored {
					undeclared = (*declared.Fields).FirstUndeclaredOwned
				}
				if path, manager, differs, err = undeclared(d.fields, gains); err != nil {
					return w.unowned(r, err)
				}
				if !differs {
					r.Allowed, r.Reason, r.Path, r.Sync, r.Commit = true, Declared, "", d.sync, d.commit
					return r
				}
			}
			if i == 0 {
				r.Reason, r.Path, r.Manager, r.Sync, r.Commit = Mismatch, path, manager, d.sync, d.commit
				if manager != "" {
					r.Reason = UndeclaredField
				}
			}
		}
	case Delete:
		for i := range ds {
			d := &ds[i]
			if d.newest {
				r.Reason, r.Sync, r.Commit = DeleteDeclared, d.sync, d.commit
				return r
			}
			if i == 0 {
				r.Allowed, r.Reason, r.Sync, r.Commit = true, Prune, d.sync, d.commit
			}
		}
		if r.Allowed {
			return r
		}
	default:
		r.Reason = Malformed
		return r
	}
	// Nothing admits the write. If the Sync the object names has no index yet, its newest commit
	// may well declare it: say the witness is not ready rather than that Git declares otherwise.
	if w.Sync != (types.NamespacedName{}) && s.syncs[w.Sync] == nil {
		r.Reason, r.Path, r.Sync, r.Commit = NotReady, "", w.Sync, ""
		return r
	}
	if len(ds) == 0 {
		r.Reason = Undeclared
	}
	return r
}

// unowned is the denial of a write whose managedFields cannot be read: none (NoManagedFields), or
// malformed JSON.
func (w Write) unowned(r Result, err error) Result {
	r.Reason, r.Path, r.Manager, r.Sync, r.Commit = Malformed, "", "", types.NamespacedName{}, ""
	if errors.Is(err, declared.ErrNoManagedFields) {
		r.Reason = NoManagedFields
	}
	return r
}

// gains is what the write's managedFields entries gain, from the lists the caller found or from
// the objects.
func (w Write) gains() (*declared.Gains, error) {
	if w.Managed != nil {
		return declared.GainsOfLists(w.Managed, w.OldManaged, w.RawValidated)
	}
	return declared.GainsOf(w.Raw, w.Old, w.RawValidated)
}
