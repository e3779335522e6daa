package render

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRenderPlain: a manifest file in a repository is anyone's text; rendering it must never
// panic, and whatever it returns must be valid objects that marshal to JSON.
func FuzzRenderPlain(f *testing.F) {
	f.Add([]byte(configMap("a")), false)
	f.Add([]byte(docs(deployment("web"), service("web"), "# comment only\n", "")), false)
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- 3\n"), false)
	f.Add([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: '!!!'}\n"), false)
	f.Add([]byte("a: &a [x, *a]\n"), false)
	f.Add([]byte("? [a, b]\n: c\n1: 2\n.5: x\n~: y\ndate: 2001-12-14\nbin: !!binary aGVsbG8=\nn: .nan\n"), false)
	f.Add([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j"},"data":{"n":1e400}}`), true)
	f.Add([]byte(`[1, 2] {"a": 18446744073709551616}`), true)
	root := f.TempDir() // one per fuzzing process; the fuzz function runs one input at a time
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		name, other := "m.yaml", "m.json"
		if asJSON {
			name, other = other, name
		}
		os.Remove(filepath.Join(root, other))
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		objs, err := Render(context.Background(), Options{Root: root, TargetNamespace: "fuzz"})
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
				t.Fatalf("object without apiVersion, kind or name: %v", o.Object)
			}
			_ = o.DeepCopy() // panics on a value unstructured objects cannot hold
			if _, err := json.Marshal(o.Object); err != nil {
				t.Fatalf("object does not marshal: %v", err)
			}
		}
	})
}
