package audit

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzDecodeEvent checks the fast event decoder against encoding/json: whatever it accepts,
// json.Unmarshal must accept and decode to the same event.
func FuzzDecodeEvent(f *testing.F) {
	e, _ := Link(Event{
		Kind: MutationDenied, Time: time.Date(2026, 1, 1, 0, 0, 0, 1000, time.UTC),
		Actor:     Actor{User: "user-1@example.com", Groups: []string{"system:authenticated", "devs"}},
		Object:    ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "prod", Name: "web-1"},
		Operation: "UPDATE", Policy: "protect-prod", Reason: "only the GitOps agent may change protected resources",
		Criteria: []Criterion{CC6_1, CC7_2},
	}, 41, "ab")
	full := e
	full.Actor.ServiceAccount = "flux-system/kustomize-controller"
	full.Submitter = Actor{User: "system:serviceaccount:writ-system:writ-webhook", Groups: []string{"system:serviceaccounts"}, ServiceAccount: "writ-system/writ-webhook"}
	full.Object.Subresource = "status"
	full.Commit, full.Repository = "0123abcd", "https://git.example.com/infra.git"
	full.Signers, full.Approvers, full.Fields = []string{"SHA256:abc"}, []string{"bob", "carol"}, []string{"spec.replicas"}
	full.BreakGlass, full.Count = "bg-7", 3
	full.Digests = map[string]string{"data.a": "sha256:00", "data.b": "sha256:11"}
	full.Objects = map[string]int{"created": 2, "pruned": -1}
	for _, ev := range []Event{e, full, {Kind: SyncApplied}} {
		b, _ := json.Marshal(ev)
		f.Add(b)
	}
	f.Add([]byte(`{"seq":1,"time":"2026-01-01T00:00:00+01:00","kind":"X","reason":"caf\u00e9 <b>"}`))
	f.Add([]byte(`{"Seq":1,"time":"2026-01-01T00:00:00Z","kind":"X","digests":{"b":"1","a":"2"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast, slow Event
		if !fastDecodeEvent(data, &fast) {
			_ = DecodeEvent(data, &fast) // the fallback must not panic either
			return
		}
		if err := json.Unmarshal(data, &slow); err != nil {
			t.Fatalf("fast decoder accepted what encoding/json rejects (%v): %q", err, data)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast decoder disagrees with encoding/json on %q:\n fast %#v\n json %#v", data, fast, slow)
		}
	})
}

// A record with a submitter decodes on the fast path, to what encoding/json decodes; one without
// encodes exactly as before submitters existed, so records stored earlier keep their hashes.
func TestSubmitterDecodesAndOldRecordsKeepTheirHashes(t *testing.T) {
	e := Event{Kind: SyncApplied, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Actor: Actor{User: "lea"},
		Submitter: Actor{User: "system:serviceaccount:writ-system:writ-reconciler", ServiceAccount: "writ-system/writ-reconciler"},
		Object:    ObjectRef{Kind: "Sync", Name: "shop"}}
	b, _ := json.Marshal(e)
	var fast Event
	if !fastDecodeEvent(b, &fast) || !reflect.DeepEqual(fast, e) {
		t.Fatalf("fast decoder on %s: %+v", b, fast)
	}
	old := e
	old.Submitter = Actor{}
	canon, err := Canonical(old)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"time":"2026-01-01T00:00:00Z","kind":"SyncApplied","actor":{"user":"lea"},"object":{"kind":"Sync","name":"shop"}}`
	if string(canon) != want {
		t.Fatalf("a record without a submitter encodes as\n%s\nwant (as before submitters)\n%s", canon, want)
	}
}
