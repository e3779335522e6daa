package apply

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
	// Deleted is true when the object Git declares is gone from the cluster.
	Deleted bool
}

// Drift compares each object with its live copy by a server-side dry-run apply: a field is
// drift only if applying Git's version would change it, so fields other managers own and Git
// does not declare (an HPA's replicas, defaulted fields, status) never are. An object Git
// declares that is gone from the cluster is drift too (Deleted).
func (e *Engine) Drift(ctx context.Context, objs []*unstructured.Unstructured, s Stamp) ([]Drift, error) {
	var out []Drift
	live := e.liveState(ctx, objs, s)
	for _, o := range objs {
		o = o.DeepCopy()
		e.stamp(o, s, live)
		if e.Memo.inSync(s.owner(), o, desiredHash(o), live) {
			continue // as Writ left it: no write since, no change in Git
		}
		entry, live, merged, err := e.rm.Diff(ctx, o, ssa.DiffOptions{})
		if err != nil {
			return out, fmt.Errorf("comparing %s with the cluster: %w", subject(o), err)
		}
		if entry != nil && entry.Action == ssa.CreatedAction {
			out = append(out, Drift{Entry: EntryOf(o), Deleted: true})
			continue
		}
		if entry == nil || entry.Action != ssa.ConfiguredAction || live == nil || merged == nil {
			continue
		}
		d := Drift{Entry: EntryOf(o)}
		full := &unstructured.Unstructured{}
		full.SetGroupVersionKind(o.GroupVersionKind())
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(o), full); err == nil {
			d.Managers = otherManagers(full) // the diff's copies carry no managed fields
			d.ResourceVersion = full.GetResourceVersion()
		}
		d.Fields = diffPaths("", strip(live.Object), strip(merged.Object), nil)
		out = append(out, d)
	}
	return out, nil
}

// stamp sets the tracking label, the commit annotation (the live one when the object is
// already this sync's, from liveState) and the source on o.
func (e *Engine) stamp(o *unstructured.Unstructured, s Stamp, live map[string]liveObject) {
	labels := o.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ManagedLabel] = s.owner()
	o.SetLabels(labels)
	ann := o.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[CommitAnnotation] = s.Commit
	if l, ok := live[subject(o)]; ok && l.commit != "" {
		ann[CommitAnnotation] = l.commit
	}
	if s.Source != "" {
		ann[SourceAnnotation] = s.Source
	}
	o.SetAnnotations(ann)
}

func strip(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		if k != "status" {
			c[k] = v
		}
	}
	if md, ok := c["metadata"].(map[string]any); ok {
		md2 := make(map[string]any, len(md))
		for k, v := range md {
			switch k {
			case "managedFields", "resourceVersion", "generation", "creationTimestamp", "uid":
			default:
				md2[k] = v
			}
		}
		c["metadata"] = md2
	}
	return c
}

// diffPaths lists the dotted paths where a and b differ.
func diffPaths(prefix string, a, b any, out []string) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		if !reflect.DeepEqual(a, b) {
			out = append(out, orDot(prefix))
		}
		return out
	}
	keys := map[string]bool{}
	for k := range am {
		keys[k] = true
	}
	for k := range bm {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		out = diffPaths(prefix+"."+k, am[k], bm[k], out)
	}
	return out
}

func orDot(p string) string {
	if p == "" {
		return "."
	}
	return p
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
		if m.Manager == FieldManager || seen[m.Manager] || strings.HasPrefix(m.Manager, "before-first-apply") {
			continue
		}
		seen[m.Manager] = true
		out = append(out, m.Manager)
	}
	return out
}
