package postgres

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"writ.dev/writ/audit"
)

func canonical(t testing.TB, e audit.Event) []byte {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// full is an event with every field set.
func full() audit.Event {
	return audit.Event{
		Seq: 42, Time: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("", 5400)), Kind: audit.SyncApplied,
		Actor:     audit.Actor{User: "system:serviceaccount:writ:agent", Groups: []string{"a", "b"}, ServiceAccount: "writ/agent"},
		Object:    audit.ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "ns", Name: "web", Subresource: "scale"},
		Operation: "apply", Commit: "0123abcd", Repository: "https://git.example/r.git",
		Signers: []string{"SHA256:x"}, Approvers: []string{"bob", "carol"},
		Policy: "p", Reason: "ünïcode ✓", BreakGlass: "bg-1", Fields: []string{".spec.replicas"},
		Digests: map[string]string{"b": "sha256:2", "a": "sha256:1"}, Objects: map[string]int{"created": 3, "pruned": 0},
		Count: -7, Criteria: []audit.Criterion{audit.CC8_1}, PrevHash: "ab", Hash: "cd",
	}
}

func TestDecodeEventFastPath(t *testing.T) {
	for _, e := range []audit.Event{full(), event(3), {Kind: audit.DriftDetected, Time: t0}} {
		b := canonical(t, e)
		var fast audit.Event
		d := newDecoder(b)
		if !d.event(&fast) || d.i != len(b) {
			t.Fatalf("the fast path refused what encoding/json wrote:\n%s", b)
		}
		want, _ := slowDecodeEvent(b)
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("fast decoding differs:\n got %+v\nwant %+v", fast, want)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add(canonical(f, full()))
	f.Add(canonical(f, event(1)))
	for _, s := range []string{`{}`, `{"seq":1,"seq":2}`, `{"Reason":"x"}`, `{"reason":"a\u003cb"}`, `{"count":1.5}`,
		`{"seq":01}`, `{"digests":{"a":"1","a":"2"}}`, `{"fields":[]}`, `{"actor":null}`, "{\"reason\":\"\xff\"}", `{"count":-0}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast audit.Event
		d := newDecoder(b)
		if !d.event(&fast) || d.i != len(b) {
			return // falls back to json.Unmarshal
		}
		var want audit.Event
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("fast path accepted what json.Unmarshal rejects (%v): %q", err, b)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("fast path differs from json.Unmarshal on %q:\n got %+v\nwant %+v", b, fast, want)
		}
	})
}
