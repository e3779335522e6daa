package render

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestKustomize(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]string{
		"base/kustomization.yaml": "resources: [deployment.yaml, service.yaml]\n",
		"base/deployment.yaml": deployment("web") + `        envFrom:
        - configMapRef: {name: settings}
`,
		"base/service.yaml": service("web"),
		"clusters/prod/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../../base
namePrefix: prod-
commonLabels:
  env: prod
patches:
- path: replicas.yaml
configMapGenerator:
- name: settings
  literals: [LOG_LEVEL=info]
  files: [app.properties]
`,
		"clusters/prod/replicas.yaml":  "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n",
		"clusters/prod/app.properties": "color=blue\n",
	})
	objs, err := Render(context.Background(), Options{Root: root, Path: "clusters/prod", TargetNamespace: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	got := ids(objs)
	if len(got) != 3 || !strings.HasPrefix(got[0], "ConfigMap prod/prod-settings-") || got[1] != "Service prod/prod-web" || got[2] != "Deployment prod/prod-web" {
		t.Fatalf("got %q, want the generated ConfigMap, then Service and Deployment prod-web in namespace prod", got)
	}
	cmName := objs[0].GetName()
	if data, _, _ := unstructured.NestedStringMap(objs[0].Object, "data"); data["LOG_LEVEL"] != "info" || data["app.properties"] != "color=blue\n" {
		t.Errorf("generated data = %v", data)
	}
	d := objs[2]
	if n, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); n != 3 {
		t.Errorf("replicas = %d, want 3 from the patch", n)
	}
	if d.GetLabels()["env"] != "prod" {
		t.Errorf("labels = %v, want env=prod", d.GetLabels())
	}
	if sel, _, _ := unstructured.NestedStringMap(d.Object, "spec", "selector", "matchLabels"); sel["env"] != "prod" {
		t.Errorf("selector = %v, want env=prod from commonLabels", sel)
	}
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	envFrom, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "envFrom")
	if name, _, _ := unstructured.NestedString(envFrom[0].(map[string]any), "configMapRef", "name"); name != cmName {
		t.Errorf("envFrom refers to %q, want the generated %q", name, cmName)
	}
}

func TestKustomizeFileNames(t *testing.T) {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		t.Run(name, func(t *testing.T) {
			root := writeTree(t, t.TempDir(), map[string]string{name: "resources: [cm.yaml]\n", "cm.yaml": configMap("a"), "other.yaml": configMap("b")})
			objs, err := Render(context.Background(), Options{Root: root})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(objs); !slices.Equal(got, []string{"ConfigMap a"}) {
				t.Errorf("got %q: only what the kustomization lists", got)
			}
		})
	}
}

func TestKustomizeErrors(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		link     [2]string // optional symlink: target, name (relative to repo)
		sentinel error
		want     []string
	}{{
		name:     "a base outside the root",
		files:    map[string]string{"repo/app/kustomization.yaml": "resources: [../../outside]\n"},
		sentinel: ErrOutsideRoot,
		want:     []string{`app/kustomization.yaml: "../../outside": leads outside the repository root`},
	}, {
		name:     "a nested base outside the root",
		files:    map[string]string{"repo/app/kustomization.yaml": "resources: [../base]\n", "repo/base/kustomization.yaml": "resources: [../../outside/cm.yaml]\n"},
		sentinel: ErrOutsideRoot,
		want:     []string{`base/kustomization.yaml: "../../outside/cm.yaml": leads outside the repository root`},
	}, {
		name:     "a patch outside the root",
		files:    map[string]string{"repo/app/kustomization.yaml": "resources: [cm.yaml]\npatches:\n- path: ../../outside/cm.yaml\n", "repo/app/cm.yaml": configMap("a")},
		sentinel: ErrOutsideRoot,
		want:     []string{"app/kustomization.yaml: ", "../outside/cm.yaml: leads outside the repository root"},
	}, {
		name:     "a generator file outside the root",
		files:    map[string]string{"repo/kustomization.yaml": "configMapGenerator:\n- name: x\n  files: [../outside/cm.yaml]\n"},
		sentinel: ErrOutsideRoot,
		want:     []string{"kustomization.yaml: ", "../outside/cm.yaml: leads outside the repository root"},
	}, {
		name:     "a resource symlink leaving the root",
		files:    map[string]string{"repo/kustomization.yaml": "resources: [cm.yaml]\n"},
		link:     [2]string{"../outside/cm.yaml", "cm.yaml"},
		sentinel: ErrOutsideRoot,
		want:     []string{`kustomization.yaml: "cm.yaml": leads outside the repository root`},
	}, {
		name:     "broken kustomization YAML",
		files:    map[string]string{"repo/app/kustomization.yaml": "resources:\n- a.yaml\n  b: c: d\n"},
		sentinel: ErrInvalid,
		want:     []string{"app/kustomization.yaml: ", "line 3"},
	}, {
		name:     "unknown kustomization field",
		files:    map[string]string{"repo/kustomization.yaml": "resourcez: [a.yaml]\n"},
		sentinel: ErrInvalid,
		want:     []string{"kustomization.yaml: ", `unknown field "resourcez"`},
	}, {
		name:     "broken resource YAML",
		files:    map[string]string{"repo/app/kustomization.yaml": "resources: [web.yaml]\n", "repo/app/web.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a: b\n"},
		sentinel: ErrInvalid,
		want:     []string{"app/kustomization.yaml: ", "web.yaml"},
	}, {
		name:     "a missing resource",
		files:    map[string]string{"repo/kustomization.yaml": "resources: [gone.yaml]\n"},
		sentinel: ErrInvalid,
		want:     []string{`kustomization.yaml: "gone.yaml" does not exist`},
	}, {
		name:     "helm charts",
		files:    map[string]string{"repo/kustomization.yaml": "helmCharts:\n- name: web\n  repo: oci://registry.example/charts\n"},
		sentinel: ErrInvalid,
		want:     []string{"kustomization.yaml: helmCharts are not supported"},
	}, {
		name:     "a duplicate inside the build",
		files:    map[string]string{"repo/kustomization.yaml": "resources: [a.yaml, b.yaml]\n", "repo/a.yaml": configMap("same"), "repo/b.yaml": configMap("same")},
		sentinel: ErrInvalid,
		want:     []string{"kustomization.yaml: ", "already registered id"},
	}, {
		name:     "a Secret with bad base64 names the kustomization and key, not the value",
		files:    map[string]string{"repo/kustomization.yaml": "resources: [s.yaml]\n", "repo/s.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\ndata: {password: hunter2-not-base64!}\n"},
		sentinel: ErrInvalid,
		want:     []string{`kustomization.yaml: secret creds: data key "password" is not valid base64`},
	}, {
		name:     "an object without a name",
		files:    map[string]string{"repo/kustomization.yaml": "resources: [a.yaml]\n", "repo/a.yaml": "apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n"},
		sentinel: ErrInvalid,
		want:     []string{"kustomization.yaml: "},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := writeTree(t, t.TempDir(), tt.files)
			writeTree(t, base, map[string]string{"outside/cm.yaml": configMap("stolen")})
			root := filepath.Join(base, "repo")
			if tt.link[1] != "" {
				if err := os.Symlink(tt.link[0], filepath.Join(root, tt.link[1])); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Render(context.Background(), Options{Root: root})
			checkErr(t, err, tt.sentinel, tt.want, base)
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q quotes Secret data", err)
			}
		})
	}
}

// TestKustomizeRemote: remote references fail at once with ErrRemote, before Kustomize could
// fetch them over HTTP or run git. A proxy listener and a fake git on PATH catch any attempt.
func TestKustomizeRemote(t *testing.T) {
	proxy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	dialed := make(chan struct{}, 1)
	go func() {
		if c, err := proxy.Accept(); err == nil {
			dialed <- struct{}{}
			c.Close()
		}
	}()
	t.Setenv("HTTPS_PROXY", "http://"+proxy.Addr().String())
	t.Setenv("HTTP_PROXY", "http://"+proxy.Addr().String())
	bin := t.TempDir()
	marker := filepath.Join(bin, "git-ran")
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte("#!/bin/sh\ntouch "+marker+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)

	tests := []struct{ name, kustomization string }{
		{"git repository over https", "resources:\n- https://github.com/org/repo//deploy?ref=v1.0.0\n"},
		{"remote file", "resources: [https://raw.example.com/org/repo/main/cm.yaml]\n"},
		{"github shorthand", "resources: [github.com/org/repo/deploy]\n"},
		{"scp-like address", "resources: ['git@github.com:org/repo.git/deploy']\n"},
		{"forced git protocol", "resources: ['git::https://example.com/org/repo']\n"},
		{"ssh URL", "resources: ['ssh://git@example.com/org/repo.git']\n"},
		{"local clone URL", "resources: ['file:///srv/git/repo']\n"},
		{"component", "components: [https://github.com/org/components//logging]\n"},
		{"deprecated bases", "bases: [github.com/org/repo/base]\n"},
		{"patch", "patches:\n- path: https://example.com/patch.yaml\n"},
		{"strategic merge patch", "patchesStrategicMerge: [https://example.com/patch.yaml]\n"},
		{"crds", "crds: [https://example.com/crd.json]\n"},
		{"configMapGenerator file", "configMapGenerator:\n- name: x\n  files: [key=https://example.com/app.properties]\n"},
		{"secretGenerator env", "secretGenerator:\n- name: x\n  envs: [https://example.com/.env]\n"},
		{"openapi", "openapi:\n  path: https://example.com/schema.json\n"},
		{"generator configuration file", "generators: [gen.yaml]\n"},
		{"inline transformer configuration", "transformers:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  path: https://example.com/patch.yaml\n"},
		{"nested base", "resources: [nested]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, t.TempDir(), map[string]string{
				"app/kustomization.yaml":        tt.kustomization,
				"app/gen.yaml":                  "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: g}\nfiles: [https://example.com/a.txt]\n",
				"app/nested/kustomization.yaml": "resources: [https://github.com/org/repo//base]\n",
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			_, err := Render(ctx, Options{Root: root, Path: "app"})
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("took %v: remote references must fail without waiting on the network", elapsed)
			}
			checkErr(t, err, ErrRemote, []string{"kustomization.yaml: ", "vendor it into the repository"}, root)
		})
	}
	select {
	case <-dialed:
		t.Error("a network connection was attempted")
	default:
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Error("git was run")
	}
}

// TestKustomizeNoExec: KRM functions and exec plugins stay disabled.
func TestKustomizeNoExec(t *testing.T) {
	root := t.TempDir()
	marker := filepath.Join(root, "ran")
	writeTree(t, root, map[string]string{
		"kustomization.yaml": "resources: [cm.yaml]\ntransformers: [fn.yaml]\n",
		"cm.yaml":            configMap("a"),
		"fn.yaml": `apiVersion: example.com/v1
kind: Evil
metadata:
  name: evil
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: ./fn.sh
`,
		"fn.sh": "#!/bin/sh\ntouch " + marker + "\n",
	})
	os.Chmod(filepath.Join(root, "fn.sh"), 0o755)
	_, err := Render(context.Background(), Options{Root: root})
	if err == nil {
		t.Fatal("an exec function was accepted")
	}
	t.Log(err)
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Error("the exec function ran")
	}
}
