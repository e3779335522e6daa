package apply

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/wellknown"
)

// Entry is one object in an inventory.
type Entry struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// ID is the entry's identity regardless of version.
func (e Entry) ID() string { return e.Group + "/" + e.Kind + "/" + e.Namespace + "/" + e.Name }

func (e Entry) String() string {
	gk := e.Kind
	if e.Group != "" {
		gk += "." + e.Group
	}
	if e.Namespace != "" {
		return gk + " " + e.Namespace + "/" + e.Name
	}
	return gk + " " + e.Name
}

// EntryOf is o's inventory entry.
func EntryOf(o *unstructured.Unstructured) Entry {
	gvk := o.GroupVersionKind()
	return Entry{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}
}

// Result is what one Apply did.
type Result struct {
	Created, Configured, Unchanged, Pruned []Entry
	// Inventory is the set now applied: the input of the next Prune.
	Inventory []Entry
}

// Counts summarises the result for audit records.
func (r *Result) Counts() map[string]int {
	return map[string]int{"created": len(r.Created), "configured": len(r.Configured), "unchanged": len(r.Unchanged), "pruned": len(r.Pruned)}
}

// Engine applies and prunes.
type Engine struct {
	rm *ssa.ResourceManager
	c  client.Client
	// WaitTimeout bounds waiting for CRDs and Namespaces to be established (default 1m).
	WaitTimeout time.Duration
	// Memo, when set, lets Apply and Drift skip objects nobody has written since Writ applied
	// them (see Memo). Share one Memo between the Engines of all syncs.
	Memo *Memo
}

// New returns an Engine acting with c (the identity the sync impersonates).
func New(c client.Client) *Engine {
	poller := polling.NewStatusPoller(c, c.RESTMapper(), polling.Options{})
	rm := ssa.NewResourceManager(c, poller, ssa.Owner{Field: wellknown.FieldManager, Group: "writ.dev"})
	rm.SetConcurrency(10)
	return &Engine{rm: rm, c: c, WaitTimeout: time.Minute}
}

// Apply stamps objs and applies them in stages, then prunes what the previous inventory had and
// objs no longer declare (when prune is true). New objects are applied before old ones are
// pruned, so a rename or a moved path leaves no gap.
func (e *Engine) Apply(ctx context.Context, objs []*unstructured.Unstructured, s Stamp, previous []Entry, prune bool) (*Result, error) {
	if s.SyncName == "" {
		return nil, fmt.Errorf("apply: the sync's name is required to stamp and prune objects")
	}
	// The commit annotation names the commit an object's content last changed in: keep the live
	// value while applying, so an unchanged object stays unchanged, then move it to this commit
	// on the objects that did change.
	live := e.liveState(ctx, objs, s)
	var todo []*unstructured.Unstructured
	var hashes []string // of todo
	res := &Result{}
	for _, o := range objs {
		e.stamp(o, s, live)
		h := desiredHash(o)
		if e.Memo.inSync(s.owner(), o, h, live) {
			res.Unchanged = append(res.Unchanged, EntryOf(o))
		} else {
			todo, hashes = append(todo, o), append(hashes, h)
		}
	}
	var err error
	if len(todo) > 0 {
		opts := ssa.DefaultApplyOptions()
		opts.Force = true
		opts.WaitTimeout = e.WaitTimeout
		var cs *ssa.ChangeSet
		cs, err = e.rm.ApplyAllStaged(ctx, todo, opts)
		if err == nil {
			err = e.restamp(ctx, todo, cs, s, opts)
		}
		if cs != nil {
			for _, en := range cs.Entries {
				x := Entry{Group: en.ObjMetadata.GroupKind.Group, Kind: en.ObjMetadata.GroupKind.Kind, Namespace: en.ObjMetadata.Namespace, Name: en.ObjMetadata.Name, Version: versionOf(en.GroupVersion)}
				switch en.Action {
				case ssa.CreatedAction:
					res.Created = append(res.Created, x)
				case ssa.ConfiguredAction:
					res.Configured = append(res.Configured, x)
				default:
					res.Unchanged = append(res.Unchanged, x)
				}
			}
		}
		if err == nil {
			// What the apiserver stored, not what it answered: an admission mutation changes a
			// dry-run exactly as it changes the write, so only the stored object tells.
			stored := e.liveState(ctx, todo, s)
			if err = e.verifyStored(ctx, todo, stored); err == nil {
				e.Memo.remember(s.owner(), todo, hashes, stored)
			}
		}
		if err != nil {
			e.Memo.forgetOwner(s.owner())
		}
	}
	var mutated *MutatedError
	if errors.As(err, &mutated) {
		return res, err
	}
	if err != nil {
		return res, fmt.Errorf("applying: %w", err)
	}
	for _, o := range objs {
		res.Inventory = append(res.Inventory, EntryOf(o))
	}
	sort.Slice(res.Inventory, func(i, j int) bool { return res.Inventory[i].ID() < res.Inventory[j].ID() })
	if prune {
		if res.Pruned, err = e.prune(ctx, previous, res.Inventory, s); err != nil {
			return res, err
		}
	}
	return res, nil
}

// restamp moves the commit annotation of created and configured objects to this commit.
func (e *Engine) restamp(ctx context.Context, objs []*unstructured.Unstructured, cs *ssa.ChangeSet, s Stamp, opts ssa.ApplyOptions) error {
	changed := map[string]bool{}
	for _, en := range cs.Entries {
		if en.Action == ssa.CreatedAction || en.Action == ssa.ConfiguredAction {
			changed[en.Subject] = true
		}
	}
	for _, o := range objs {
		if o.GetAnnotations()[wellknown.CommitAnnotation] == s.Commit || !changed[subject(o)] {
			continue
		}
		ann := o.GetAnnotations()
		ann[wellknown.CommitAnnotation] = s.Commit
		o.SetAnnotations(ann)
		if _, err := e.rm.Apply(ctx, o, opts); err != nil {
			return fmt.Errorf("stamping %s with the commit: %w", subject(o), err)
		}
	}
	return nil
}

// subject names an object as ssa's change sets do: kind/namespace/name.
func subject(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetKind() + "/" + o.GetName()
	}
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

func versionOf(gv string) string {
	if i := strings.LastIndex(gv, "/"); i >= 0 {
		return gv[i+1:]
	}
	return gv
}

// prune deletes the objects of previous that current lacks, if the live object still carries
// this sync's label: never an object Writ did not create or another sync has taken over.
func (e *Engine) prune(ctx context.Context, previous, current []Entry, s Stamp) ([]Entry, error) {
	keep := map[string]bool{}
	for _, x := range current {
		keep[x.ID()] = true
	}
	var gone []*unstructured.Unstructured
	var pruned []Entry
	for _, x := range previous {
		if keep[x.ID()] {
			continue
		}
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(schema.GroupVersionKind{Group: x.Group, Version: x.Version, Kind: x.Kind})
		err := e.c.Get(ctx, client.ObjectKey{Namespace: x.Namespace, Name: x.Name}, live)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return pruned, fmt.Errorf("pruning %s: %w", x, err)
		}
		if live.GetLabels()[wellknown.ManagedLabel] != s.owner() {
			continue // not ours (any more): never delete it
		}
		gone = append(gone, live)
		pruned = append(pruned, x)
	}
	if len(gone) == 0 {
		return nil, nil
	}
	if _, err := e.rm.DeleteAll(ctx, gone, ssa.DefaultDeleteOptions()); err != nil {
		return pruned, fmt.Errorf("pruning: %w", err)
	}
	return pruned, nil
}

// Wait waits until the inventory's objects are healthy (Deployments rolled out, Jobs complete,
// CRDs established, custom resources Ready) or timeout passes.
func (e *Engine) Wait(ctx context.Context, inventory []Entry, timeout time.Duration) error {
	var objs []*unstructured.Unstructured
	for _, x := range inventory {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: x.Group, Version: x.Version, Kind: x.Kind})
		u.SetNamespace(x.Namespace)
		u.SetName(x.Name)
		objs = append(objs, u)
	}
	return e.rm.WaitForSetWithContext(ctx, object.UnstructuredSetToObjMetadataSet(objs), ssa.WaitOptions{Interval: 2 * time.Second, Timeout: timeout})
}
