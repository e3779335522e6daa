package webhook

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// exemption is a compiled Exemption: who, which resources, operations and subresources, and
// the narrowing (names, changes, owner) the guard enforces by reading the objects.
type exemption struct {
	guardv1.Exemption
	// changes are the metadata fields an UPDATE may change (nil: any update).
	changes map[guardv1.MetadataField]bool
	// owner is the chain of controllers the object must have, nearest first (nil: none).
	owner []ownerKind
	// allowed is the decision allowing what the exemption covers (byExemption's), compiled with
	// its policy.
	allowed Decision
}

// compileExemption validates an exemption: an exact subject, named resources and operations
// (no wildcard anywhere), and narrowing the guard knows how to enforce.
func compileExemption(e guardv1.Exemption) (*exemption, error) {
	if err := validSubject(e.Subject); err != nil {
		return nil, fmt.Errorf("subject: %v", err)
	}
	if len(e.Operations) == 0 || len(e.Resources) == 0 {
		return nil, fmt.Errorf("list its operations and resources")
	}
	for _, r := range e.Resources {
		for _, x := range append(append([]string{}, r.APIGroups...), r.Resources...) {
			if x == "*" {
				return nil, fmt.Errorf("name the resources; an exemption never takes a wildcard")
			}
		}
	}
	for _, op := range e.Operations {
		switch op {
		case "CREATE", "UPDATE", "DELETE", "CONNECT":
		default:
			return nil, fmt.Errorf("operation %q: use CREATE, UPDATE, DELETE or CONNECT", op)
		}
	}
	for _, n := range append(append([]string{}, e.Names...), e.Subresources...) {
		if n == "*" || n != trimmed(n) {
			return nil, fmt.Errorf("name or subresource %q must be exact (no spaces around it, no wildcard)", n)
		}
	}
	x := &exemption{Exemption: e}
	if len(e.Changes) > 0 {
		x.changes = map[guardv1.MetadataField]bool{}
		for _, c := range e.Changes {
			if c != guardv1.OwnerReferencesField && c != guardv1.FinalizersField {
				return nil, fmt.Errorf("changes: %q: an exemption may change only ownerReferences and finalizers", c)
			}
			x.changes[c] = true
		}
		for _, op := range e.Operations {
			if op != "UPDATE" && op != "DELETE" {
				return nil, fmt.Errorf("changes limits updates: list only UPDATE and DELETE, not %s", op)
			}
		}
	}
	if e.OwnedBy != nil {
		owner, err := compileOwner(e.Resources, e.OwnedBy)
		if err != nil {
			return nil, fmt.Errorf("ownedBy: %v", err)
		}
		x.owner = owner
	}
	return x, nil
}

// covers reports whether the exemption names the request's identity, resource, operation,
// subresource and object name. It reads nothing but the request.
func (e *exemption) covers(r *Request) bool {
	return matches(e.Subject, r) && ruleMatches(e.Resources, r.Group, r.Resource) &&
		containsExact(e.Operations, r.Operation) && subresourceAllowed(e.Subresources, r.Subresource) &&
		(len(e.Names) == 0 || containsExact(e.Names, r.Name))
}

func subresourceAllowed(allowed []string, sub string) bool {
	if len(allowed) == 0 {
		return sub == ""
	}
	return containsExact(allowed, sub)
}

// narrowed checks what the exemption allows beyond the request's attributes, reading the
// objects: an UPDATE changes only the listed metadata fields, and the object has the declared
// owners and matches them. It returns why not ("" if allowed), or an error if the guard could
// not look (and must deny).
func (e *exemption) narrowed(p *Policy, r *Request, s *Snapshot) (string, error) {
	if e.changes != nil && r.Operation == "UPDATE" {
		if why := onlyChanges(r.OldObject, r.Object, e.changes); why != "" {
			return why, nil
		}
	}
	if e.owner != nil {
		return ownedAsDeclared(p, e.owner, r, s)
	}
	return "", nil
}

// metadataAlwaysIgnored are the fields the apiserver itself sets on every write.
var metadataAlwaysIgnored = []string{"resourceVersion", "managedFields", "generation"}

// onlyChanges reports why an update changes more than the allowed metadata fields ("" if it
// does not).
func onlyChanges(oldRaw, newRaw []byte, allowed map[guardv1.MetadataField]bool) string {
	var before, after map[string]any
	if json.Unmarshal(oldRaw, &before) != nil || json.Unmarshal(newRaw, &after) != nil {
		return "the objects cannot be compared"
	}
	for _, o := range []map[string]any{before, after} {
		md, _ := o["metadata"].(map[string]any)
		for _, k := range metadataAlwaysIgnored {
			delete(md, k)
		}
		for f := range allowed {
			delete(md, string(f))
		}
	}
	if reflect.DeepEqual(before, after) {
		return ""
	}
	var fields []string
	for f := range allowed {
		fields = append(fields, "metadata."+string(f))
	}
	slices.Sort(fields)
	return "it may change only " + strings.Join(fields, " and ") + ", and this update changes " + firstDifference(before, after)
}

// firstDifference names the first top-level field (or metadata field) that differs.
func firstDifference(a, b map[string]any) string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if reflect.DeepEqual(a[k], b[k]) {
			continue
		}
		am, aok := a[k].(map[string]any)
		bm, bok := b[k].(map[string]any)
		if k == "metadata" && aok && bok {
			return "metadata." + strings.TrimPrefix(firstDifference(am, bm), "metadata.")
		}
		return k
	}
	return "nothing"
}
