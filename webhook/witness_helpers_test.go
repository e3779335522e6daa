package webhook_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/audit"
	"writ.dev/writ/witness"
)

// indexWitness is the guard's Witness over a real witness.Index, as the feed (witness/feed)
// provides one: it witnesses exactly the users it names.
type indexWitness struct {
	*witness.Index
	users    map[string]bool
	unsealer string // writ-controller's user name, or none
}

func (w indexWitness) Witnessed(user string) bool { return w.users[user] }

func (w indexWitness) Unsealer(user string) bool { return w.unsealer != "" && user == w.unsealer }

// objects decodes YAML manifests into the rendered objects a commit declares.
func objects(t testing.TB, manifests ...string) []*unstructured.Unstructured {
	t.Helper()
	out := make([]*unstructured.Unstructured, len(manifests))
	for i, m := range manifests {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(m), &u.Object); err != nil {
			t.Fatalf("manifest %d: %v", i, err)
		}
		out[i] = u
	}
	return out
}

// publish makes objs commit's objects of sync in x.
func publish(t testing.TB, x *witness.Index, sync types.NamespacedName, commit string, objs []*unstructured.Unstructured) {
	t.Helper()
	if err := x.Publish(sync, commit, objs); err != nil {
		t.Fatal(err)
	}
}

// unverified returns the UnverifiedAgentWrite records of user about the object named name.
func (e *events) unverified(user, name string) []audit.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []audit.Event
	for _, x := range e.all {
		if x.Kind == audit.UnverifiedAgentWrite && x.Actor.User == user && x.Object.Name == name {
			out = append(out, x)
		}
	}
	return out
}

// count is the number of records of any kind about the object named name.
func (e *events) count(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, x := range e.all {
		if x.Object.Name == name {
			n++
		}
	}
	return n
}
