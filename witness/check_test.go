package witness_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"writ.dev/writ/witness"
)

// checkIndex is the index the Check table runs against:
//   - Sync shop: commit c1 declared web (nginx:1.27), the Secret db and the ConfigMap old; the
//     newest, c2, declares web (nginx:1.28), db, the Service web and the ConfigMap both (a: "2").
//   - Sync shared: commit b1 declares the ConfigMap both (a: "1").
//   - Sync late has no index.
func checkIndex(t testing.TB) *witness.Index {
	x := &witness.Index{}
	publish(t, x, shop, c1, deployment("nginx:1.27"), secret, configMap("old", "x"))
	publish(t, x, shop, c2, deployment("nginx:1.28"), secret, service, configMap("both", "2"))
	publish(t, x, shared, b1, configMap("both", "1"))
	return x
}

func TestCheck(t *testing.T) {
	x := checkIndex(t)
	crb := witness.Key{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding", Name: "agent-admin"}
	crbJSON := `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"agent-admin"},` +
		`"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},` +
		`"subjects":[{"kind":"ServiceAccount","name":"writ-reconciler","namespace":"writ-system"}]}`
	for _, tc := range []struct {
		name   string
		w      witness.Write
		reason witness.Reason
		sync   types.NamespacedName
		commit string
		path   string
	}{
		{"the newest commit's object", witness.Write{Operation: witness.Update, Object: webKey, Sync: shop, Raw: webJSON(t, "nginx:1.28", "3")},
			witness.Declared, shop, c2, ""},
		{"create of the newest commit's object", witness.Write{Operation: witness.Create, Object: webKey, Sync: shop, Raw: webJSON(t, "nginx:1.28", "3")},
			witness.Declared, shop, c2, ""},
		{"the previous commit's object, in a rollout", witness.Write{Operation: witness.Update, Object: webKey, Sync: shop, Raw: webJSON(t, "nginx:1.27", "3")},
			witness.Declared, shop, c1, ""},
		{"an image no commit declares", witness.Write{Operation: witness.Update, Object: webKey, Sync: shop, Raw: webJSON(t, "evil:1", "3")},
			witness.Mismatch, shop, c2, ".spec.template.spec.containers[name=web].image"},
		{"a scale of replicas Git declares", witness.Write{Operation: witness.Update, Object: webKey, Sync: shop, Raw: webJSON(t, "nginx:1.28", "10")},
			witness.Mismatch, shop, c2, ".spec.replicas"},
		{"a cluster-scoped object no commit declares", witness.Write{Operation: witness.Create, Object: crb, Raw: []byte(crbJSON)},
			witness.Undeclared, types.NamespacedName{}, "", ""},
		{"the same name in another namespace", witness.Write{Operation: witness.Update, Object: witness.Key{Group: "apps", Kind: "Deployment", Namespace: "other", Name: "web"}, Raw: webJSON(t, "nginx:1.28", "3")},
			witness.Undeclared, types.NamespacedName{}, "", ""},
		{"the same name in another group", witness.Write{Operation: witness.Update, Object: witness.Key{Group: "extensions", Kind: "Deployment", Namespace: "shop", Name: "web"}, Raw: webJSON(t, "nginx:1.28", "3")},
			witness.Undeclared, types.NamespacedName{}, "", ""},
		{"an object of a Sync with no index", witness.Write{Operation: witness.Create, Object: cmKey("new"), Sync: late, Raw: cmJSON(t, "new", "1")},
			witness.NotReady, late, "", ""},
		{"a declared object that differs, labelled by a Sync with no index", witness.Write{Operation: witness.Update, Object: webKey, Sync: late, Raw: webJSON(t, "evil:1", "3")},
			witness.NotReady, late, "", ""},
		{"an undeclared object labelled by a ready Sync", witness.Write{Operation: witness.Create, Object: cmKey("new"), Sync: shop, Raw: cmJSON(t, "new", "1")},
			witness.Undeclared, types.NamespacedName{}, "", ""},
		{"malformed JSON", witness.Write{Operation: witness.Update, Object: webKey, Sync: shop, Raw: []byte(`{"spec":{"replicas":3`)},
			witness.Malformed, types.NamespacedName{}, "", ""},
		{"malformed after the difference", witness.Write{Operation: witness.Update, Object: cmKey("both"), Raw: []byte(`{"data":{"a":"9"},"x":tru}`)},
			witness.Malformed, types.NamespacedName{}, "", ""},
		{"no object", witness.Write{Operation: witness.Update, Object: webKey, Sync: shop},
			witness.Malformed, types.NamespacedName{}, "", ""},
		{"JSON that is not an object", witness.Write{Operation: witness.Create, Object: webKey, Sync: shop, Raw: []byte(`[1]`)},
			witness.Malformed, types.NamespacedName{}, "", ""},
		{"an operation Check does not judge", witness.Write{Operation: "CONNECT", Object: webKey, Sync: shop, Raw: webJSON(t, "nginx:1.28", "3")},
			witness.Malformed, types.NamespacedName{}, "", ""},
		{"one object of two Syncs, as the first declares it", witness.Write{Operation: witness.Update, Object: cmKey("both"), Raw: cmJSON(t, "both", "1")},
			witness.Declared, shared, b1, ""},
		{"one object of two Syncs, as the second declares it", witness.Write{Operation: witness.Update, Object: cmKey("both"), Raw: cmJSON(t, "both", "2")},
			witness.Declared, shop, c2, ""},
		{"one object of two Syncs, as neither declares it", witness.Write{Operation: witness.Update, Object: cmKey("both"), Raw: cmJSON(t, "both", "3")},
			witness.Mismatch, shared, b1, ".data.a"},
		{"a prune", witness.Write{Operation: witness.Delete, Object: cmKey("old"), Sync: shop},
			witness.Prune, shop, c1, ""},
		{"a delete of what the newest commit declares", witness.Write{Operation: witness.Delete, Object: webKey, Sync: shop},
			witness.DeleteDeclared, shop, c2, ""},
		{"a delete of what one Sync's newest commit declares", witness.Write{Operation: witness.Delete, Object: cmKey("both")},
			witness.DeleteDeclared, shared, b1, ""},
		{"a delete of what no commit declares", witness.Write{Operation: witness.Delete, Object: cmKey("orphan"), Sync: shop},
			witness.Undeclared, types.NamespacedName{}, "", ""},
		{"a delete of an object of a Sync with no index", witness.Write{Operation: witness.Delete, Object: cmKey("orphan"), Sync: late},
			witness.NotReady, late, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := x.Check(tc.w)
			allowed := tc.reason == witness.Declared || tc.reason == witness.Prune
			if r.Allowed != allowed || r.Reason != tc.reason || r.Sync != tc.sync || r.Commit != tc.commit || r.Path != tc.path {
				t.Errorf("Check = %+v\nwant allowed %v, reason %s, sync %q, commit %q, path %q", r, allowed, tc.reason, tc.sync, tc.commit, tc.path)
			}
			if r.Object != tc.w.Object || r.Operation != tc.w.Operation {
				t.Errorf("Check names %s %s, want %s %s", r.Operation, r.Object, tc.w.Operation, tc.w.Object)
			}
			// Bytes the caller has validated (as the guard's are) are judged the same way, and so
			// are the managedFields lists the caller found in them (as the guard does).
			if json.Valid(tc.w.Raw) {
				v := tc.w
				v.RawValidated = true
				if rv := x.Check(v); rv != r {
					t.Errorf("with RawValidated, Check = %+v, without %+v", rv, r)
				}
				var o struct {
					Metadata struct {
						ManagedFields json.RawMessage `json:"managedFields"`
					} `json:"metadata"`
				}
				if json.Unmarshal(tc.w.Raw, &o) == nil && o.Metadata.ManagedFields != nil {
					v.Managed = o.Metadata.ManagedFields
					if rv := x.Check(v); rv != r {
						t.Errorf("with the managedFields list, Check = %+v, without %+v", rv, r)
					}
				}
			}
		})
	}
}

// TestCheckValidatesUnlessTheCallerHas: a Write not marked RawValidated is validated byte by byte,
// so malformed JSON in a field no commit declares is denied as Malformed; marked RawValidated, the
// same bytes are only skipped, which is why the mark is for bytes encoding/json has already
// validated (the guard's decoded AdmissionReview) and nothing else.
func TestCheckValidatesUnlessTheCallerHas(t *testing.T) {
	x := checkIndex(t)
	good := cmJSON(t, "both", "2")
	bad := append(bytes.TrimSuffix(bytes.TrimSpace(good), []byte("}")), []byte(`,"undeclared":{"x":tru,"y":[1 2]}}`)...)
	if json.Valid(bad) {
		t.Fatalf("the test object is valid JSON: %s", bad)
	}
	w := witness.Write{Operation: witness.Update, Object: cmKey("both"), Raw: bad}
	if r := x.Check(w); r.Allowed || r.Reason != witness.Malformed {
		t.Errorf("not marked validated: Check = %+v, want Malformed", r)
	}
	w.RawValidated = true // a broken promise: the undeclared subtree is not looked at
	if r := x.Check(w); !r.Allowed || r.Reason != witness.Declared || r.Commit != c2 {
		t.Errorf("marked validated: Check = %+v, want the skip of the undeclared field to admit it as %s declares", r, c2)
	}
}

// TestCheckASecretNamesTheFieldOnly: a Secret that differs from Git is denied with its field's
// path and the commit, and neither the Result nor its message holds Git's value or the live one.
func TestCheckASecretNamesTheFieldOnly(t *testing.T) {
	x := checkIndex(t)
	raw := []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"shop"},"type":"Opaque",` +
		`"data":{"password":"b3RoZXItcGFzc3dvcmQ="}}`)
	r := x.Check(witness.Write{Operation: witness.Update, Object: secretKey, Sync: shop, Raw: raw})
	if r.Allowed || r.Reason != witness.Mismatch || r.Path != ".data.password" || r.Commit != c2 {
		t.Fatalf("Check = %+v, want a Mismatch at .data.password against %s", r, c2)
	}
	msg := r.Message()
	for _, want := range []string{"Secret shop/db", ".data.password", c2, "the agent's identity was used for a change no verified commit declares"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
	noValue(t, "the message", msg)
	noValue(t, "the Result", fmt.Sprintf("%#v", r))

	// As the apiserver stores what Git declares (stringData merged into data), it is admitted.
	ok := applied(t, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"shop"},"type":"Opaque",`+
		`"data":{"password":"aHVudGVyMi1kby1ub3QtcHJpbnQ="}}`, secret)
	if r := x.Check(witness.Write{Operation: witness.Update, Object: secretKey, Sync: shop, Raw: ok}); !r.Allowed {
		t.Errorf("the declared Secret: %s", r.Message())
	}
	// Malformed JSON: the scanner's error, which may quote a byte of the object, is not carried.
	bad := []byte(`{"data":{"password":"aHVudGVy"x}}`)
	r = x.Check(witness.Write{Operation: witness.Update, Object: secretKey, Sync: shop, Raw: bad})
	if r.Reason != witness.Malformed || strings.Contains(r.Message(), "'x'") {
		t.Errorf("Check = %+v, message %q", r, r.Message())
	}
}

func TestMessage(t *testing.T) {
	x := checkIndex(t)
	denied := "; the agent's identity was used for a change no verified commit declares"
	for _, tc := range []struct {
		w    witness.Write
		want string
	}{
		{witness.Write{Operation: witness.Update, Object: webKey, Raw: webJSON(t, "nginx:1.28", "3")},
			"witness: allowed UPDATE of Deployment.apps shop/web: it is what commit " + c2 + " of Sync writ-system/shop declares"},
		{witness.Write{Operation: witness.Update, Object: webKey, Raw: webJSON(t, "evil:1", "3")},
			"witness: denied UPDATE of Deployment.apps shop/web: field .spec.template.spec.containers[name=web].image differs from what commit " + c2 + " of Sync writ-system/shop declares" + denied},
		{witness.Write{Operation: witness.Create, Object: witness.Key{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding", Name: "x"}, Raw: []byte(`{}`)},
			"witness: denied CREATE of ClusterRoleBinding.rbac.authorization.k8s.io x: no verified commit declares it" + denied},
		{witness.Write{Operation: witness.Delete, Object: cmKey("old")},
			"witness: allowed DELETE of ConfigMap shop/old: a prune: commit " + c1 + " of Sync writ-system/shop declared it and no Sync's newest verified commit does"},
		{witness.Write{Operation: witness.Delete, Object: webKey},
			"witness: denied DELETE of Deployment.apps shop/web: commit " + c2 + " of Sync writ-system/shop still declares it (only an object the newest verified commit no longer declares may be deleted, as a prune)" + denied},
		{witness.Write{Operation: witness.Create, Object: cmKey("n"), Sync: late, Raw: []byte(`{}`)},
			"witness: denied CREATE of ConfigMap shop/n: the witness is not ready: it has no index yet for Sync writ-system/late (it has not yet fetched, verified and rendered a commit of it), and until it has, the agent's writes to its objects are denied" + denied},
		{witness.Write{Operation: witness.Update, Object: webKey, Raw: []byte(`{`)},
			"witness: denied UPDATE of Deployment.apps shop/web: the object's JSON is malformed, so it cannot be compared with what Git declares" + denied},
		{witness.Write{Operation: "CONNECT", Object: webKey},
			"witness: denied CONNECT of Deployment.apps shop/web: the operation is not CREATE, UPDATE or DELETE" + denied},
	} {
		if got := x.Check(tc.w).Message(); got != tc.want {
			t.Errorf("Message:\n got %s\nwant %s", got, tc.want)
		}
	}
	// Why, which the feed fills in for NotReady, replaces the generic explanation; other reasons
	// never show it.
	r := x.Check(witness.Write{Operation: witness.Create, Object: cmKey("n"), Sync: late, Raw: []byte(`{}`)})
	r.Why = "fetch failed: authentication failed"
	if want := "witness: denied CREATE of ConfigMap shop/n: the witness is not ready: it has no index yet for Sync writ-system/late (fetch failed: authentication failed), and until it has, the agent's writes to its objects are denied" + denied; r.Message() != want {
		t.Errorf("Message with Why:\n got %s\nwant %s", r.Message(), want)
	}
	r = x.Check(witness.Write{Operation: witness.Update, Object: webKey, Raw: webJSON(t, "evil:1", "3")})
	if r.Why = "not for a mismatch"; strings.Contains(r.Message(), r.Why) {
		t.Errorf("Why shown for %s: %s", r.Reason, r.Message())
	}
}

// TestCheckLookupAllocatesNothing: the index's part of Check (finding the declarations, telling
// Undeclared from NotReady, a prune) allocates nothing. (An admitted comparison is
// reconcile/declared's and reuses a pooled scanner, which -race drops at random; BenchmarkCheck
// reports its allocations.)
func TestCheckLookupAllocatesNothing(t *testing.T) {
	x := checkIndex(t)
	for _, w := range []witness.Write{
		{Operation: witness.Create, Object: cmKey("new"), Sync: shop, Raw: []byte(`{}`)},
		{Operation: witness.Create, Object: cmKey("new"), Sync: late, Raw: []byte(`{}`)},
		{Operation: witness.Delete, Object: cmKey("old"), Sync: shop},
		{Operation: witness.Delete, Object: webKey, Sync: shop},
	} {
		if n := testing.AllocsPerRun(100, func() { x.Check(w) }); n != 0 {
			t.Errorf("%s %s: %v allocations per Check", w.Operation, w.Object, n)
		}
	}
}

// TestDeclaredValue: a denial's Result leads to the value its commit declares at its path; never
// for a Secret, and not once the declaration is gone from the index.
func TestDeclaredValue(t *testing.T) {
	x := checkIndex(t)
	r := x.Check(witness.Write{Operation: witness.Update, Object: webKey, Sync: shop, Raw: webJSON(t, "evil:1", "3")})
	if v, ok := x.DeclaredValue(r); !ok || v != `"nginx:1.28"` {
		t.Errorf("DeclaredValue(%+v) = %s, %v; want the image commit %s declares", r, v, ok, c2)
	}
	prev := r
	prev.Commit = c1
	if v, ok := x.DeclaredValue(prev); !ok || v != `"nginx:1.27"` {
		t.Errorf("DeclaredValue of the previous commit = %s, %v; want its image", v, ok)
	}
	r = x.Check(witness.Write{Operation: witness.Update, Object: webKey, Sync: shop, Raw: webJSON(t, "nginx:1.28", "10")})
	if v, ok := x.DeclaredValue(r); !ok || v != `3` {
		t.Errorf("DeclaredValue(%+v) = %s, %v; want 3", r, v, ok)
	}
	// A Secret: refused, whatever the path.
	s := x.Check(witness.Write{Operation: witness.Update, Object: secretKey, Sync: shop, Raw: []byte(`{"data":{"password":"eA=="}}`)})
	if s.Reason != witness.Mismatch {
		t.Fatalf("the Secret: %+v", s)
	}
	for _, p := range []string{s.Path, ".data", ".type"} {
		s.Path = p
		if v, ok := x.DeclaredValue(s); ok {
			t.Errorf("DeclaredValue of a Secret at %s = %s", p, v)
		}
	}
	// Not a field the commit declares, another Sync's commit, a Result with no declaration.
	for _, bad := range []witness.Result{
		{Reason: witness.Mismatch, Object: webKey, Sync: shop, Commit: c2, Path: ".spec.paused"},
		{Reason: witness.Mismatch, Object: webKey, Sync: shared, Commit: c2, Path: ".spec.replicas"},
		{Reason: witness.Mismatch, Object: webKey, Sync: shop, Commit: c3, Path: ".spec.replicas"},
		{Reason: witness.Undeclared, Object: cmKey("new")},
		{Reason: witness.Mismatch, Object: webKey, Sync: shop, Commit: c2},
	} {
		if v, ok := x.DeclaredValue(bad); ok {
			t.Errorf("DeclaredValue(%+v) = %s, want refused", bad, v)
		}
	}
	// The declaration gone: c1 is dropped by the next commit, then the Sync is forgotten.
	publish(t, x, shop, c3, deployment("nginx:1.29"))
	if v, ok := x.DeclaredValue(prev); ok {
		t.Errorf("DeclaredValue of a commit the index no longer holds = %s", v)
	}
	x.Forget(shop)
	r.Commit = c3
	if v, ok := x.DeclaredValue(r); ok {
		t.Errorf("DeclaredValue after Forget = %s", v)
	}
}
