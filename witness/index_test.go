package witness_test

import (
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"writ.dev/writ/witness"
)

// image returns the verdict on an UPDATE of shop/web running image.
func image(x *witness.Index, t testing.TB, img string) witness.Result {
	return x.Check(witness.Write{Operation: witness.Update, Object: webKey, Sync: shop, Raw: webJSON(t, img, "3")})
}

func TestPublish(t *testing.T) {
	type step struct {
		commit string
		images []string // the images shop/web declares in this commit, none for no Deployment
	}
	for _, tc := range []struct {
		name    string
		steps   []step
		allowed map[string]string // image -> the commit that admits it; absent: denied
	}{
		{"one commit", []step{{c1, []string{"nginx:1.27"}}},
			map[string]string{"nginx:1.27": c1}},
		{"a rollout from N to N+1: both admit", []step{{c1, []string{"nginx:1.27"}}, {c2, []string{"nginx:1.28"}}},
			map[string]string{"nginx:1.27": c1, "nginx:1.28": c2}},
		{"N+2: N no longer admits", []step{{c1, []string{"nginx:1.27"}}, {c2, []string{"nginx:1.28"}}, {c3, []string{"nginx:1.29"}}},
			map[string]string{"nginx:1.28": c2, "nginx:1.29": c3}},
		{"the newest commit again replaces without shifting", []step{{c1, []string{"nginx:1.27"}}, {c2, []string{"nginx:1.28"}}, {c2, []string{"nginx:1.30"}}},
			map[string]string{"nginx:1.27": c1, "nginx:1.30": c2}},
		{"an older commit again becomes the newest", []step{{c1, []string{"nginx:1.27"}}, {c2, []string{"nginx:1.28"}}, {c1, []string{"nginx:1.27"}}},
			map[string]string{"nginx:1.27": c1, "nginx:1.28": c2}},
		{"a commit without the object: the previous still admits it", []step{{c1, []string{"nginx:1.27"}}, {c2, nil}},
			map[string]string{"nginx:1.27": c1}},
		{"two commits without it: nothing does", []step{{c1, []string{"nginx:1.27"}}, {c2, nil}, {c3, nil}},
			map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := &witness.Index{}
			for _, s := range tc.steps {
				var docs []string
				for _, img := range s.images {
					docs = append(docs, deployment(img))
				}
				publish(t, x, shop, s.commit, append(docs, service)...)
			}
			for _, img := range []string{"nginx:1.27", "nginx:1.28", "nginx:1.29", "nginx:1.30"} {
				r := image(x, t, img)
				want, ok := tc.allowed[img]
				if r.Allowed != ok || (ok && (r.Commit != want || r.Reason != witness.Declared || r.Sync != shop)) {
					t.Errorf("%s: %+v, want allowed %v by %q", img, r, ok, want)
				}
				if !ok && r.Reason != witness.Mismatch && r.Reason != witness.Undeclared {
					t.Errorf("%s: reason %s, want Mismatch or Undeclared", img, r.Reason)
				}
			}
		})
	}
}

// TestPublishErrors: a Publish that fails names the object and leaves the index as it was.
func TestPublishErrors(t *testing.T) {
	noName := `apiVersion: v1
kind: ConfigMap
metadata: {generateName: x-, namespace: shop}
`
	noKind := `apiVersion: v1
metadata: {name: x, namespace: shop}
`
	for _, tc := range []struct {
		name   string
		sync   types.NamespacedName
		commit string
		objs   []*unstructured.Unstructured
		want   []string
	}{
		{"no Sync name", types.NamespacedName{Namespace: "writ-system"}, c2, nil, []string{"needs a namespace and a name"}},
		{"no Sync namespace", types.NamespacedName{Name: "shop"}, c2, nil, []string{"needs a namespace and a name"}},
		{"no commit", shop, "", nil, []string{"no commit"}},
		{"an object without a name", shop, c2, objects(t, service, noName), []string{"object 1", "no metadata.name", c2}},
		{"an object without a kind", shop, c2, objects(t, noKind), []string{"object 0", "no kind"}},
		{"no object", shop, c2, []*unstructured.Unstructured{nil}, []string{"object 0", "no object"}},
		{"an object declared twice", shop, c2, objects(t, service, configMap("a", "1"), configMap("a", "2")),
			[]string{"object 2 (ConfigMap shop/a)", "declared twice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := &witness.Index{}
			publish(t, x, shop, c1, deployment("nginx:1.27"))
			err := x.Publish(tc.sync, tc.commit, tc.objs)
			if err == nil {
				t.Fatal("Publish succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			// Unchanged: c1 is still the newest and only commit.
			if r := image(x, t, "nginx:1.27"); !r.Allowed || r.Commit != c1 {
				t.Errorf("after the failed Publish: %+v", r)
			}
			if x.Ready(types.NamespacedName{Namespace: "writ-system"}) || x.Ready(types.NamespacedName{Name: "shop"}) {
				t.Error("a failed Publish made a Sync ready")
			}
		})
	}
}

func TestReadyAndForget(t *testing.T) {
	x := &witness.Index{}
	if x.Ready(shop) {
		t.Fatal("an empty index is ready")
	}
	if r := image(x, t, "nginx:1.27"); r.Allowed || r.Reason != witness.NotReady || r.Sync != shop {
		t.Fatalf("before any Publish: %+v", r)
	}
	publish(t, x, shop, c1, deployment("nginx:1.27"))
	publish(t, x, shared, b1, configMap("both", "1"))
	publish(t, x, shop, c2) // a commit that declares nothing still makes an index
	if !x.Ready(shop) || !x.Ready(shared) || x.Ready(late) {
		t.Fatalf("Ready: shop %v, shared %v, late %v", x.Ready(shop), x.Ready(shared), x.Ready(late))
	}
	x.Forget(shop)
	x.Forget(late) // forgetting a Sync with no index does nothing
	if x.Ready(shop) || !x.Ready(shared) {
		t.Fatalf("after Forget(shop): Ready shop %v, shared %v", x.Ready(shop), x.Ready(shared))
	}
	if r := image(x, t, "nginx:1.27"); r.Allowed || r.Reason != witness.NotReady {
		t.Errorf("a forgotten Sync's object: %+v", r)
	}
	if r := x.Check(witness.Write{Operation: witness.Delete, Object: webKey}); r.Allowed || r.Reason != witness.Undeclared {
		t.Errorf("delete of a forgotten Sync's object: %+v", r)
	}
	if r := x.Check(witness.Write{Operation: witness.Update, Object: cmKey("both"), Raw: cmJSON(t, "both", "1")}); !r.Allowed || r.Sync != shared {
		t.Errorf("the other Sync's object after Forget(shop): %+v", r)
	}
}

// TestPublishOneSyncLeavesTheOthers: publishing and forgetting a Sync that declares the same
// object as another keeps the other's declaration.
func TestPublishOneSyncLeavesTheOthers(t *testing.T) {
	x := &witness.Index{}
	publish(t, x, shared, b1, configMap("both", "1"))
	publish(t, x, shop, c1, configMap("both", "2"))
	publish(t, x, shop, c2, configMap("both", "3"))
	publish(t, x, shop, c3, service)
	want := map[string]string{"1": "shared " + b1, "3": "shop " + c2}
	for _, v := range []string{"1", "2", "3"} {
		r := x.Check(witness.Write{Operation: witness.Update, Object: cmKey("both"), Raw: cmJSON(t, "both", v)})
		got := ""
		if r.Allowed {
			got = r.Sync.Name + " " + r.Commit
		}
		if got != want[v] {
			t.Errorf("a: %s: admitted by %q, want %q", v, got, want[v])
		}
	}
	// shared's newest declares it: shop's prune of it is denied.
	if r := x.Check(witness.Write{Operation: witness.Delete, Object: cmKey("both"), Sync: shop}); r.Allowed || r.Reason != witness.DeleteDeclared || r.Sync != shared {
		t.Errorf("delete: %+v", r)
	}
	x.Forget(shared)
	if r := x.Check(witness.Write{Operation: witness.Delete, Object: cmKey("both"), Sync: shop}); !r.Allowed || r.Reason != witness.Prune || r.Commit != c2 {
		t.Errorf("delete after Forget(shared): %+v", r)
	}
}

// TestConcurrentPublishAndCheck: checks running while two commits are published over and over
// always see a whole snapshot (run with -race). Whichever commit is newest, the other is the
// previous one, so both images are always admitted and a third never is.
func TestConcurrentPublishAndCheck(t *testing.T) {
	x := &witness.Index{}
	publish(t, x, shop, c1, deployment("nginx:1.27"))
	publish(t, x, shop, c2, deployment("nginx:1.28"))
	objs := map[string][]*unstructured.Unstructured{
		c1: objects(t, deployment("nginx:1.27"), service),
		c2: objects(t, deployment("nginx:1.28"), service),
	}
	raws := map[string][]byte{}
	for _, img := range []string{"nginx:1.27", "nginx:1.28", "evil:1"} {
		raws[img] = webJSON(t, img, "3")
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 100)
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for img, raw := range raws {
					r := x.Check(witness.Write{Operation: witness.Update, Object: webKey, Sync: shop, Raw: raw})
					if r.Allowed != (img != "evil:1") {
						select {
						case errs <- img + ": " + r.Message():
						default:
						}
					}
				}
				if !x.Ready(shop) {
					select {
					case errs <- "shop is not ready":
					default:
					}
				}
			}
		})
	}
	for i := range 200 {
		commit := []string{c1, c2}[i%2]
		if err := x.Publish(shop, commit, objs[commit]); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			if err := x.Publish(shared, b1, objects(t, configMap("both", "1"))); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestPublishReusesUnchangedManifests: a manifest already compiled for the same object (by this
// Sync's commit before, or by another Sync) is shared, and the verdicts and the commits they name
// stay those of the commits that declare it; forgetting one holder keeps the other's.
func TestPublishReusesUnchangedManifests(t *testing.T) {
	x := &witness.Index{}
	publish(t, x, shared, b1, configMap("both", "1"))
	publish(t, x, shop, c1, configMap("both", "1"))
	publish(t, x, shop, c2, configMap("both", "2"))
	publish(t, x, shop, c3, configMap("both", "1"))
	verdict := func(v string) string {
		r := x.Check(witness.Write{Operation: witness.Update, Object: cmKey("both"), Raw: cmJSON(t, "both", v)})
		if !r.Allowed {
			return ""
		}
		return r.Sync.Name + " " + r.Commit
	}
	if got := verdict("1"); got != "shared "+b1 {
		t.Errorf("a: 1 admitted by %q", got)
	}
	if got := verdict("2"); got != "shop "+c2 {
		t.Errorf("a: 2 admitted by %q", got)
	}
	x.Forget(shared)
	if got := verdict("1"); got != "shop "+c3 {
		t.Errorf("after Forget(shared), a: 1 admitted by %q", got)
	}
	if r := x.Check(witness.Write{Operation: witness.Delete, Object: cmKey("both")}); r.Reason != witness.DeleteDeclared || r.Commit != c3 {
		t.Errorf("delete: %+v", r)
	}
}
