package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestRenderPlain(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		path  string
		want  []string
	}{{
		name: "nested directories in path order, multi-document files",
		files: map[string]string{
			"b.yaml":          docs(configMap("b1"), configMap("b2")),
			"a/z.yml":         configMap("az"),
			"a/deep/x.yaml":   configMap("adx"),
			"c.json":          `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cj"}}`,
			"README.md":       "# not a manifest\n",
			"notes.txt":       "kind: Nope\n",
			".github/ci.yaml": "on: push\n",
			".hidden.yaml":    "not: an object\n",
		},
		want: []string{"ConfigMap adx", "ConfigMap az", "ConfigMap b1", "ConfigMap b2", "ConfigMap cj"},
	}, {
		name: "empty and comments-only documents are skipped",
		files: map[string]string{
			"m.yaml":     "---\n# just a comment\n---\n\n---\n" + configMap("one") + "---\n# trailing\n",
			"empty.yaml": "",
			"only.yml":   "# nothing here\n",
			"null.json":  "null\n",
		},
		want: []string{"ConfigMap one"},
	}, {
		name: "List kinds are expanded in place",
		files: map[string]string{
			"list.yaml": `apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: first}}
- {apiVersion: v1, kind: Service, metadata: {name: second}, spec: {ports: [{port: 80}]}}
---
apiVersion: v1
kind: ConfigMapList
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: third}}
`,
		},
		want: []string{"ConfigMap first", "Service second", "ConfigMap third"},
	}, {
		name: "a JSON stream holds several documents",
		files: map[string]string{
			"s.json": "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"j1\"}}\n" +
				"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"j2\"}}]}\n",
		},
		want: []string{"ConfigMap j1", "ConfigMap j2"},
	}, {
		name: "only the sync path is read",
		files: map[string]string{
			"clusters/prod/a.yaml":    configMap("prod"),
			"clusters/staging/a.yaml": configMap("staging"),
		},
		path: "clusters/prod",
		want: []string{"ConfigMap prod"},
	}, {
		name:  "the path may name a single file",
		files: map[string]string{"x/one.yaml": configMap("one"), "x/two.yaml": configMap("two")},
		path:  "x/two.yaml",
		want:  []string{"ConfigMap two"},
	}, {
		name: "a subdirectory with a kustomization is built as one unit",
		files: map[string]string{
			"a.yaml":                  configMap("plain"),
			"app/kustomization.yaml":  "namePrefix: k-\nresources: [cm.yaml]\n",
			"app/cm.yaml":             configMap("cm"),
			"app/not-a-resource.yaml": "this file is not read: the kustomization does not list it\n",
		},
		want: []string{"ConfigMap plain", "ConfigMap k-cm"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, t.TempDir(), tt.files)
			objs, err := Render(context.Background(), Options{Root: root, Path: tt.path})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(objs); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderValues(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]string{"v.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: values
  annotations:
    date: 2001-12-14
    flag: yes
data:
  9000: default/web:8080
  anchor: &a shared
  alias: *a
`})
	objs, err := Render(context.Background(), Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	o := objs[0]
	if got := o.GetAnnotations(); got["date"] != "2001-12-14" || got["flag"] != "yes" {
		t.Errorf("annotations = %v: timestamps and yes must keep their text", got)
	}
	data, _, _ := unstructured.NestedStringMap(o.Object, "data")
	if data["9000"] != "default/web:8080" || data["alias"] != "shared" {
		t.Errorf("data = %v", data)
	}
	_ = o.DeepCopy() // panics on a value unstructured cannot hold
}

func TestRenderErrors(t *testing.T) {
	badSecret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ndata:\n  good: aGVsbG8=\n  password: hunter2-not-base64!\n"
	tests := []struct {
		name     string
		files    map[string]string
		path     string
		sentinel error
		want     []string // substrings of the message
		not      string   // must not appear in the message
	}{{
		name: "broken YAML names file, document and line",
		files: map[string]string{"clusters/prod/web.yaml": configMap("ok") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n" +
			"    a: b: c\n"},
		sentinel: ErrInvalid,
		want:     []string{"clusters/prod/web.yaml: document 2: yaml: line 13: mapping values are not allowed in this context"},
	}, {
		name:     "broken JSON names file, document and line",
		files:    map[string]string{"x.json": "{\"apiVersion\": \"v1\",\n\"kind\": \"ConfigMap\",\n\"metadata\": {\"name\": \"a\",}}\n"},
		sentinel: ErrInvalid,
		want:     []string{"x.json: document 1: json: line 3: invalid character"},
	}, {
		name:     "missing name names the file",
		files:    map[string]string{"a.yaml": configMap("ok"), "apps/b.yaml": docs(configMap("fine"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n")},
		sentinel: ErrInvalid,
		want:     []string{"apps/b.yaml: document 2: missing metadata.name"},
	}, {
		name:     "missing kind",
		files:    map[string]string{"a.yaml": "apiVersion: v1\nmetadata: {name: a}\n"},
		sentinel: ErrInvalid,
		want:     []string{"a.yaml: document 1: missing kind"},
	}, {
		name:     "a List item without a name",
		files:    map[string]string{"l.yaml": "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap}\n"},
		sentinel: ErrInvalid,
		want:     []string{"l.yaml: document 1: item 2: missing metadata.name"},
	}, {
		name:     "a document that is not an object",
		files:    map[string]string{"s.yaml": configMap("a") + "---\njust some text\n"},
		sentinel: ErrInvalid,
		want:     []string{"s.yaml: document 2: document is a string, not an object"},
	}, {
		name:     "duplicates name both files",
		files:    map[string]string{"one/a.yaml": configMap("same"), "two/b.yaml": configMap("x") + "---\n" + configMap("same")},
		sentinel: ErrInvalid,
		want:     []string{"duplicate object ConfigMap same", "one/a.yaml (document 1) and in two/b.yaml (document 2)"},
	}, {
		name:     "a Secret with bad base64 names file and key, not the value",
		files:    map[string]string{"s/secret.yaml": badSecret},
		sentinel: ErrInvalid,
		want:     []string{"s/secret.yaml: document 1", `data key "password" is not valid base64`},
		not:      "hunter2",
	}, {
		name:     "a file over the size limit",
		files:    map[string]string{"big.yaml": configMap("big") + "# " + strings.Repeat("x", MaxFileSize) + "\n"},
		sentinel: ErrLimit,
		want:     []string{"big.yaml: file is larger than 10 MiB"},
	}, {
		name:     "more objects than the limit",
		files:    map[string]string{"many.yaml": "apiVersion: v1\nkind: List\nitems:\n" + strings.Repeat("- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n", MaxObjects+1)},
		sentinel: ErrLimit,
		want:     []string{"many.yaml: document 1: item 10001: more than 10000 objects"},
	}, {
		name:     "more documents than the limit, even empty ones",
		files:    map[string]string{"a.yaml": configMap("a"), "b.yaml": strings.Repeat("---\n", MaxObjects+5)},
		sentinel: ErrLimit,
		want:     []string{"b.yaml: document 10001: more than 10000 documents in one file"},
	}, {
		name:     "a path escaping the root",
		files:    map[string]string{"a.yaml": configMap("a")},
		path:     "../..",
		sentinel: ErrOutsideRoot,
		want:     []string{"leads outside the repository root"},
	}, {
		name:     "a path that does not exist",
		files:    map[string]string{"a.yaml": configMap("a")},
		path:     "clusters/gone",
		sentinel: nil,
		want:     []string{`path "clusters/gone" does not exist in the checkout`},
	}, {
		name:     "an absolute path",
		files:    map[string]string{"a.yaml": configMap("a")},
		path:     "/etc",
		sentinel: ErrOutsideRoot,
		want:     []string{`path "/etc" must be relative to the root`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, t.TempDir(), tt.files)
			_, err := Render(context.Background(), Options{Root: root, Path: tt.path})
			checkErr(t, err, tt.sentinel, tt.want, tt.not)
			if strings.Contains(err.Error(), root) {
				t.Errorf("error %q names the absolute root", err)
			}
		})
	}
}

func checkErr(t *testing.T, err, sentinel error, want []string, not string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	t.Log(err)
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("error %q does not wrap %v", err, sentinel)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if not != "" && strings.Contains(err.Error(), not) {
		t.Errorf("error %q contains %q", err, not)
	}
}

func TestRenderSymlinks(t *testing.T) {
	base := t.TempDir()
	writeTree(t, base, map[string]string{"outside/secret.yaml": configMap("stolen"), "repo/in.yaml": configMap("in"), "repo/shared/s.yaml": configMap("shared")})
	root := filepath.Join(base, "repo")
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}

	// Symlinks that stay inside the root are followed; a directory reached twice is read once.
	link("shared", "apps")
	link("in.yaml", "alias.yml")
	link(".", "loop")
	objs, err := Render(context.Background(), Options{Root: root})
	if err == nil {
		t.Fatalf("got %q: the same file through two names must be a duplicate", ids(objs))
	}
	checkErr(t, err, ErrInvalid, []string{"duplicate object ConfigMap in", "alias.yml", "in.yaml"}, "")
	os.Remove(filepath.Join(root, "alias.yml"))
	objs, err = Render(context.Background(), Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(objs), []string{"ConfigMap shared", "ConfigMap in"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	// A symlinked file or directory leaving the root is refused, naming the link.
	for _, tc := range []struct{ target, name string }{
		{filepath.Join(base, "outside", "secret.yaml"), "evil.yaml"},
		{"../outside", "evil-dir"},
		{"/etc/passwd", "notes.txt"},
	} {
		link(tc.target, tc.name)
		_, err := Render(context.Background(), Options{Root: root})
		checkErr(t, err, ErrOutsideRoot, []string{"symlink " + tc.name + ": leads outside"}, base)
		os.Remove(filepath.Join(root, tc.name))
	}

	// The sync path itself may not be a symlink out of the root.
	link("../outside", "escape")
	_, err = Render(context.Background(), Options{Root: root, Path: "escape"})
	checkErr(t, err, ErrOutsideRoot, []string{`path "escape": leads outside the repository root`}, "")
}

func TestTargetNamespace(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]string{
		"a.yaml": docs(configMap("cm"), deployment("web"), service("web"),
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pinned, namespace: other}\n",
			"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n",
			"apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n",
			"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: unknown}\n",
			"apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: told}\n",
			"apiVersion: example.com/v1\nkind: Global\nmetadata: {name: told-cluster}\n"),
	})
	scope := func(gvk schema.GroupVersionKind) (bool, bool) {
		switch gvk.Kind {
		case "Gadget":
			return true, true
		case "Global":
			return false, true
		}
		return false, false
	}
	objs, err := Render(context.Background(), Options{Root: root, TargetNamespace: "team", Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ConfigMap team/cm", "Deployment team/web", "Service team/web", "ConfigMap other/pinned",
		"ClusterRole reader", "Namespace team", "Widget unknown", "Gadget team/told", "Global told-cluster"}
	if got := ids(objs); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	_, err = Render(context.Background(), Options{Root: root, TargetNamespace: "Not_Valid"})
	if err == nil || !strings.Contains(err.Error(), `target namespace "Not_Valid" is invalid`) {
		t.Errorf("err = %v", err)
	}
}

const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

func TestCRDAndCustomResource(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]string{
		"0-widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n",
		"1-crd.yaml":    crd,
		"2-sealed.yaml": "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: s}\nspec:\n  encryptedData: {password: AgBy3i4OJSWK+PiTySYZZA==}\n",
	})
	objs, err := Render(context.Background(), Options{Root: root, TargetNamespace: "apps"})
	if err != nil {
		t.Fatal(err)
	}
	// The CRD in the set makes Widget known as namespaced; SealedSecret is unknown and keeps none.
	want := []string{"Widget apps/w", "CustomResourceDefinition widgets.example.com", "SealedSecret s"}
	if got := ids(objs); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSort(t *testing.T) {
	obj := func(apiVersion, kind, name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetName(name)
		return u
	}
	objs := []*unstructured.Unstructured{
		obj("apps/v1", "Deployment", "web"),
		obj("v1", "Namespace", "b"),
		obj("example.com/v1", "Widget", "w"),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com"),
		obj("v1", "ConfigMap", "cm"),
		obj("v1", "Namespace", "a"),
		obj("example.com/v1", "Namespace", "not-core"),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "gadgets.example.com"),
	}
	Sort(objs)
	want := []string{"CustomResourceDefinition widgets.example.com", "CustomResourceDefinition gadgets.example.com",
		"Namespace b", "Namespace a", "Deployment web", "Widget w", "ConfigMap cm", "Namespace not-core"}
	if got := ids(objs); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRenderContext(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]string{"plain/a.yaml": configMap("a"), "kust/kustomization.yaml": "resources: [a.yaml]\n", "kust/a.yaml": configMap("a")})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, p := range []string{"plain", "kust"} {
		if _, err := Render(ctx, Options{Root: root, Path: p}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", p, err)
		}
	}
}

func TestRESTMapperScope(t *testing.T) {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Global"}, meta.RESTScopeRoot)
	scope := RESTMapperScope(m)
	for _, tc := range []struct {
		kind              string
		namespaced, known bool
	}{{"Widget", true, true}, {"Global", false, true}, {"Missing", false, false}} {
		namespaced, known := scope(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: tc.kind})
		if namespaced != tc.namespaced || known != tc.known {
			t.Errorf("%s: got (%v, %v), want (%v, %v)", tc.kind, namespaced, known, tc.namespaced, tc.known)
		}
	}
}
