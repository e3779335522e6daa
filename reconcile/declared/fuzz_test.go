package declared_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"writ.dev/writ/reconcile/declared"
)

// FuzzDiffAgrees compiles a manifest (JSON) and compares it with a live object (JSON) both ways:
// FirstDiffJSON must never panic, must fail on input that is not a well-formed JSON object
// (never report "no difference" for it), and otherwise must name Diff's first path.
// FirstDiffValidJSON must never panic (whatever the input), and on every input json.Valid accepts
// must give exactly FirstDiffJSON's answer, error included. Seeds in
// testdata/fuzz/FuzzDiffAgrees; the benchmark's 20 KB Deployment is added here.
func FuzzDiffAgrees(f *testing.F) {
	if raw, err := os.ReadFile(liveFixture); err == nil {
		if want, err := json.Marshal(obj(f, benchDeployment()).Object); err == nil {
			f.Add(want, raw)
		}
	}
	f.Fuzz(func(t *testing.T, manifest, live []byte) {
		var want map[string]any
		if json.Unmarshal(manifest, &want) != nil || want == nil {
			return
		}
		fields, err := declared.Compile(&unstructured.Unstructured{Object: want})
		if err != nil {
			t.Fatal(err)
		}
		path, differs, err := fields.FirstDiffJSON(live)
		vpath, vdiffers, verr := fields.FirstDiffValidJSON(live) // must not panic on any input
		if json.Valid(live) && (vpath != path || vdiffers != differs || fmt.Sprint(verr) != fmt.Sprint(err)) {
			t.Fatalf("valid JSON: FirstDiffValidJSON = %q, %v, %v; FirstDiffJSON = %q, %v, %v", vpath, vdiffers, verr, path, differs, err)
		}
		var decoded map[string]any
		decodeErr := json.Unmarshal(live, &decoded)
		switch {
		case !json.Valid(live) || !isObject(live):
			if err == nil || !errors.Is(err, declared.ErrMalformed) {
				t.Fatalf("not a well-formed JSON object, but FirstDiffJSON = %q, %v, %v", path, differs, err)
			}
			if differs {
				t.Fatal("an error with a difference")
			}
			return
		case decodeErr != nil: // well formed, but encoding/json refuses it (a number out of range)
			return
		case err != nil:
			t.Fatalf("FirstDiffJSON failed on a JSON object encoding/json decodes: %v", err)
		}
		d := fields.Diff(decoded)
		if differs != (len(d) > 0) || (differs && path != d[0]) {
			t.Fatalf("FirstDiffJSON = %q, %v; Diff = %q", path, differs, d)
		}
	})
}

func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// FuzzGains reads the managedFields of two objects (the one about to be stored, and the stored
// one, possibly empty for a CREATE) and walks what the first gains against the benchmark's
// Deployment manifest: never a panic, whatever the input; malformed JSON is an error, never an
// answer; and on input json.Valid accepts, the walk vouched for (valid) and the checked one give
// the same answer.
func FuzzGains(f *testing.F) {
	if raw, err := os.ReadFile(liveFixture); err == nil {
		f.Add(raw, []byte(nil))
		f.Add(raw, raw)
		f.Add(raw, writChanged(raw))
	}
	f.Add(managed("m Update v1\t"+`{"f:metadata":{"f:labels":{".":{},"f:x":{}}}}`), managed("m Update v1\t"+`{"f:metadata":{"f:labels":{".":{}}}}`))
	fields := compile(f, benchDeployment())
	f.Fuzz(func(t *testing.T, obj, old []byte) {
		if len(old) == 0 {
			old = nil
		}
		type answer struct {
			path, manager string
			undeclared    bool
			err           string
		}
		judge := func(valid bool) answer {
			g, err := declared.GainsOf(obj, old, valid)
			if err != nil {
				return answer{err: "error"}
			}
			path, manager, undeclared, err := fields.FirstUndeclaredGain(g)
			if err != nil {
				return answer{err: "error"}
			}
			return answer{path, manager, undeclared, ""}
		}
		checked, vouched := judge(false), judge(true) // neither may panic
		if !json.Valid(obj) || (old != nil && !json.Valid(old)) {
			return
		}
		if checked != vouched {
			t.Fatalf("valid JSON: vouched %+v, checked %+v", vouched, checked)
		}
	})
}
