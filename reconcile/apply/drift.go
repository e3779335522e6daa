package apply

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/reconcile/declared"
	"writ.dev/writ/wellknown"
)

// Drift is a live object that no longer matches what Git declares.
type Drift struct {
	Entry
	// Fields are the paths that differ (values are never reported).
	Fields []string
	// Managers are the other field managers that wrote the object, newest first.
	Managers []string
	// ResourceVersion is the live object's: a new edit of the same fields changes it.
	ResourceVersion string
	// UID is the live object's (empty when it is gone: Deleted).
	UID string
	// Since is the newest resourceVersion at which the reconciler knew the object in step with
	// Git (see Memo.since): the write that caused the drift was made on it. Empty when unknown.
	Since string
	// Deleted is true when the object Git declares is gone from the cluster.
	Deleted bool
	// Mutated is true when the apiserver stored other values than Writ had just applied: an
	// admission mutation (a MutatingAdmissionPolicy or a mutating webhook) changed Writ's write.
	Mutated bool
}

// MutatedError is returned by Apply when what the apiserver stored right after Writ's apply
// differs from what Git declares, for fields Git sets.
type MutatedError struct{ Drifts []Drift }

func (m *MutatedError) Error() string {
	parts := make([]string, len(m.Drifts))
	for i, d := range m.Drifts {
		if d.Deleted {
			parts[i] = d.Entry.String() + " (gone)"
		} else {
			parts[i] = d.Entry.String() + " (" + strings.Join(d.Fields, ", ") + ")"
		}
	}
	return "the apiserver stored other values than Git declares right after Writ applied them: " + strings.Join(parts, "; ") +
		": an admission mutation (a MutatingAdmissionPolicy or a mutating webhook) likely changed them; find it with" +
		" `kubectl get mutatingadmissionpolicies,mutatingwebhookconfigurations` and remove it, or declare the mutation's" +
		" result in Git"
}

// verifyStored checks, right after an apply, that the apiserver stored each object of objs as Git
// declares it (live holds the objects read back).
func (e *Engine) verifyStored(ctx context.Context, objs []*unstructured.Unstructured, live map[string]liveObject) error {
	var mutated []Drift
	for _, o := range objs {
		d, err := e.compareLive(ctx, o, live)
		if err != nil {
			return err
		}
		if d != nil {
			d.Mutated = true
			mutated = append(mutated, *d)
		}
	}
	if len(mutated) > 0 {
		return &MutatedError{Drifts: mutated}
	}
	return nil
}

// Drift compares each object Git declares with the object the apiserver stores (the rule of
// package declared): a field is drift if Git sets it and the stored value differs, so fields other
// managers own and Git does not declare (an HPA's replicas, defaulted fields, status) never are,
// and a mutating admission policy or webhook that rewrote Writ's last apply cannot hide behind a
// dry-run mutated the same way. An object Git declares that is gone from the cluster is drift too
// (Deleted). The live objects come from one labelled LIST per kind and namespace; an object that
// lost this sync's label is read on its own.
func (e *Engine) Drift(ctx context.Context, objs []*unstructured.Unstructured, s Stamp) ([]Drift, error) {
	var out []Drift
	live := e.liveState(ctx, objs, s)
	for _, o := range objs {
		o = o.DeepCopy()
		e.stamp(o, s, live)
		if e.Memo.inSync(s.owner(), o, desiredHash(o), live) {
			continue // as Writ left it: no write since, no change in Git
		}
		d, err := e.compareLive(ctx, o, live)
		if err != nil {
			return out, err
		}
		if d == nil {
			e.Memo.stepped(s.owner(), subject(o), live[subject(o)].resourceVersion)
			continue
		}
		d.Since = e.Memo.since(s.owner(), subject(o))
		out = append(out, *d)
	}
	return out, nil
}

// compareLive returns how the stored copy of the stamped object o differs from it, or nil.
func (e *Engine) compareLive(ctx context.Context, o *unstructured.Unstructured, live map[string]liveObject) (*Drift, error) {
	cur := live[subject(o)].obj
	if cur == nil {
		cur = &unstructured.Unstructured{}
		cur.SetGroupVersionKind(o.GroupVersionKind())
		err := e.c.Get(ctx, client.ObjectKeyFromObject(o), cur)
		if apierrors.IsNotFound(err) {
			return &Drift{Entry: EntryOf(o), Deleted: true}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s from the cluster: %w", subject(o), err)
		}
	}
	want, err := declared.Compile(o)
	if err != nil {
		return nil, fmt.Errorf("comparing %s with Git: %w", subject(o), err)
	}
	fields := want.Diff(cur.Object)
	if len(fields) == 0 {
		return nil, nil
	}
	return &Drift{Entry: EntryOf(o), Fields: fields, Managers: otherManagers(cur), ResourceVersion: cur.GetResourceVersion(), UID: string(cur.GetUID())}, nil
}

// stamp sets what every commit declares of o (Stamp.Declare: the tracking label and the source)
// and the commit annotation: the live one when the object is already this sync's, from liveState.
func (e *Engine) stamp(o *unstructured.Unstructured, s Stamp, live map[string]liveObject) {
	s.Declare(o)
	ann := o.GetAnnotations()
	ann[wellknown.CommitAnnotation] = s.Commit
	if l, ok := live[subject(o)]; ok && l.commit != "" {
		ann[wellknown.CommitAnnotation] = l.commit
	}
	o.SetAnnotations(ann)
}

// otherManagers lists the field managers other than Writ that wrote obj, newest first.
func otherManagers(obj *unstructured.Unstructured) []string {
	mf := obj.GetManagedFields()
	sort.SliceStable(mf, func(i, j int) bool {
		if mf[i].Time == nil || mf[j].Time == nil {
			return mf[j].Time == nil
		}
		return mf[j].Time.Before(mf[i].Time)
	})
	var out []string
	seen := map[string]bool{}
	for _, m := range mf {
		if m.Manager == wellknown.FieldManager || seen[m.Manager] || strings.HasPrefix(m.Manager, "before-first-apply") {
			continue
		}
		seen[m.Manager] = true
		out = append(out, m.Manager)
	}
	return out
}
