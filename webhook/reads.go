package webhook

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// snapshotTimeout bounds the guard's reads of policies, grants and namespaces per request (a
// variable for tests).
var snapshotTimeout = 5 * time.Second

// requestReads is what one review reads through the guard's Reader: the snapshot, its namespace
// lookup (the same namespace is asked for once per policy: it is read once), the owners
// exemptions name, and the deadline of the reads, in one allocation.
type requestReads struct {
	g        *Guard
	deadline lazyDeadline
	snap     Snapshot
	nsName   string
	nsLabels map[string]string
	nsRead   bool
}

// snapshot returns the policies, grants and the namespace lookup.
func (rr *requestReads) snapshot(now time.Time) (*Snapshot, error) {
	base, err := rr.shared(now)
	if err != nil {
		return nil, err
	}
	rr.snap = *base // the shared part is never modified: only this request's fields are set
	rr.snap.Now = now
	rr.snap.NamespaceLabels = rr.namespaceLabels
	rr.snap.Owners = rr
	return &rr.snap, nil
}

// shared returns the compiled policies, the grants and the exempt namespaces: the kept ones
// while no GuardPolicy or BreakGlassRequest has changed (see Guard.InvalidateOn), or read afresh.
func (rr *requestReads) shared(now time.Time) (*Snapshot, error) {
	g := rr.g
	kept, gen := g.snapshots.load()
	if kept != nil {
		return kept, nil
	}
	s := &Snapshot{ExemptNamespaces: map[string]bool{}}
	exempt := g.ExemptNamespaces
	if exempt == nil {
		exempt = DefaultExemptNamespaces
	}
	for _, ns := range exempt {
		s.ExemptNamespaces[ns] = true
	}
	var gps guardv1.GuardPolicyList
	// The guard never modifies what it reads: skip the cache's deep copies on the hot path.
	if err := g.Reader.List(&rr.deadline, &gps, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing guard policies: %w", err)
	}
	for i := range gps.Items {
		p, err := g.compiled.compile(&gps.Items[i])
		if err != nil {
			return nil, err // an invalid policy fails closed rather than protecting nothing
		}
		s.Policies = append(s.Policies, p)
	}
	var bgrs guardv1.BreakGlassRequestList
	if err := g.Reader.List(&rr.deadline, &bgrs, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing break-glass requests: %w", err)
	}
	for i := range bgrs.Items {
		if gr, ok := grantOf(&bgrs.Items[i], now); ok {
			s.Grants = append(s.Grants, gr)
		}
	}
	g.snapshots.store(gen, s)
	return s, nil
}

// GetOwner reads an owner from the cache, within the review's deadline. The object is the
// cache's own (no deep copy) and is only read.
func (rr *requestReads) GetOwner(namespace, name string, obj client.Object) error {
	return rr.g.Reader.Get(&rr.deadline, client.ObjectKey{Namespace: namespace, Name: name}, obj, client.UnsafeDisableDeepCopy)
}

func (rr *requestReads) namespaceLabels(name string) (map[string]string, error) {
	if rr.nsRead && rr.nsName == name {
		return rr.nsLabels, nil
	}
	ns, _ := rr.g.namespaces.Get().(*corev1.Namespace) // only the labels are kept
	if ns == nil {
		ns = &corev1.Namespace{}
	}
	defer func() { *ns = corev1.Namespace{}; rr.g.namespaces.Put(ns) }()
	// Only the labels are read, and never modified: skip the cache's deep copy (the labels map
	// is the cache's own, and outlives ns).
	if err := rr.g.Reader.Get(&rr.deadline, client.ObjectKey{Name: name}, ns, client.UnsafeDisableDeepCopy); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil, nil // a namespace being created does not exist yet
		}
		return nil, err
	}
	rr.nsName, rr.nsLabels, rr.nsRead = name, ns.Labels, true
	return ns.Labels, nil
}
