package feed

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigyaml "sigs.k8s.io/yaml"

	"writ.dev/writ/sealing"
	"writ.dev/writ/sealing/sealingtest"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/witness"
)

// TestFeedChecksUnsealedSecrets: a SealedSecret in a signed commit, fetched, verified and rendered
// by the feed itself, admits the Secret the real unsealer makes of it for writ-controller's
// account (and no other account is the unsealer); an extra key is denied, naming the key only,
// and before the commit is indexed the Secret is not admitted either.
func TestFeedChecksUnsealedSecrets(t *testing.T) {
	harness.Require(t, env)
	r := start(t)
	for user, want := range map[string]bool{
		"system:serviceaccount:writ-system:writ-controller": true,
		"system:serviceaccount:other:writ-controller":       false,
		"system:serviceaccount:writ-system:writ-reconciler": false,
		"writ-controller": false,
	} {
		if got := r.feed.Unsealer(user); got != want {
			t.Errorf("Unsealer(%s) = %v, want %v", user, got, want)
		}
	}

	s := newSite(t, "feed-sealed", "1")
	a, b := sealingtest.Keys(t)
	ss, err := sealingtest.Sealer(t, b).Seal(sealingtest.Secret(s.ns, "db", map[string]string{"password": "hunter2-not-in-any-output"}))
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := sigyaml.Marshal(ss)
	if err != nil {
		t.Fatal(err)
	}
	inCluster := ss.DeepCopy()
	inCluster.UID = "sealed-uid"
	secret, _, err := sealing.Unseal(inCluster, sealing.NewKeyRing(a, b))
	if err != nil {
		t.Fatal(err)
	}
	write := func(sec *corev1.Secret) witness.Write {
		sec = sec.DeepCopy()
		sec.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
		raw, err := json.Marshal(sec)
		if err != nil {
			t.Fatal(err)
		}
		return witness.Write{Operation: witness.Create, Object: witness.Key{Kind: "Secret", Namespace: s.ns, Name: "db"}, Raw: raw, RawValidated: true}
	}
	if res := r.feed.CheckUnsealed(write(secret)); res.Allowed {
		t.Fatalf("admitted before any commit declares its SealedSecret: %s", res.Message())
	}

	c2 := s.repo.Commit(s.alice, "seal db", map[string]string{"apps/db-sealed.yaml": string(manifest)})
	s.policy(t)
	s.apply(t, "file://"+s.repo.Dir, "")
	harness.Eventually(t, "the SealedSecret's commit indexed", 60*time.Second, func() (bool, string) {
		res := r.feed.CheckUnsealed(write(secret))
		return res.Allowed && res.Reason == witness.Unsealed && res.Commit == c2 && res.Sync == s.key, res.Message()
	})
	extra := secret.DeepCopy()
	extra.Data["token"] = []byte("planted")
	res := r.feed.CheckUnsealed(write(extra))
	if res.Allowed || res.Reason != witness.UnsealedMismatch || res.Path != ".data.token" {
		t.Fatalf("an extra key: %+v", res)
	}
	if b, _ := json.Marshal(res); containsAny(string(b)+res.Message(), "hunter2", "planted", "aHVudGVy") {
		t.Errorf("a value in the Result or its message: %s %s", b, res.Message())
	}
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
