package witness_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"writ.dev/writ/witness"
)

// bigDeployment returns a Deployment as Git declares it (n containers with envs environment
// variables each, volumes, probes) and as the apiserver stores it (defaulted, a sidecar, status;
// managedFields are added by withManagedFields). image is the last container's image in the
// stored object.
func bigDeployment(image string, n, envs int) (want map[string]any, live map[string]any) {
	containers := func(stored bool) []any {
		var cs []any
		for c := range n {
			var env []any
			for e := range envs {
				env = append(env, map[string]any{"name": fmt.Sprintf("SETTING_%02d", e), "value": fmt.Sprintf("value-%d-%d", c, e)})
			}
			img := "registry.example.com/shop/app-" + strconv.Itoa(c) + ":1.4.2"
			if stored && c == n-1 {
				img = image
			}
			ct := map[string]any{
				"name": "app-" + strconv.Itoa(c), "image": img, "env": env,
				"ports":          []any{map[string]any{"name": "http", "containerPort": 8080 + c}},
				"resources":      map[string]any{"requests": map[string]any{"cpu": "0.1", "memory": "64Mi"}, "limits": map[string]any{"cpu": "1", "memory": "256Mi"}},
				"readinessProbe": map[string]any{"httpGet": map[string]any{"path": "/ready", "port": 8080 + c}},
				"volumeMounts":   []any{map[string]any{"name": "config", "mountPath": "/etc/app"}},
			}
			if stored {
				ct["resources"] = map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "64Mi"}, "limits": map[string]any{"cpu": "1", "memory": "256Mi"}}
				ct["imagePullPolicy"] = "IfNotPresent"
				ct["terminationMessagePath"] = "/dev/termination-log"
				ct["terminationMessagePolicy"] = "File"
				ct["ports"] = []any{map[string]any{"name": "http", "containerPort": 8080 + c, "protocol": "TCP"}}
				ct["readinessProbe"] = map[string]any{"httpGet": map[string]any{"path": "/ready", "port": 8080 + c, "scheme": "HTTP"},
					"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
			}
			cs = append(cs, ct)
		}
		if stored {
			cs = append(cs, map[string]any{"name": "mesh-proxy", "image": "proxy:1.20", "args": []any{"--inbound", "15006"}})
		}
		return cs
	}
	meta := func(stored bool) map[string]any {
		m := map[string]any{"name": "web", "namespace": "shop", "labels": map[string]any{"app": "web", "tier": "frontend"}}
		if stored {
			m["labels"] = map[string]any{"app": "web", "tier": "frontend", "writ.dev/managed": "writ-system.shop"}
			m["uid"], m["resourceVersion"], m["generation"] = "6b1f3f0e-58a4-4a55-9d9b-2f3f1c0e8d11", "48213", 7
			m["creationTimestamp"] = "2026-12-01T10:00:00Z"
		}
		return m
	}
	obj := func(stored bool) map[string]any {
		spec := map[string]any{
			"replicas": 3,
			"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "web", "tier": "frontend"}},
				"spec": map[string]any{
					"serviceAccountName": "web", "containers": containers(stored),
					"volumes": []any{map[string]any{"name": "config", "configMap": map[string]any{"name": "web"}}},
				},
			},
		}
		o := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(stored), "spec": spec}
		if stored {
			spec["progressDeadlineSeconds"], spec["revisionHistoryLimit"] = 600, 10
			spec["strategy"] = map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxSurge": "25%", "maxUnavailable": "25%"}}
			o["status"] = map[string]any{"replicas": 3, "readyReplicas": 3, "observedGeneration": 7}
		}
		return o
	}
	return obj(false), obj(true)
}

// BenchmarkCheck measures Check of an agent's UPDATE of a ~20 KB Deployment, in an index that
// also holds 10,000 other objects (two commits of them): the lookup and the streaming
// comparison, which is what the guard adds per agent review (the budget: 20 µs at p99
// for the whole check). The mismatch is in the last container's image, so the whole object is
// read either way. Two shapes of about the same size: eleven containers of 25 environment
// variables, and five of 70 (lists of 32 named elements or more take reconcile/declared's other
// path for telling names apart). The Write is marked RawValidated, as the guard's are (its
// AdmissionReview was decoded, and so validated, by encoding/json), so what no commit declares is
// skipped without validating it again (declared.FirstDiffValidJSON). json-Valid is encoding/json
// only validating the same object, for scale: what validating every byte again would cost. The
// live object is in the apiserver's field order; cpu-ns/op is the thread's CPU time per Check.
func BenchmarkCheck(b *testing.B) {
	for _, shape := range []struct {
		name    string
		n, envs int
	}{{"", 6, 25}, {"-long-lists", 3, 70}} {
		benchCheck(b, shape.name, shape.n, shape.envs)
	}
}

func benchCheck(b *testing.B, shape string, n, envs int) {
	want, _ := bigDeployment("", n, envs)
	x := &witness.Index{}
	objs := append(mixedObjects(10_000), &unstructured.Unstructured{Object: want})
	// Two commits that both declare the Deployment unchanged, as in steady state: a mismatch
	// must compare it once, not once per commit.
	for _, commit := range []string{c1, c2} {
		if err := x.Publish(shop, commit, objs); err != nil {
			b.Fatal(err)
		}
	}
	last := "registry.example.com/shop/app-" + strconv.Itoa(n-1)
	for _, tc := range []struct {
		name, image string
		allowed     bool
	}{
		{"match", last + ":1.4.2", true},
		{"mismatch", last + ":evil", false},
	} {
		b.Run(tc.name+shape, func(b *testing.B) {
			_, live := bigDeployment(tc.image, n, envs)
			raw := storedDeployment(b, withManagedFields(b, want, live))
			// As the guard sends it: the AdmissionReview was decoded with encoding/json; the
			// stored object's managedFields are the new one's (a heal, a re-apply).
			w := witness.Write{Operation: witness.Update, Object: webKey, Sync: shop, Raw: raw, Old: raw, RawValidated: true}
			if r := x.Check(w); r.Allowed != tc.allowed {
				b.Fatalf("%s: %s", tc.name, r.Message())
			}
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			loopCPU(b, func() { x.Check(w) })
			b.ReportMetric(float64(len(raw))/1024, "KiB/object")
		})
	}
	// A CREATE: no stored object, so every field writ's entry owns is walked against the manifest.
	b.Run("match-create"+shape, func(b *testing.B) {
		_, live := bigDeployment(last+":1.4.2", n, envs)
		raw := storedDeployment(b, withManagedFields(b, want, live))
		w := witness.Write{Operation: witness.Create, Object: webKey, Sync: shop, Raw: raw, RawValidated: true}
		if r := x.Check(w); !r.Allowed {
			b.Fatal(r.Message())
		}
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		loopCPU(b, func() { x.Check(w) })
		b.ReportMetric(float64(len(raw))/1024, "KiB/object")
	})
	b.Run("json-Valid"+shape, func(b *testing.B) {
		_, live := bigDeployment(last+":1.4.2", n, envs)
		raw := storedDeployment(b, withManagedFields(b, want, live))
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if !json.Valid(raw) {
				b.Fatal("invalid")
			}
		}
	})
}

// loopCPU runs f in b's loop and reports, besides the wall time, cpu-ns/op: the CPU time the
// benchmark's thread used per call, which the other work on a shared test machine does not
// inflate as it does the wall time.
func loopCPU(b *testing.B, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n := 0
	start, ok := threadCPU()
	for b.Loop() {
		f()
		n++
	}
	if end, ok2 := threadCPU(); ok && ok2 && n > 0 {
		b.ReportMetric(float64(end-start)/float64(n), "cpu-ns/op")
	}
}

// withManagedFields gives live the managedFields entry Writ's server-side apply of want gets.
func withManagedFields(b *testing.B, want, live map[string]any) map[string]any {
	entry := plain(b, writEntry(b, &unstructured.Unstructured{Object: want}))
	live["metadata"].(map[string]any)["managedFields"] = []any{entry}
	return live
}

// storedDeployment is the JSON of the Deployment live as the apiserver writes it: the fields of each
// object in the order of the Go type (metadata.name first, a container's name first), not sorted.
func storedDeployment(b *testing.B, live map[string]any) []byte {
	raw, err := json.Marshal(live)
	if err != nil {
		b.Fatal(err)
	}
	var d appsv1.Deployment
	if err := json.Unmarshal(raw, &d); err != nil {
		b.Fatal(err)
	}
	if raw, err = json.Marshal(&d); err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkCheckLookup measures the index's own part of Check, without a comparison: the lookup
// of an object no commit declares (and of its Sync, to tell Undeclared from NotReady) in an index
// of 10,000 objects. It allocates nothing.
func BenchmarkCheckLookup(b *testing.B) {
	x := &witness.Index{}
	if err := x.Publish(shop, c1, mixedObjects(10_000)); err != nil {
		b.Fatal(err)
	}
	w := witness.Write{Operation: witness.Create, Object: witness.Key{Group: "apps", Kind: "Deployment", Namespace: "team-3", Name: "not-declared"}, Sync: shop, Raw: []byte(`{}`)}
	if r := x.Check(w); r.Reason != witness.Undeclared {
		b.Fatal(r.Message())
	}
	b.ReportAllocs()
	for b.Loop() {
		x.Check(w)
	}
}

// mixedObjects returns n rendered objects of mixed kinds, as a large Sync declares them: 40%
// ConfigMaps, 25% Deployments, 20% Services, 15% RBAC (Roles, RoleBindings, ClusterRoles,
// ClusterRoleBindings).
func mixedObjects(n int) []*unstructured.Unstructured {
	objs := make([]*unstructured.Unstructured, 0, n)
	for i := range n {
		name := "app-" + strconv.Itoa(i)
		ns := "team-" + strconv.Itoa(i%20)
		meta := map[string]any{"name": name, "namespace": ns, "labels": map[string]any{"app": name, "team": ns}}
		var o map[string]any
		switch i % 20 {
		case 0, 1, 2, 3, 4, 5, 6, 7:
			o = map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": map[string]any{
				"LOG_LEVEL": "info", "FEATURE_FLAGS": "a,b,c", "ENDPOINT": "https://" + name + ".example.com", "config.yaml": "listen: :8080\nworkers: 4\n"}}
		case 8, 9, 10, 11, 12:
			o = map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": map[string]any{
				"replicas": int64(2), "selector": map[string]any{"matchLabels": map[string]any{"app": name}},
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": name}}, "spec": map[string]any{
					"containers": []any{map[string]any{"name": "app", "image": "registry.example.com/" + name + ":1.0",
						"ports":     []any{map[string]any{"containerPort": int64(8080)}},
						"env":       []any{map[string]any{"name": "MODE", "value": "prod"}, map[string]any{"name": "PORT", "value": "8080"}},
						"resources": map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "128Mi"}}}}}}}}
		case 13, 14, 15, 16:
			o = map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": map[string]any{
				"selector": map[string]any{"app": name}, "ports": []any{map[string]any{"name": "http", "port": int64(80), "targetPort": int64(8080)}}}}
		case 17:
			o = map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": []any{
				map[string]any{"apiGroups": []any{""}, "resources": []any{"configmaps"}, "verbs": []any{"get", "list", "watch"}}}}
		case 18:
			o = map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
				"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
				"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": name, "namespace": ns}}}
		default:
			kind := []string{"ClusterRole", "ClusterRoleBinding"}[(i/20)%2]
			o = map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": map[string]any{"name": name}}
			if kind == "ClusterRole" {
				o["rules"] = []any{map[string]any{"apiGroups": []any{"apps"}, "resources": []any{"deployments"}, "verbs": []any{"get"}}}
			} else {
				o["roleRef"] = map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
				o["subjects"] = []any{map[string]any{"kind": "ServiceAccount", "name": name, "namespace": ns}}
			}
		}
		objs = append(objs, &unstructured.Unstructured{Object: o})
	}
	return objs
}

// revised returns objs as the next commit declares them: one object in every (every >= 1) gets a
// new annotation, the others are the same manifests.
func revised(objs []*unstructured.Unstructured, every int, rev string) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o
		if i%every == 0 {
			c := o.DeepCopy()
			c.SetAnnotations(map[string]string{"example.com/revision": rev})
			out[i] = c
		}
	}
	return out
}

// BenchmarkPublish10k measures building the index of a 10,000-object commit (the goal: 5 s
// after a new verified commit), and the heap the index then retains (MiB/10k-objects, after a GC;
// the goal is 60 MiB resident):
//   - first: the Sync's first commit, into an empty index (one generation retained);
//   - next-commit: a new commit that changes one object in twenty, over the one before (two
//     generations retained, as in steady state);
//   - every-object-changed: a new commit that changes all of them (two generations retained).
func BenchmarkPublish10k(b *testing.B) {
	base := mixedObjects(10_000)
	for _, tc := range []struct {
		name  string
		every int // 0: no commit before
	}{{"first", 0}, {"next-commit", 20}, {"every-object-changed", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			commits := [][]*unstructured.Unstructured{base}
			if tc.every > 0 {
				commits = [][]*unstructured.Unstructured{revised(base, tc.every, "a"), revised(base, tc.every, "b")}
			}
			build := func() *witness.Index {
				x := &witness.Index{}
				if tc.every > 0 {
					if err := x.Publish(shop, c1, base); err != nil {
						b.Fatal(err)
					}
				}
				return x
			}
			x := build()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if tc.every == 0 {
					x = build() // a first commit every time
				}
				// Alternate two commits, so every Publish is a new commit over the one before.
				if err := x.Publish(shop, []string{c2, c3}[i%2], commits[i%len(commits)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.StopTimer()
			x = nil
			b.ReportMetric(retainedMiB(func() any {
				x := build()
				if err := x.Publish(shop, c2, commits[0]); err != nil {
					b.Fatal(err)
				}
				return x
			}), "MiB/10k-objects")
		})
	}
}

// retainedMiB returns the heap that what build returns keeps alive: the live heap after a GC
// while it is held, less the live heap once it is dropped (so caches that building fills once for
// the process, such as encoding/json's, do not count). Two GCs each time: what a sync.Pool holds
// survives the first.
func retainedMiB(build func() any) float64 {
	live := func() int64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	v := build()
	held := live()
	runtime.KeepAlive(v)
	v = nil
	return float64(held-live()) / (1 << 20)
}
