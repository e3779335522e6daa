package declared_test

import (
	"bytes"
	"encoding/json"
	"testing"
)

// managedFieldsOf is the JSON of the fixture's metadata.managedFields list, as a slice of raw
// (which is compact, as the apiserver sends it).
func managedFieldsOf(t testing.TB, raw []byte) []byte {
	var obj struct {
		Metadata struct {
			ManagedFields json.RawMessage `json:"managedFields"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || len(obj.Metadata.ManagedFields) == 0 {
		t.Fatalf("the fixture has no managedFields: %v", err)
	}
	at := bytes.Index(raw, obj.Metadata.ManagedFields)
	if at < 0 || raw[at] != '[' {
		t.Fatal("the fixture's managedFields are not where they were read")
	}
	return raw[at : at+len(obj.Metadata.ManagedFields)]
}

// FirstDiffValidJSONRead answers as FirstDiffValidJSON does, and jumps over what the caller read
// instead of walking it: with that span's brackets broken, it still finds the same answers, while
// the walk that reads them does not.
func TestFirstDiffValidJSONReadJumpsOverWhatWasRead(t *testing.T) {
	want, raw := fixture(t)
	bad := bytes.Replace(raw, []byte("bench/worker:1.2.1"), []byte("bench/worker:6.6.6"), 1)
	for _, c := range []struct {
		name string
		raw  []byte
	}{{"match", raw}, {"mismatch", bad}} {
		t.Run(c.name, func(t *testing.T) {
			live := bytes.Clone(c.raw)
			read := managedFieldsOf(t, live)
			wpath, wdiffers, werr := want.FirstDiffValidJSON(live)
			path, differs, err := want.FirstDiffValidJSONRead(live, read)
			if path != wpath || differs != wdiffers || err != nil || werr != nil {
				t.Fatalf("Read = %q, %v, %v; FirstDiffValidJSON = %q, %v, %v", path, differs, err, wpath, wdiffers, werr)
			}
			// A copy of the span is not a slice of live: ignored, the same answer.
			if p, d, err := want.FirstDiffValidJSONRead(live, bytes.Clone(read)); p != wpath || d != wdiffers || err != nil {
				t.Fatalf("with a copy of the span: %q, %v, %v", p, d, err)
			}
			// Break the span's brackets inside (keeping its first and last bytes): only a walk
			// over it can see that.
			for i := 1; i < len(read)-1; i++ {
				if read[i] == '[' || read[i] == '{' {
					read[i] = ' '
				}
			}
			if p, d, err := want.FirstDiffValidJSONRead(live, read); p != wpath || d != wdiffers || err != nil {
				t.Fatalf("jumping over the broken span: %q, %v, %v; want %q, %v", p, d, err, wpath, wdiffers)
			}
			if p, d, err := want.FirstDiffValidJSON(live); err == nil && p == wpath && d == wdiffers {
				t.Fatal("the walk over the broken span gave the same answer: the test shows nothing")
			}
		})
	}
}
