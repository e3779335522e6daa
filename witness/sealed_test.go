package witness_test

import (
	"encoding/json"
	"strings"
	"testing"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"writ.dev/writ/sealing"
	"writ.dev/writ/sealing/sealingtest"
	"writ.dev/writ/wellknown"
	"writ.dev/writ/witness"
)

// sealedFixture is a SealedSecret as Git declares it and the Secret the real unsealer
// (sealing.Unseal, then the controller's annotation) makes of it.
type sealedFixture struct {
	sealed *ssv1alpha1.SealedSecret
	secret *corev1.Secret
}

// sealFor seals a Secret shop/<name> with password (secretValue) and user, lets edit change the
// SealedSecret (its template), and unseals it as writ-controller does.
func sealFor(t testing.TB, name string, edit func(*ssv1alpha1.SealedSecret)) sealedFixture {
	return sealSecret(t, sealingtest.Secret("shop", name, map[string]string{"password": secretValue, "user": "app"}), edit)
}

func sealSecret(t testing.TB, secret *corev1.Secret, edit func(*ssv1alpha1.SealedSecret)) sealedFixture {
	t.Helper()
	a, b := sealingtest.Keys(t)
	ss, err := sealingtest.Sealer(t, b).Seal(secret)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(ss)
	}
	// In the cluster, the SealedSecret has a uid, which the owner reference names.
	inCluster := ss.DeepCopy()
	inCluster.UID = "0b5c-sealed-uid"
	s, used, err := sealing.Unseal(inCluster, sealing.NewKeyRing(a, b))
	if err != nil {
		t.Fatal(err)
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[sealing.AnnotationUnsealedWith] = sealing.JoinFingerprints(used)
	return sealedFixture{sealed: ss, secret: s}
}

// manifest is the SealedSecret as the feed publishes it: stamped as the reconciler applies it.
func (f sealedFixture) manifest(t testing.TB, sync types.NamespacedName) *unstructured.Unstructured {
	t.Helper()
	ss := f.sealed.DeepCopy()
	if ss.Labels == nil {
		ss.Labels = map[string]string{}
	}
	ss.Labels[wellknown.ManagedLabel] = sync.Namespace + "." + sync.Name
	m, err := json.Marshal(ss)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(m, &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// stored is the JSON of s as the apiserver is about to store it: defaulted type, server metadata.
func stored(t testing.TB, s *corev1.Secret) []byte {
	t.Helper()
	s = s.DeepCopy()
	s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	s.UID, s.ResourceVersion = "5e1f-secret-uid", "42"
	s.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "writ-controller", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1"}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unsealedWrite(t testing.TB, op witness.Operation, s *corev1.Secret) witness.Write {
	return witness.Write{Operation: op, Object: witness.Key{Kind: "Secret", Namespace: s.Namespace, Name: s.Name}, Raw: stored(t, s), RawValidated: true}
}

// published is an index in which commit c1 of Sync shop declares f's SealedSecret.
func (f sealedFixture) published(t testing.TB) *witness.Index {
	t.Helper()
	x := &witness.Index{}
	publishObjects(t, x, shop, c1, f.manifest(t, shop))
	return x
}

func publishObjects(t testing.TB, x *witness.Index, sync types.NamespacedName, commit string, objs ...*unstructured.Unstructured) {
	t.Helper()
	if err := x.Publish(sync, commit, objs); err != nil {
		t.Fatal(err)
	}
}

func TestCheckUnsealed(t *testing.T) {
	f := sealFor(t, "creds", nil)
	x := &witness.Index{}
	publishObjects(t, x, shop, c1, append(objects(t, deployment("nginx:1.28")), f.manifest(t, shop))...)

	edited := func(edit func(s *corev1.Secret)) *corev1.Secret {
		s := f.secret.DeepCopy()
		edit(s)
		return s
	}
	truth := true
	for _, tc := range []struct {
		name   string
		w      witness.Write
		reason witness.Reason
		path   string
	}{
		{"the real unsealer's Secret", unsealedWrite(t, witness.Create, f.secret), witness.Unsealed, ""},
		{"the real unsealer's update", unsealedWrite(t, witness.Update, f.secret), witness.Unsealed, ""},
		{"another value (values are not compared: the witness has no key)", unsealedWrite(t, witness.Update, edited(func(s *corev1.Secret) {
			s.Data["password"] = []byte("other-password")
		})), witness.Unsealed, ""},
		{"an extra key", unsealedWrite(t, witness.Update, edited(func(s *corev1.Secret) { s.Data["token"] = []byte("x") })),
			witness.UnsealedMismatch, ".data.token"},
		{"a missing key", unsealedWrite(t, witness.Update, edited(func(s *corev1.Secret) { delete(s.Data, "user") })),
			witness.UnsealedMismatch, ".data.user"},
		{"no data at all", unsealedWrite(t, witness.Update, edited(func(s *corev1.Secret) { s.Data = nil })),
			witness.UnsealedMismatch, ".data.password"},
		{"another type", unsealedWrite(t, witness.Create, edited(func(s *corev1.Secret) { s.Type = corev1.SecretTypeDockerConfigJson })),
			witness.UnsealedMismatch, ".type"},
		{"a label not in the template (an Argo CD cluster credential)", unsealedWrite(t, witness.Update, edited(func(s *corev1.Secret) {
			s.Labels["argocd.argoproj.io/secret-type"] = "cluster"
		})), witness.UnsealedMismatch, ".metadata.labels.argocd.argoproj.io/secret-type"},
		{"a template label of another value", unsealedWrite(t, witness.Update, edited(func(s *corev1.Secret) { s.Labels["app"] = "evil" })),
			witness.UnsealedMismatch, ".metadata.labels.app"},
		{"a template label dropped", unsealedWrite(t, witness.Update, edited(func(s *corev1.Secret) { s.Labels = nil })),
			witness.UnsealedMismatch, ".metadata.labels"},
		{"an annotation not in the template", unsealedWrite(t, witness.Update, edited(func(s *corev1.Secret) {
			s.Annotations["kubernetes.io/service-account.name"] = "admin"
		})), witness.UnsealedMismatch, ".metadata.annotations.kubernetes.io/service-account.name"},
		{"without the unsealer's own annotation", unsealedWrite(t, witness.Update, edited(func(s *corev1.Secret) {
			delete(s.Annotations, sealing.AnnotationUnsealedWith)
		})), witness.Unsealed, ""},
		{"immutable, which the template does not say", unsealedWrite(t, witness.Update, edited(func(s *corev1.Secret) { s.Immutable = &truth })),
			witness.UnsealedMismatch, ".immutable"},
		{"no owner reference", unsealedWrite(t, witness.Create, edited(func(s *corev1.Secret) { s.OwnerReferences = nil })),
			witness.UnsealedMismatch, ".metadata.ownerReferences"},
		{"owned by a SealedSecret of another name", unsealedWrite(t, witness.Create, edited(func(s *corev1.Secret) { s.OwnerReferences[0].Name = "other" })),
			witness.UnsealedMismatch, ".metadata.ownerReferences"},
		{"owned by another kind of that name", unsealedWrite(t, witness.Create, edited(func(s *corev1.Secret) { s.OwnerReferences[0].Kind = "ConfigMap" })),
			witness.UnsealedMismatch, ".metadata.ownerReferences"},
		{"an owner reference that is not the controller", unsealedWrite(t, witness.Create, edited(func(s *corev1.Secret) { s.OwnerReferences[0].Controller = nil })),
			witness.UnsealedMismatch, ".metadata.ownerReferences"},
		{"a second owner", unsealedWrite(t, witness.Create, edited(func(s *corev1.Secret) {
			s.OwnerReferences = append(s.OwnerReferences, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "creds", UID: "u"})
		})), witness.UnsealedMismatch, ".metadata.ownerReferences"},
		{"a Secret whose SealedSecret no commit declares", unsealedWrite(t, witness.Create, edited(func(s *corev1.Secret) {
			s.Name, s.OwnerReferences[0].Name = "admin-token", "admin-token"
		})), witness.NoSealedSecret, ""},
		{"the same name in another namespace", unsealedWrite(t, witness.Create, edited(func(s *corev1.Secret) { s.Namespace = "kube-system" })),
			witness.NoSealedSecret, ""},
		{"a Secret naming a Sync with no index", witness.Write{Operation: witness.Create, Object: witness.Key{Kind: "Secret", Namespace: "shop", Name: "new"}, Sync: late,
			Raw: stored(t, f.secret)}, witness.NotReady, ""},
		{"a DELETE (the garbage collector deletes, not the unsealer)", witness.Write{Operation: witness.Delete, Object: witness.Key{Kind: "Secret", Namespace: "shop", Name: "creds"}},
			witness.UnsealerDelete, ""},
		{"malformed JSON", witness.Write{Operation: witness.Update, Object: witness.Key{Kind: "Secret", Namespace: "shop", Name: "creds"}, Raw: []byte(`{"metadata":`)},
			witness.Malformed, ""},
		{"JSON that is not an object", witness.Write{Operation: witness.Update, Object: witness.Key{Kind: "Secret", Namespace: "shop", Name: "creds"}, Raw: []byte(`null`)},
			witness.Malformed, ""},
		{"an operation Check does not judge", witness.Write{Operation: "CONNECT", Object: witness.Key{Kind: "Secret", Namespace: "shop", Name: "creds"}},
			witness.Malformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := x.CheckUnsealed(tc.w)
			allowed := tc.reason == witness.Unsealed
			if r.Allowed != allowed || r.Reason != tc.reason || r.Path != tc.path {
				t.Fatalf("got allowed %v reason %s path %q, want %v %s %q (%s)", r.Allowed, r.Reason, r.Path, allowed, tc.reason, tc.path, r.Message())
			}
			switch tc.reason {
			case witness.Unsealed, witness.UnsealedMismatch:
				if r.Sync != shop || r.Commit != c1 {
					t.Errorf("judged against %s %s, want %s %s", r.Sync, r.Commit, shop, c1)
				}
			case witness.NotReady:
				if r.Sync != late {
					t.Errorf("not ready for %s, want %s", r.Sync, late)
				}
			}
			msg := r.Message()
			noValue(t, "the message", msg)
			if !strings.Contains(msg, tc.w.Object.String()) || (tc.path != "" && !strings.Contains(msg, tc.path)) {
				t.Errorf("the message does not name the Secret and the field: %s", msg)
			}
			if b, err := json.Marshal(r); err != nil || strings.Contains(string(b), "aHVudGVy") {
				t.Errorf("the Result holds a value: %s", b)
			}
		})
	}

	// The unsealed Secret is not declared as such: the reconciler's identity may not write it.
	if r := x.Check(unsealedWrite(t, witness.Create, f.secret)); r.Allowed || r.Reason != witness.Undeclared {
		t.Errorf("Check (the reconciler) of the unsealed Secret: %s %s, want Undeclared", r.Reason, r.Message())
	}
	// And the unsealer's check admits nothing but Secrets of declared SealedSecrets.
	if r := x.CheckUnsealed(witness.Write{Operation: witness.Update, Object: webKey, Raw: webJSON(t, "nginx:1.28", "3")}); r.Allowed {
		t.Errorf("CheckUnsealed admitted a Deployment: %s", r.Message())
	}
}

// TestCheckUnsealedTemplates: the real unsealer's output is admitted for each shape of template,
// and the shape's own cheat is not.
func TestCheckUnsealedTemplates(t *testing.T) {
	str := func(s string) *string { return &s }
	truth := true
	for _, tc := range []struct {
		name string
		edit func(*ssv1alpha1.SealedSecret)
		// cheat changes the unsealed Secret into one the template does not make; path is where.
		cheat func(*corev1.Secret)
		path  string
	}{
		{"template data adds a key, rendered from the values", func(ss *ssv1alpha1.SealedSecret) {
			ss.Spec.Template.Data = map[string]*string{"dsn": str("postgres://{{ .user }}:{{ .password }}@db")}
		}, func(s *corev1.Secret) { delete(s.Data, "dsn") }, ".data.dsn"},
		{"template data null removes an encrypted key", func(ss *ssv1alpha1.SealedSecret) {
			ss.Spec.Template.Data = map[string]*string{"user": nil}
		}, func(s *corev1.Secret) { s.Data["user"] = []byte("app") }, ".data.user"},
		{"a typed template", func(ss *ssv1alpha1.SealedSecret) {
			ss.Spec.Template.Type = corev1.SecretTypeBasicAuth
		}, func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque }, ".type"},
		{"an immutable template", func(ss *ssv1alpha1.SealedSecret) {
			ss.Spec.Template.Immutable = &truth
		}, func(s *corev1.Secret) { s.Labels["x"] = "y" }, ".metadata.labels.x"},
		{"no owner reference (skip-set-owner-references)", func(ss *ssv1alpha1.SealedSecret) {
			ss.Spec.Template.Annotations[ssv1alpha1.SealedSecretSkipSetOwnerReferencesAnnotation] = "true"
		}, func(s *corev1.Secret) {
			s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "u"}}
		}, ".metadata.ownerReferences"},
		{"no template metadata", func(ss *ssv1alpha1.SealedSecret) {
			ss.Spec.Template.Labels, ss.Spec.Template.Annotations = nil, nil
		}, func(s *corev1.Secret) { s.Labels = map[string]string{"app": "shop"} }, ".metadata.labels.app"},
		{"the template names another Secret (the unsealer uses the SealedSecret's name)", func(ss *ssv1alpha1.SealedSecret) {
			ss.Spec.Template.Name, ss.Spec.Template.Namespace = "elsewhere", "kube-system"
		}, func(s *corev1.Secret) { s.Data["extra"] = nil }, ".data.extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := sealFor(t, "creds", tc.edit)
			x := f.published(t)
			if r := x.CheckUnsealed(unsealedWrite(t, witness.Create, f.secret)); !r.Allowed {
				t.Fatalf("the real unsealer's Secret was denied: %s", r.Message())
			}
			cheat := f.secret.DeepCopy()
			tc.cheat(cheat)
			r := x.CheckUnsealed(unsealedWrite(t, witness.Update, cheat))
			if r.Allowed || r.Reason != witness.UnsealedMismatch || r.Path != tc.path {
				t.Fatalf("the cheat: %s %q, want UnsealedMismatch %q (%s)", r.Reason, r.Path, tc.path, r.Message())
			}
			noValue(t, "the message", r.Message())
		})
	}
}

// TestCheckUnsealedClusterWide: a cluster-wide SealedSecret unseals wherever it is applied, into
// a Secret of its own namespace and name, which is what the witness expects.
func TestCheckUnsealedClusterWide(t *testing.T) {
	in := sealingtest.Secret("", "anywhere", map[string]string{"password": secretValue})
	in.Annotations[ssv1alpha1.SealedSecretClusterWideAnnotation] = "true"
	f := sealSecret(t, in, func(ss *ssv1alpha1.SealedSecret) { ss.Namespace = "shop" })
	x := f.published(t)
	if r := x.CheckUnsealed(unsealedWrite(t, witness.Create, f.secret)); !r.Allowed {
		t.Fatalf("the real unsealer's Secret was denied: %s", r.Message())
	}
	elsewhere := f.secret.DeepCopy()
	elsewhere.Namespace = "kube-system"
	if r := x.CheckUnsealed(unsealedWrite(t, witness.Create, elsewhere)); r.Allowed || r.Reason != witness.NoSealedSecret {
		t.Errorf("the same Secret in a namespace the SealedSecret is not applied in: %s, want NoSealedSecret", r.Message())
	}
}

// TestCheckUnsealedCommits: a SealedSecret of the newest or the previous commit admits its
// Secret (a rollout in progress); one dropped two commits ago, or of a forgotten Sync, does not.
func TestCheckUnsealedCommits(t *testing.T) {
	one := sealFor(t, "creds", func(ss *ssv1alpha1.SealedSecret) { delete(ss.Spec.EncryptedData, "user") })
	two := sealFor(t, "creds", nil)
	x := &witness.Index{}
	publishObjects(t, x, shop, c1, one.manifest(t, shop))
	publishObjects(t, x, shop, c2, two.manifest(t, shop))
	for _, f := range []sealedFixture{one, two} {
		if r := x.CheckUnsealed(unsealedWrite(t, witness.Update, f.secret)); !r.Allowed {
			t.Errorf("during the rollout from c1 to c2: %s", r.Message())
		}
	}
	if r := x.CheckUnsealed(unsealedWrite(t, witness.Update, one.secret)); r.Commit != c1 {
		t.Errorf("c1's Secret judged against %s, want %s", r.Commit, c1)
	}
	// Publishing the newest commit again does not shift c1 out.
	publishObjects(t, x, shop, c2, two.manifest(t, shop))
	if r := x.CheckUnsealed(unsealedWrite(t, witness.Update, one.secret)); !r.Allowed {
		t.Errorf("c2 published again: c1's Secret denied: %s", r.Message())
	}
	publishObjects(t, x, shop, c3, two.manifest(t, shop))
	r := x.CheckUnsealed(unsealedWrite(t, witness.Update, one.secret))
	if r.Allowed || r.Reason != witness.UnsealedMismatch || r.Path != ".data.user" || r.Commit != c3 {
		t.Errorf("c1's Secret after c3: %s %q %s, want UnsealedMismatch .data.user against %s", r.Reason, r.Path, r.Commit, c3)
	}
	// Another Sync declaring the same SealedSecret admits it too, and is named when it does.
	publishObjects(t, x, shared, b1, one.manifest(t, shared))
	if r := x.CheckUnsealed(unsealedWrite(t, witness.Update, one.secret)); !r.Allowed || r.Sync != shared {
		t.Errorf("declared by Sync shared: %s", r.Message())
	}
	x.Forget(shared)
	x.Forget(shop)
	if r := x.CheckUnsealed(unsealedWrite(t, witness.Update, two.secret)); r.Allowed || r.Reason != witness.NoSealedSecret {
		t.Errorf("after Forget: %s, want NoSealedSecret", r.Message())
	}
}

func TestPublishSealedSecrets(t *testing.T) {
	f := sealFor(t, "creds", nil)
	x := f.published(t)

	// A SealedSecret the unsealer cannot read fails the Publish, which leaves the index as it was.
	bad := f.manifest(t, shop)
	if err := unstructured.SetNestedField(bad.Object, int64(3), "spec", "template", "metadata", "labels", "app"); err != nil {
		t.Fatal(err)
	}
	err := x.Publish(shop, c2, []*unstructured.Unstructured{bad})
	if err == nil || !strings.Contains(err.Error(), "SealedSecret.bitnami.com shop/creds") {
		t.Fatalf("publish of an unreadable SealedSecret: %v, want an error naming it", err)
	}
	if r := x.CheckUnsealed(unsealedWrite(t, witness.Update, f.secret)); !r.Allowed || r.Commit != c1 {
		t.Errorf("after a failed Publish: %s, want c1's Secret admitted", r.Message())
	}

	// The deprecated spec.data is refused by the unsealer: no Secret comes from it.
	deprecated := f.manifest(t, shop)
	unstructured.RemoveNestedField(deprecated.Object, "spec", "encryptedData")
	if err := unstructured.SetNestedField(deprecated.Object, "AgBy", "spec", "data"); err != nil {
		t.Fatal(err)
	}
	publishObjects(t, x, shop, c2, deprecated)
	publishObjects(t, x, shop, c3, deprecated)
	if r := x.CheckUnsealed(unsealedWrite(t, witness.Update, f.secret)); r.Allowed || r.Reason != witness.NoSealedSecret {
		t.Errorf("a SealedSecret with spec.data: %s, want NoSealedSecret", r.Message())
	}
}

// FuzzCheckUnsealed: whatever JSON writ-controller sends for shop/creds, CheckUnsealed admits it
// only if encoding/json reads it as a Secret with exactly the SealedSecret's data keys, labels,
// type and owner reference; malformed input is never admitted, and no Result names a value.
func FuzzCheckUnsealed(f *testing.F) {
	fx := sealFor(f, "creds", nil)
	x := fx.published(f)
	f.Add(stored(f, fx.secret))
	extra := fx.secret.DeepCopy()
	extra.Data["token"] = []byte("x")
	f.Add(stored(f, extra))
	f.Add([]byte(`{"metadata":{"labels":{"app":"shop"},"labels":{}},"type":"Opaque","data":{"password":"","user":""}}`))
	f.Add([]byte(`{"data":{"password":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := x.CheckUnsealed(witness.Write{Operation: witness.Update, Object: witness.Key{Kind: "Secret", Namespace: "shop", Name: "creds"}, Raw: raw})
		if !r.Allowed {
			if r.Reason == witness.UnsealedMismatch && r.Path == "" {
				t.Fatalf("a mismatch without a path: %+v", r)
			}
			return
		}
		var s corev1.Secret
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("admitted JSON that is not a Secret (%v): %s", err, raw)
		}
		keys := map[string]bool{}
		for k := range s.Data {
			keys[k] = true
		}
		for k := range s.StringData {
			keys[k] = true
		}
		owned := len(s.OwnerReferences) == 1 && s.OwnerReferences[0].Kind == "SealedSecret" && s.OwnerReferences[0].Name == "creds"
		if len(keys) != 2 || !keys["password"] || !keys["user"] || s.Type != corev1.SecretTypeOpaque || len(s.Labels) != 1 || s.Labels["app"] != "shop" || !owned {
			t.Fatalf("admitted a Secret the SealedSecret does not unseal into: %s", raw)
		}
	})
}

// BenchmarkCheckUnsealed: one unsealer write of a Secret a declared SealedSecret unseals into,
// among 1,000 SealedSecrets.
func BenchmarkCheckUnsealed(b *testing.B) {
	f := sealFor(b, "creds", nil)
	objs := []*unstructured.Unstructured{f.manifest(b, shop)}
	for i := range 999 {
		o := f.manifest(b, shop)
		o.SetName("creds-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + strings.Repeat("0", i/26))
		objs = append(objs, o)
	}
	x := &witness.Index{}
	publishObjects(b, x, shop, c1, objs...)
	w := unsealedWrite(b, witness.Update, f.secret)
	b.ReportAllocs()
	for b.Loop() {
		if r := x.CheckUnsealed(w); !r.Allowed {
			b.Fatal(r.Message())
		}
	}
}
