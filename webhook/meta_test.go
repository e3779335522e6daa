package webhook

import (
	"bytes"
	"encoding/json"
	"maps"
	"testing"

	sigsjson "sigs.k8s.io/json"

	"writ.dev/writ/wellknown"
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
			m, err := meta([]byte(c.in), true)
			if err != nil {
				t.Fatal(err)
			}
			if m.name != c.wantName || m.Labels["app"] != c.label {
				t.Errorf("got name %q labels %v", m.name, m.Labels)
			}
		})
	}
	for _, bad := range []string{`[1,2]`, `{"metadata":`, `{"metadata":{"name":"x"`, `{"a" 1}`, `{"a":1,}`, `"str"`, `{"metadata":{"labels":{"a":1}}}`} {
		for _, all := range []bool{true, false} {
			if _, err := meta([]byte(bad), all); err == nil {
				t.Errorf("%s (all labels %v): accepted", bad, all)
			}
		}
	}
}

// Only the keys the guard decides on are kept, however they are spelled in JSON; a Namespace
// keeps every label.
func TestMetaKeepsWhatTheGuardReads(t *testing.T) {
	in := `{"metadata":{"name":"web","labels":{"app":"web","writ.dev\/managed":"true","app.kubernetes.io/instance":"shop"},` +
		`"annotations":{"deployment.kubernetes.io/revision":"7","writ.dev/source":"https://git/x","argocd.argoproj.io/tracking-id":null}}}`
	m, err := meta([]byte(in), false)
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{wellknown.ManagedLabel: "true", "app.kubernetes.io/instance": "shop"}
	wantAnn := map[string]string{wellknown.SourceAnnotation: "https://git/x", "argocd.argoproj.io/tracking-id": ""}
	if !maps.Equal(m.Labels, wantLabels) || !maps.Equal(m.Annotations, wantAnn) || m.name != "web" || !(&Policy{}).tracks(m) {
		t.Errorf("kept labels %v annotations %v name %q", m.Labels, m.Annotations, m.name)
	}
	if m, err = meta([]byte(in), true); err != nil || len(m.Labels) != 3 || m.Labels["app"] != "web" || len(m.Annotations) != 2 {
		t.Errorf("a namespace's labels %v annotations %v (%v): want every label", m.Labels, m.Annotations, err)
	}
	if m, err = meta([]byte(`{"metadata":{"labels":{"app":"web"}}}`), false); err != nil || m.Labels != nil || (&Policy{argoCDLabels: true}).tracks(m) {
		t.Errorf("no kept key: labels %v (%v)", m.Labels, err)
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
		for _, allLabels := range []bool{true, false} { // a Namespace's metadata, and any other
			fuzzMeta(t, in, allLabels)
		}
	})
}

// kept is m with only the keys in keep.
func kept(m map[string]string, keep map[string]bool) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if keep[k] {
			out[k] = v
		}
	}
	return out
}

func fuzzMeta(t *testing.T, in []byte, allLabels bool) {
	got, err := meta(in, allLabels) // never panics
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
	wantLabels, wantAnn := ref.Metadata.Labels, kept(ref.Metadata.Annotations, keptAnnotations)
	if !allLabels {
		wantLabels = kept(wantLabels, keptLabels)
	}
	if err == nil && (got.name != ref.Metadata.Name || !maps.Equal(got.Labels, wantLabels) || !maps.Equal(got.Annotations, wantAnn)) {
		t.Fatalf("meta (all labels %v) %q %v %v, case-sensitive decoding %q %v %v, on %s", allLabels, got.name, got.Labels, got.Annotations, ref.Metadata.Name, wantLabels, wantAnn, in)
	}
}

// meta finds uid and resourceVersion for the guard's records of writes, decoded only when asked,
// and a missing, null or non-string one reads as "".
func TestMetaUIDAndResourceVersion(t *testing.T) {
	for _, c := range []struct {
		raw, uid, rv string
	}{
		{`{"metadata":{"uid":"4b1e-9","resourceVersion":"1234","name":"x"}}`, "4b1e-9", "1234"},
		{`{"metadata":{"uid":"a\u0062c","resourceVersion":"7"}}`, "abc", "7"},
		{`{"metadata":{"name":"x"}}`, "", ""},
		{`{"metadata":{"uid":null,"resourceVersion":12}}`, "", ""},
		{`{"spec":{"uid":"not-metadata"}}`, "", ""},
	} {
		m, err := meta([]byte(c.raw), false)
		if err != nil {
			t.Fatalf("%s: %v", c.raw, err)
		}
		if m.UID() != c.uid || m.ResourceVersion() != c.rv {
			t.Errorf("%s: uid %q, resourceVersion %q; want %q, %q", c.raw, m.UID(), m.ResourceVersion(), c.uid, c.rv)
		}
	}
	var none *ObjectMeta
	if none.UID() != "" || none.ResourceVersion() != "" {
		t.Error("an absent object has a uid or resourceVersion")
	}
	r := &Request{Options: []byte(`{"kind":"UpdateOptions","fieldManager":"kubectl-edit"}`)}
	if r.FieldManager() != "kubectl-edit" {
		t.Errorf("field manager %q", r.FieldManager())
	}
	for _, o := range []string{"", `{}`, `not json`} {
		if m := (&Request{Options: []byte(o)}).FieldManager(); m != "" {
			t.Errorf("options %q: field manager %q", o, m)
		}
	}
}
