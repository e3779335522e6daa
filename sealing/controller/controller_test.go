package controller_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"writ.dev/writ/sealing"
	sealcontroller "writ.dev/writ/sealing/controller"
	"writ.dev/writ/sealing/sealingtest"
	"writ.dev/writ/test/harness"
)

var env *harness.Env

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, harness.Options{}, &env))
}

// events records what the controller reports.
type events struct {
	mu  sync.Mutex
	all []string
}

func (e *events) Eventf(regarding, _ runtime.Object, kind, reason, _, note string, args ...any) {
	o := regarding.(client.Object)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, fmt.Sprintf("%s/%s %s %s %s", o.GetNamespace(), o.GetName(), kind, reason, fmt.Sprintf(note, args...)))
}

func (e *events) has(substr ...string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
next:
	for _, ev := range e.all {
		for _, s := range substr {
			if !strings.Contains(ev, s) {
				continue next
			}
		}
		return true
	}
	return false
}

type running struct {
	keys    *sealcontroller.KeyStore
	events  *events
	reg     *prometheus.Registry
	metrics *sealcontroller.Metrics
	mgr     ctrl.Manager
}

// startController runs the unsealing controller with keys from namespace keyNS, until the test ends.
func startController(t testing.TB, keyNS string, cfgEdit func(*ctrl.Options)) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	skip := true
	opts := ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, Controller: config.Controller{SkipNameValidation: &skip}}
	if cfgEdit != nil {
		cfgEdit(&opts)
	}
	cfg := *env.Config
	cfg.QPS, cfg.Burst = 500, 1000
	mgr, err := ctrl.NewManager(&cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{keys: &sealcontroller.KeyStore{Client: mgr.GetClient(), Namespace: keyNS}, events: &events{}, reg: prometheus.NewRegistry(), mgr: mgr}
	r.metrics = sealcontroller.NewMetrics(r.reg)
	c := &sealcontroller.Controller{Client: mgr.GetClient(), Keys: r.keys, Events: r.events, Metrics: r.metrics, RetryAfter: 500 * time.Millisecond, Workers: 8}
	if err := c.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop")
		}
	})
	return r
}

// storeKey puts k into namespace as a key Secret, as the controller would.
func storeKey(t testing.TB, ns string, k *sealing.Key) string {
	t.Helper()
	ctx := context.Background()
	if err := env.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	s := k.Secret(ns)
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s.Name
}

func syncedCondition(ss *ssv1alpha1.SealedSecret) *ssv1alpha1.SealedSecretCondition {
	if ss.Status == nil {
		return nil
	}
	for i := range ss.Status.Conditions {
		if ss.Status.Conditions[i].Type == ssv1alpha1.SealedSecretSynced {
			return &ss.Status.Conditions[i]
		}
	}
	return nil
}

// waitSynced waits for ss's Synced condition to have status and a message containing msg.
func waitSynced(t testing.TB, ss *ssv1alpha1.SealedSecret, status corev1.ConditionStatus, msg string) {
	t.Helper()
	harness.Eventually(t, fmt.Sprintf("%s Synced=%s %q", ss.Name, status, msg), 30*time.Second, func() (bool, string) {
		got := &ssv1alpha1.SealedSecret{}
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(ss), got)
		c := syncedCondition(got)
		return c != nil && c.Status == status && strings.Contains(c.Message, msg), fmt.Sprintf("%+v", got.Status)
	})
}

func TestControllerUnsealsIntoSecret(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	a, b := sealingtest.Keys(t)
	keyNS := "sealing-unseal"
	storeKey(t, keyNS, a)
	storeKey(t, keyNS, b)
	r := startController(t, keyNS, nil)
	if err := env.EnsureNamespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}

	sec := sealingtest.Secret("shop", "db", map[string]string{"password": "hunter2"})
	immutable := true
	sec.Type, sec.Immutable = corev1.SecretTypeBasicAuth, &immutable
	sec.Data["username"] = []byte("app")
	ss, err := sealingtest.Sealer(t, a).Seal(sec)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, ss); err != nil {
		t.Fatal(err)
	}
	got := &corev1.Secret{}
	harness.Eventually(t, "the Secret", 30*time.Second, func() (bool, string) {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "db"}, got)
		return err == nil, fmt.Sprint(err, r.events.all)
	})
	if string(got.Data["password"]) != "hunter2" || got.Type != corev1.SecretTypeBasicAuth || got.Immutable == nil || !*got.Immutable || got.Labels["app"] != "shop" {
		t.Errorf("Secret %+v", got)
	}
	if got.Annotations[sealing.AnnotationUnsealedWith] != a.Fingerprint {
		t.Errorf("unsealed-with %q, want %s", got.Annotations[sealing.AnnotationUnsealedWith], a.Fingerprint)
	}
	if !metav1.IsControlledBy(got, &ssv1alpha1.SealedSecret{ObjectMeta: metav1.ObjectMeta{UID: ss.UID}}) && (len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != ss.UID) {
		t.Errorf("owner references %+v", got.OwnerReferences)
	}
	waitSynced(t, ss, corev1.ConditionTrue, "")
	if !r.events.has("shop/db", "Normal", "Unsealed") {
		t.Errorf("no Unsealed event: %v", r.events.all)
	}
	if v := metricValue(r.reg, "writ_unseal_requests_total", "result", "ok"); v < 1 {
		t.Errorf("writ_unseal_requests_total{result=ok} = %v", v)
	}
}

// TestControllerRefusesBadSealedSecrets: a tampered value, a SealedSecret moved to another name,
// and one sealed with a key the cluster does not have each end Synced=False with an event and
// an error metric, and no Secret is written.
func TestControllerRefusesBadSealedSecrets(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	a, b := sealingtest.Keys(t)
	keyNS := "sealing-refuse"
	storeKey(t, keyNS, a) // b is not in this cluster
	r := startController(t, keyNS, nil)
	if err := env.EnsureNamespace(ctx, "refuse"); err != nil {
		t.Fatal(err)
	}
	good, _ := sealingtest.Sealer(t, a).Seal(sealingtest.Secret("refuse", "tampered", map[string]string{"password": "hunter2", "user": "app"}))
	v := []byte(good.Spec.EncryptedData["password"])
	v[len(v)/2] ^= 0x01
	good.Spec.EncryptedData["password"] = string(v)
	moved, _ := sealingtest.Sealer(t, a).Seal(sealingtest.Secret("refuse", "original", map[string]string{"password": "hunter2"}))
	moved.Name = "renamed"
	wrongKey, _ := sealingtest.Sealer(t, b).Seal(sealingtest.Secret("refuse", "wrongkey", map[string]string{"password": "hunter2"}))
	for _, ss := range []*ssv1alpha1.SealedSecret{good, moved, wrongKey} {
		if err := env.Client.Create(ctx, ss); err != nil {
			t.Fatal(err)
		}
	}
	for _, ss := range []*ssv1alpha1.SealedSecret{good, moved, wrongKey} {
		waitSynced(t, ss, corev1.ConditionFalse, "cannot unseal")
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ss), &corev1.Secret{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s: a Secret was written (or %v)", ss.Name, err)
		}
		if !r.events.has("refuse/"+ss.Name, "Warning", sealcontroller.EventUnsealFailed) {
			t.Errorf("%s: no ErrUnsealFailed event: %v", ss.Name, r.events.all)
		}
	}
	if v := metricValue(r.reg, "writ_unseal_errors_total", "reason", "unseal"); v < 3 {
		t.Errorf("writ_unseal_errors_total{reason=unseal} = %v, want >= 3", v)
	}
}

// TestControllerManagedAndPatch: an existing Secret is left alone unless annotated managed
// (taken over) or patch (merged into).
func TestControllerManagedAndPatch(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	a, _ := sealingtest.Keys(t)
	keyNS := "sealing-managed"
	storeKey(t, keyNS, a)
	startController(t, keyNS, nil)
	ns := "handover"
	if err := env.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	existing := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plain"}, Data: map[string][]byte{"other": []byte("keep")}}
	if err := env.Client.Create(ctx, existing); err != nil {
		t.Fatal(err)
	}
	ss, _ := sealingtest.Sealer(t, a).Seal(sealingtest.Secret(ns, "plain", map[string]string{"password": "hunter2"}))
	if err := env.Client.Create(ctx, ss); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, ss, corev1.ConditionFalse, "not managed by SealedSecret")
	// Patch: values merged in, the Secret's own keys kept.
	_ = env.Client.Get(ctx, client.ObjectKeyFromObject(existing), existing)
	existing.Annotations = map[string]string{ssv1alpha1.SealedSecretPatchAnnotation: "true"}
	if err := env.Client.Update(ctx, existing); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, "patched", 30*time.Second, func() (bool, string) {
		got := &corev1.Secret{}
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(existing), got)
		return string(got.Data["password"]) == "hunter2" && string(got.Data["other"]) == "keep" && len(got.OwnerReferences) == 0, fmt.Sprint(got.Data, got.OwnerReferences)
	})
	// Managed: taken over, owned, replaced.
	_ = env.Client.Get(ctx, client.ObjectKeyFromObject(existing), existing)
	existing.Annotations = map[string]string{ssv1alpha1.SealedSecretManagedAnnotation: "true"}
	if err := env.Client.Update(ctx, existing); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, "managed", 30*time.Second, func() (bool, string) {
		got := &corev1.Secret{}
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(existing), got)
		_, kept := got.Data["other"]
		return string(got.Data["password"]) == "hunter2" && !kept && len(got.OwnerReferences) == 1, fmt.Sprint(got.Data, got.OwnerReferences)
	})
}

// TestKeyRenewalAndCutoff: with an injected clock, the first key is made at once, a new one
// when the newest is a renewal period old, one at a passed cutoff, none otherwise; old keys stay
// and keep unsealing; a key relabelled compromised stops being used.
func TestKeyRenewalAndCutoff(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	ns := "sealing-renew"
	if err := env.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	keys := &sealcontroller.KeyStore{Client: env.Client, Namespace: ns}
	reg := prometheus.NewRegistry()
	r := &sealcontroller.Renewer{Keys: keys, Live: env.Client, Period: 30 * 24 * time.Hour, KeySize: 2048, Now: clock, Rand: rand.Reader, Metrics: sealcontroller.NewMetrics(reg)}
	ring := func() *sealing.KeyRing {
		kr, err := keys.Ring(ctx, env.Client, nil)
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	first, err := r.RenewIfDue(ctx)
	if err != nil || first == nil {
		t.Fatalf("first key: %v %v", first, err)
	}
	if k, _ := r.RenewIfDue(ctx); k != nil {
		t.Fatal("a second key right after the first")
	}
	// A value sealed with the first key.
	ss, _ := sealingtest.Sealer(t, first).Seal(sealingtest.Secret("shop", "renewal", map[string]string{"k": "v"}))
	advance(29 * 24 * time.Hour)
	if k, _ := r.RenewIfDue(ctx); k != nil {
		t.Fatal("renewed before the period")
	}
	advance(24 * time.Hour)
	second, err := r.RenewIfDue(ctx)
	if err != nil || second == nil {
		t.Fatalf("no renewal after 30 days: %v", err)
	}
	kr := ring()
	if len(kr.Keys()) != 2 || kr.Latest().Fingerprint != second.Fingerprint {
		t.Fatalf("ring %s, want the new key first of two", kr)
	}
	if _, used, err := sealing.Unseal(ss, kr); err != nil || used[0] != first.Fingerprint {
		t.Fatalf("the old key no longer unseals: %v %v", used, err)
	}
	// Early renewal: a cutoff after the newest key, once the clock passes it.
	r.Cutoff = now.Add(time.Hour)
	if k, _ := r.RenewIfDue(ctx); k != nil {
		t.Fatal("renewed before the cutoff was reached")
	}
	advance(2 * time.Hour)
	third, err := r.RenewIfDue(ctx)
	if err != nil || third == nil {
		t.Fatalf("no renewal at the cutoff: %v", err)
	}
	if k, _ := r.RenewIfDue(ctx); k != nil {
		t.Fatal("renewed twice for one cutoff")
	}
	if v := metricValue(reg, "writ_sealing_key_renewals_total", "", ""); v != 3 {
		t.Errorf("writ_sealing_key_renewals_total = %v, want 3", v)
	}
	// Compromised: relabel the newest key; it neither seals nor unseals.
	s := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: third.Name}, s); err != nil {
		t.Fatal(err)
	}
	s.Labels[sealing.KeyLabel] = sealing.KeyCompromised
	if err := env.Client.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	kr = ring()
	if kr.Latest().Fingerprint != second.Fingerprint {
		t.Errorf("after compromise the newest usable key is %s, want %s", kr.Latest().Fingerprint, second.Fingerprint)
	}
	if _, ok := kr.Get(third.Fingerprint); ok {
		t.Error("the compromised key is still in the ring")
	}
}
