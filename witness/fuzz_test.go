package witness_test

import (
	"encoding/json"
	"testing"

	"writ.dev/writ/reconcile/declared"
	"writ.dev/writ/witness"
)

// FuzzCheck: whatever JSON an agent sends for shop/web, Check admits it only if it is well-formed
// and the decoded object has no field that differs from what the admitting commit declares
// (declared's Diff on the decoded object, the slow path, agrees), and a denial names a path when
// it says Mismatch. Fail closed: malformed input is never admitted. On valid JSON, a Write marked
// RawValidated (the guard's) gets the same Result.
func FuzzCheck(f *testing.F) {
	x := checkIndex(f)
	declares := map[string]*declared.Fields{}
	for commit, img := range map[string]string{c1: "nginx:1.27", c2: "nginx:1.28"} {
		d, err := declared.Compile(objects(f, deployment(img))[0])
		if err != nil {
			f.Fatal(err)
		}
		declares[commit] = d
	}
	for _, seed := range []string{
		liveDeployment("nginx:1.28", "3"), liveDeployment("nginx:1.27", "3"), liveDeployment("evil:1", "3"),
		liveDeployment("nginx:1.28", "3.0"), liveDeployment("nginx:1.28", "10"),
	} {
		f.Add(applied(f, seed, deployment("nginx:1.28")))
	}
	f.Add([]byte(`{"spec":{"replicas":3,"replicas":4}}`))
	f.Add([]byte(`{"spec":{"replicas":3`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := x.Check(witness.Write{Operation: witness.Update, Object: webKey, Sync: shop, Raw: raw})
		if json.Valid(raw) { // what the guard sends: the same decision without validating again
			if rv := x.Check(witness.Write{Operation: witness.Update, Object: webKey, Sync: shop, Raw: raw, RawValidated: true}); rv != r {
				t.Fatalf("with RawValidated, Check = %+v, without %+v: %s", rv, r, raw)
			}
		}
		switch {
		case r.Allowed:
			var live map[string]any
			if err := json.Unmarshal(raw, &live); err != nil {
				t.Fatalf("admitted JSON encoding/json rejects (%v): %s", err, raw)
			}
			f, ok := declares[r.Commit]
			if r.Reason != witness.Declared || !ok {
				t.Fatalf("admitted as %+v", r)
			}
			if d := f.Diff(live); len(d) > 0 {
				t.Fatalf("admitted by %s, whose Diff on the decoded object is %q: %s", r.Commit, d, raw)
			}
		case r.Reason == witness.Mismatch:
			if r.Path == "" || r.Commit != c2 {
				t.Fatalf("a Mismatch without a path or against %q: %+v", r.Commit, r)
			}
		case r.Reason == witness.UndeclaredField:
			if r.Path == "" || r.Manager == "" {
				t.Fatalf("an UndeclaredField without a path or a manager: %+v", r)
			}
		case r.Reason != witness.Malformed && r.Reason != witness.NoManagedFields:
			t.Fatalf("reason %s for an object both commits declare", r.Reason)
		}
	})
}
