package sealing_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"k8s.io/client-go/kubernetes/scheme"

	"writ.dev/writ/sealing"
	"writ.dev/writ/sealing/sealingtest"
)

func TestSealUnsealRoundTrip(t *testing.T) {
	a, b := sealingtest.Keys(t)
	ss, err := sealingtest.Sealer(t, a).Seal(sealingtest.Secret("shop", "db", map[string]string{"password": "hunter2", "user": "app"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := ss.Annotations[sealing.AnnotationKey]; got != a.Fingerprint {
		t.Errorf("key annotation %q, want %q", got, a.Fingerprint)
	}
	if _, leaked := ss.Spec.Template.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; leaked {
		t.Error("kubectl's last-applied copy (plaintext) was kept in the template")
	}
	ss.UID = "u1"
	s, used, err := sealing.Unseal(ss, sealing.NewKeyRing(b, a))
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["password"]) != "hunter2" || string(s.Data["user"]) != "app" || s.Labels["app"] != "shop" || s.Annotations["team"] != "pay" {
		t.Errorf("unsealed %+v", s)
	}
	if len(used) != 1 || used[0] != a.Fingerprint {
		t.Errorf("used %v, want [%s]", used, a.Fingerprint)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "SealedSecret" || s.OwnerReferences[0].UID != "u1" {
		t.Errorf("owner references %+v", s.OwnerReferences)
	}

	// Bitnami's own code opens what Writ sealed.
	plain, err := ss.Unseal(scheme.Codecs, map[string]*rsa.PrivateKey{a.Fingerprint: a.Private})
	if err != nil || string(plain.Data["password"]) != "hunter2" {
		t.Fatalf("Bitnami's Unseal: %v %v", plain, err)
	}
}

func TestScopes(t *testing.T) {
	a, _ := sealingtest.Keys(t)
	ring := sealing.NewKeyRing(a)
	for _, tc := range []struct {
		scope          string
		moveNS, rename bool
		opens          bool
	}{
		{"strict", false, false, true},
		{"strict", false, true, false},
		{"strict", true, false, false},
		{"namespace-wide", false, true, true},
		{"namespace-wide", true, false, false},
		{"cluster-wide", true, true, true},
	} {
		sec := sealingtest.Secret("shop", "db", map[string]string{"password": "hunter2"})
		var scope ssv1alpha1.SealingScope
		if err := scope.Set(tc.scope); err != nil {
			t.Fatal(err)
		}
		sec.Annotations = ssv1alpha1.UpdateScopeAnnotations(sec.Annotations, scope)
		ss, err := sealingtest.Sealer(t, a).Seal(sec)
		if err != nil {
			t.Fatal(err)
		}
		if tc.moveNS {
			ss.Namespace = "elsewhere"
		}
		if tc.rename {
			ss.Name = "renamed"
		}
		_, _, err = sealing.Unseal(ss, ring)
		if (err == nil) != tc.opens {
			t.Errorf("%s moved=%v renamed=%v: err %v, want opens=%v", tc.scope, tc.moveNS, tc.rename, err, tc.opens)
		}
		if err != nil && !errors.Is(err, sealing.ErrUnseal) {
			t.Errorf("error %v does not wrap ErrUnseal", err)
		}
	}
}

func TestUnsealRefusesTamperingAndWrongKeys(t *testing.T) {
	a, b := sealingtest.Keys(t)
	ss, err := sealingtest.Sealer(t, a).Seal(sealingtest.Secret("shop", "db", map[string]string{"password": "hunter2", "user": "app"}))
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := base64.StdEncoding.DecodeString(ss.Spec.EncryptedData["password"])
	for name, mutate := range map[string]func(*ssv1alpha1.SealedSecret){
		"flipped AES byte": func(s *ssv1alpha1.SealedSecret) {
			c := bytes.Clone(ct)
			c[len(c)-1] ^= 1
			s.Spec.EncryptedData["password"] = base64.StdEncoding.EncodeToString(c)
		},
		"flipped RSA byte": func(s *ssv1alpha1.SealedSecret) {
			c := bytes.Clone(ct)
			c[10] ^= 1
			s.Spec.EncryptedData["password"] = base64.StdEncoding.EncodeToString(c)
		},
		"truncated": func(s *ssv1alpha1.SealedSecret) {
			s.Spec.EncryptedData["password"] = base64.StdEncoding.EncodeToString(ct[:1])
		},
		"not base64": func(s *ssv1alpha1.SealedSecret) { s.Spec.EncryptedData["password"] = "%%%" },
		"wrong key annotation only": func(s *ssv1alpha1.SealedSecret) {
			s.Annotations[sealing.AnnotationKey] = b.Fingerprint // a lie costs a retry, not a failure
		},
	} {
		s := ss.DeepCopy()
		mutate(s)
		sec, _, err := sealing.Unseal(s, sealing.NewKeyRing(a, b))
		if name == "wrong key annotation only" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil || sec != nil {
			t.Errorf("%s: opened (%v), want an error and no Secret", name, sec)
		}
	}
	if _, _, err := sealing.Unseal(ss, sealing.NewKeyRing(b)); err == nil || !strings.Contains(err.Error(), "cannot unseal") {
		t.Errorf("wrong key: %v", err)
	}
	if _, _, err := sealing.Unseal(ss, sealing.NewKeyRing()); err == nil || !strings.Contains(err.Error(), "no sealing key") {
		t.Errorf("no key: %v", err)
	}
	compromised := *a
	compromised.Status = sealing.KeyCompromised
	if _, _, err := sealing.Unseal(ss, sealing.NewKeyRing(&compromised, b)); err == nil {
		t.Error("a key labelled compromised still unseals")
	}
}

func TestNewSealerRefusesExpiredCertificate(t *testing.T) {
	a, _ := sealingtest.Keys(t)
	_, err := sealing.NewSealer(a.Cert, a.Cert.NotAfter.Add(time.Second), rand.Reader)
	if !errors.Is(err, sealing.ErrExpired) || !strings.Contains(err.Error(), "--fetch-cert") {
		t.Errorf("expired certificate: %v", err)
	}
}

func TestSealRefusesMissingNameOrNamespace(t *testing.T) {
	a, _ := sealingtest.Keys(t)
	if _, err := sealingtest.Sealer(t, a).Seal(sealingtest.Secret("shop", "", map[string]string{"k": "v"})); err == nil || !strings.Contains(err.Error(), "strict scope") {
		t.Errorf("no name: %v", err)
	}
	if _, err := sealingtest.Sealer(t, a).Seal(sealingtest.Secret("", "db", map[string]string{"k": "v"})); err == nil || !strings.Contains(err.Error(), "no namespace") {
		t.Errorf("no namespace: %v", err)
	}
}

func TestMergeIntoKeepsUnchangedCiphertext(t *testing.T) {
	a, b := sealingtest.Keys(t)
	old, err := sealingtest.Sealer(t, a).Seal(sealingtest.Secret("shop", "db", map[string]string{"password": "hunter2", "user": "app"}))
	if err != nil {
		t.Fatal(err)
	}
	// The cluster has moved on to key b; the team changes only the password.
	merged, err := sealingtest.Sealer(t, b).MergeInto(old, sealingtest.Secret("shop", "db", map[string]string{"password": "new", "user": "app"}), sealing.NewKeyRing(a))
	if err != nil {
		t.Fatal(err)
	}
	if merged.Spec.EncryptedData["user"] != old.Spec.EncryptedData["user"] {
		t.Error("the unchanged value was re-encrypted (churn)")
	}
	if merged.Spec.EncryptedData["password"] == old.Spec.EncryptedData["password"] {
		t.Error("the changed value was not re-encrypted")
	}
	fps := sealing.KeyFingerprints(merged)
	if fps["user"] != a.Fingerprint || fps["password"] != b.Fingerprint {
		t.Errorf("fingerprints %v (annotation %q)", fps, merged.Annotations[sealing.AnnotationKey])
	}
	s, used, err := sealing.Unseal(merged, sealing.NewKeyRing(a, b))
	if err != nil || string(s.Data["password"]) != "new" || string(s.Data["user"]) != "app" || len(used) != 2 {
		t.Fatalf("merged unseal: %v %v %v", s, used, err)
	}
	// Without the old key nothing can be compared: every value is re-encrypted.
	again, err := sealingtest.Sealer(t, b).MergeInto(old, sealingtest.Secret("shop", "db", map[string]string{"user": "app"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Spec.EncryptedData["user"] == old.Spec.EncryptedData["user"] {
		t.Error("re-used a value it could not compare")
	}
}

// TestTemplateErrorsDoNotLeakPlaintext: a template that fails with a value in its message
// ({{ fail .password }}) must not carry the plaintext into the error, which becomes the
// Synced condition and an event.
func TestTemplateErrorsDoNotLeakPlaintext(t *testing.T) {
	a, _ := sealingtest.Keys(t)
	ss, err := sealingtest.Sealer(t, a).Seal(sealingtest.Secret("shop", "db", map[string]string{"password": "hunter2"}))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := "{{ fail .password }}"
	ss.Spec.Template.Data = map[string]*string{"leak": &tmpl}
	_, _, err = sealing.Unseal(ss, sealing.NewKeyRing(a))
	if err == nil || strings.Contains(err.Error(), "hunter2") || !errors.Is(err, sealing.ErrTemplate) {
		t.Fatalf("error %q: want ErrTemplate without the plaintext", err)
	}
	ok := "user-{{ .password }}"
	ss.Spec.Template.Data = map[string]*string{"dsn": &ok}
	if s, _, err := sealing.Unseal(ss, sealing.NewKeyRing(a)); err != nil || string(s.Data["dsn"]) != "user-hunter2" {
		t.Fatalf("a working template: %v %v", s, err)
	}
}
