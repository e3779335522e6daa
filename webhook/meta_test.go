package webhook

import (
	"bytes"
	"encoding/json"
	"maps"
	"testing"

	sigsjson "sigs.k8s.io/json"
)

func TestMetaReadsOnlyMetadata(t *testing.T) {
	for _, c := range []struct {
		name, in        string
		wantName, label string
	}{
		{"deployment", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","managedFields":[{"manager":"x","fieldsV1":{"f:spec":{}}}],"labels":{"app":"web"},"annotations":{"a":"b"}},"spec":{"replicas":3}}`, "web", "web"},
		{"metadata last, nested strings with braces and quotes", `{"spec":{"s":"}{\"]["},"data":[1,true,null,{"x":"y"}],"metadata":{"labels":{"app":"q\"uote"},"name":"n"}}`, "n", `q"uote`},
		{"whitespace", " {\n \"metadata\" : { \"name\" : \"w\" , \"labels\" : { \"app\" : \"s\" } } }\n", "w", "s"},
		{"no metadata", `{"kind":"Status","code":403}`, "", ""},
		{"empty object", `{}`, "", ""},
		// Keys are case-sensitive, as the apiserver reads them: a custom resource preserving
		// unknown fields may carry METADATA, which is not the object's metadata.
		{"look-alike key", `{"metadata":{"name":"real","labels":{"app":"tracked"}},"METADATA":{"name":"fake","labels":{"app":"evil"}}}`, "real", "tracked"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := meta([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if m.name != c.wantName || m.Labels["app"] != c.label {
				t.Errorf("got name %q labels %v", m.name, m.Labels)
			}
		})
	}
	for _, bad := range []string{`[1,2]`, `{"metadata":`, `{"metadata":{"name":"x"`, `{"a" 1}`, `{"a":1,}`, `"str"`, `{"metadata":{"labels":{"a":1}}}`} {
		if _, err := meta([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// FuzzMeta checks meta against the apiserver's own case-sensitive JSON decoding on every
// well-formed object the fuzzer finds (without \u escapes, which the apiserver never writes in
// keys, and with one metadata key). encoding/json would match "METADATA" too: a custom resource
// that preserves unknown fields could carry such a key, and only "metadata" is the object's.
func FuzzMeta(f *testing.F) {
	for _, s := range []string{
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","labels":{"x":"y"},"annotations":{"k":"v\"}"}},"data":{"k":"{["}}`,
		`{"metadata":{"name":"b","managedFields":[{"a":[1,2,{"b":null}]}]}}`,
		`{"spec":[],"metadata":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := meta(in) // never panics
		trimmed := bytes.TrimSpace(in)
		if !json.Valid(in) || len(trimmed) == 0 || trimmed[0] != '{' || bytes.Contains(in, []byte(`\u`)) || bytes.Count(in, []byte(`"metadata"`)) > 1 {
			return
		}
		var ref struct {
			Metadata struct {
				Name        string            `json:"name"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		refErr := sigsjson.UnmarshalCaseSensitivePreserveInts(in, &ref)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("meta error %v, case-sensitive decoding error %v, on %s", err, refErr, in)
		}
		if err == nil && (got.name != ref.Metadata.Name || !maps.Equal(got.Labels, ref.Metadata.Labels) || !maps.Equal(got.Annotations, ref.Metadata.Annotations)) {
			t.Fatalf("meta %q %v %v, case-sensitive decoding %q %v %v, on %s", got.name, got.Labels, got.Annotations, ref.Metadata.Name, ref.Metadata.Labels, ref.Metadata.Annotations, in)
		}
	})
}
