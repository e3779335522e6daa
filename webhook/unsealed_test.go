package webhook_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	sealcontroller "writ.dev/writ/sealing/controller"
	"writ.dev/writ/sealing/sealingtest"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/webhook"
	"writ.dev/writ/wellknown"
	"writ.dev/writ/witness"
)

// unsealerUser is writ-controller's account, the unsealer.
const unsealerUser = "system:serviceaccount:writ-system:" + wellknown.ControllerServiceAccount

// unsealedValue is the plaintext the test seals; no denial, status or record may carry it.
const unsealedValue = "unsealed-plaintext-never-shown"

// sealedIn seals shop/<name> (password) with the test key and returns the SealedSecret and its
// manifest as the feed publishes it (stamped with the tracking label of sync).
func sealedIn(t *testing.T, ns, name string, sync types.NamespacedName) (*ssv1alpha1.SealedSecret, *unstructured.Unstructured) {
	t.Helper()
	_, b := sealingtest.Keys(t)
	ss, err := sealingtest.Sealer(t, b).Seal(sealingtest.Secret(ns, name, map[string]string{"password": unsealedValue}))
	if err != nil {
		t.Fatal(err)
	}
	ss.Labels = map[string]string{wellknown.ManagedLabel: sync.Namespace + "." + sync.Name}
	raw, err := json.Marshal(ss)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(raw, &u.Object); err != nil {
		t.Fatal(err)
	}
	return ss, u
}

// startUnsealer runs sealing's real controller as writ-controller (cfg: its token), with the test
// keys in writ-system, until the test ends.
func startUnsealer(t *testing.T, cfg *rest.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	skip := true
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, Controller: config.Controller{SkipNameValidation: &skip}})
	if err != nil {
		t.Fatal(err)
	}
	c := &sealcontroller.Controller{Client: mgr.GetClient(), Keys: &sealcontroller.KeyStore{Client: mgr.GetClient(), Namespace: "writ-system"}, RetryAfter: 200 * time.Millisecond}
	if err := c.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestWitnessChecksUnsealedSecrets: writ-controller's real token, and a cluster-admin
// impersonating it, cannot write a Secret that the SealedSecret a verified commit declares does
// not unseal into (an extra key, another type, a label, no owner, a SealedSecret no commit
// declares, a delete), each denied naming the field and recorded once as UnverifiedAgentWrite,
// never with a value; the real unsealer's Secrets of declared SealedSecrets are allowed, in an
// unguarded namespace and under the shipped policy's sealing exemption alike; a SealedSecret
// applied by hand, which no commit declares, is not unsealed; and the declaring Sync's Warn
// allows with a warning and a record.
func TestWitnessChecksUnsealedSecrets(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	index := &witness.Index{}
	ev := guardedWith(t, func(g *webhook.Guard) {
		g.Witness = indexWitness{Index: index, users: map[string]bool{}, unsealer: unsealerUser}
	})
	for _, ns := range []string{"writ-system", "kube-system", "unseal-shop"} {
		if err := env.EnsureNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	ensureNamespace(t, "unseal-prod", map[string]string{wellknown.ProtectedNamespaceLabel: "true"})
	shippedPolicy(t) // which grants everyone cluster-admin first: writ-controller's token has more than its RBAC
	tokenCfg, err := env.ServiceAccount(ctx, "writ-system", wellknown.ControllerServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	a, b := sealingtest.Keys(t)
	for _, k := range []*corev1.Secret{a.Secret("writ-system"), b.Secret("writ-system")} {
		if err := env.Client.Create(ctx, k); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), k) })
	}

	app := types.NamespacedName{Namespace: "writ-system", Name: "unseal-app"}
	lenient := types.NamespacedName{Namespace: "writ-system", Name: "unseal-lenient"}
	sync := &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: lenient.Namespace, Name: lenient.Name},
		Spec: reconcilev1.SyncSpec{SourceRef: reconcilev1.LocalObjectReference{Name: "repo"}, Witness: reconcilev1.SyncWitnessWarn}}
	if err := env.Client.Create(ctx, sync); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), sync) })
	db, dbManifest := sealedIn(t, "unseal-shop", "db", app)
	api, apiManifest := sealedIn(t, "unseal-prod", "api", app)
	cache, cacheManifest := sealedIn(t, "unseal-shop", "cache", lenient)
	rogue, _ := sealedIn(t, "unseal-shop", "rogue", app) // never in any commit: applied by hand
	rogue.Labels = nil
	publish(t, index, app, commitN, []*unstructured.Unstructured{dbManifest, apiManifest})
	publish(t, index, lenient, commitN1, []*unstructured.Unstructured{cacheManifest})
	// The SealedSecrets as the reconciler applies them (the guard judges only the unsealer's
	// Secrets here), and one an admin applies by hand.
	agent := as(t, agentUser)
	for _, o := range []struct {
		c  client.Client
		ss *ssv1alpha1.SealedSecret
	}{{agent, db}, {agent, api}, {agent, cache}, {env.Client, rogue}} {
		if err := o.c.Create(ctx, o.ss.DeepCopy()); err != nil {
			t.Fatalf("applying SealedSecret %s/%s: %v", o.ss.Namespace, o.ss.Name, err)
		}
	}
	var live ssv1alpha1.SealedSecret
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(db), &live); err != nil {
		t.Fatal(err)
	}
	owner := []metav1.OwnerReference{{APIVersion: "bitnami.com/v1alpha1", Kind: "SealedSecret", Name: "db", UID: live.UID, Controller: ptr.To(true)}}
	forged := func(name string, edit func(*corev1.Secret)) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "unseal-shop", Name: name, Labels: map[string]string{"app": "shop"},
			Annotations: map[string]string{"team": "pay"}, OwnerReferences: owner}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("x")}}
		if edit != nil {
			edit(s)
		}
		return s
	}
	for _, id := range []struct {
		name string
		c    client.Client
	}{{"writ-controller's token", mustClient(t, tokenCfg)}, {"a cluster-admin impersonating writ-controller", as(t, unsealerUser)}} {
		for _, attack := range []struct {
			what, field, commit string
			secret              *corev1.Secret
			wants               []string
		}{
			{"an extra key", ".data.token", commitN, forged("db", func(s *corev1.Secret) { s.Data["token"] = []byte(unsealedValue) }),
				[]string{"Secret unseal-shop/db", "field .data.token", "SealedSecret unseal-shop/db", commitN}},
			{"another type", ".type", commitN, forged("db", func(s *corev1.Secret) {
				s.Type, s.Data = corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte("{}")}
			}), []string{"field .type"}},
			{"a label the template does not have", ".metadata.labels.argocd.argoproj.io/secret-type", commitN,
				forged("db", func(s *corev1.Secret) { s.Labels["argocd.argoproj.io/secret-type"] = "cluster" }), []string{"field .metadata.labels.argocd.argoproj.io/secret-type"}},
			{"no owner reference", ".metadata.ownerReferences", commitN, forged("db", func(s *corev1.Secret) { s.OwnerReferences = nil }), []string{"field .metadata.ownerReferences"}},
			{"a SealedSecret no commit declares", "", "", forged("rogue", func(s *corev1.Secret) { s.OwnerReferences[0].Name = "rogue" }),
				[]string{"no verified commit declares a SealedSecret unseal-shop/rogue"}},
		} {
			before := len(ev.unverified(unsealerUser, attack.secret.Name))
			err := id.c.Create(ctx, attack.secret)
			witnessDenied(t, id.name+": "+attack.what, err, attack.wants...)
			if err != nil && strings.Contains(err.Error(), unsealedValue) {
				t.Errorf("%s: %s: the denial carries the value", id.name, attack.what)
			}
			recorded(t, ev, unsealerUser, attack.secret.Name, before, 1, attack.field, attack.commit)
		}
	}

	// The real unsealer, as writ-controller: the declared SealedSecrets are unsealed (unseal-prod
	// through the shipped policy's sealing exemption too), the hand-applied one is not.
	startUnsealer(t, tokenCfg)
	for _, key := range []client.ObjectKey{{Namespace: "unseal-shop", Name: "db"}, {Namespace: "unseal-prod", Name: "api"}} {
		harness.Eventually(t, "the real unsealer's Secret "+key.String(), time.Minute, func() (bool, string) {
			var s corev1.Secret
			err := env.Client.Get(ctx, key, &s)
			return err == nil && string(s.Data["password"]) == unsealedValue, errText(err)
		})
	}
	harness.Eventually(t, "the hand-applied SealedSecret refused", time.Minute, func() (bool, string) {
		var ss ssv1alpha1.SealedSecret
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rogue), &ss); err != nil || ss.Status == nil {
			return false, "no status yet"
		}
		for _, c := range ss.Status.Conditions {
			if c.Type == ssv1alpha1.SealedSecretSynced && c.Status == corev1.ConditionFalse && strings.Contains(c.Message, "no verified commit declares a SealedSecret unseal-shop/rogue") {
				if strings.Contains(c.Message, unsealedValue) {
					t.Errorf("the status carries the value: %s", c.Message)
				}
				return true, ""
			}
		}
		return false, "Synced is not False with the witness's denial"
	})
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "unseal-shop", Name: "rogue"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Secret of a SealedSecret no commit declares exists: %v", err)
	}

	// The unsealed Secret may not then be changed, nor deleted, with writ-controller's token.
	controller := mustClient(t, tokenCfg)
	var stored corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "unseal-shop", Name: "db"}, &stored); err != nil {
		t.Fatal(err)
	}
	before := len(ev.unverified(unsealerUser, "db"))
	witnessDenied(t, "an extra key patched into the unsealed Secret", controller.Patch(ctx, &stored, mergePatch(`{"stringData":{"token":"x"}}`)), ".data.token")
	witnessDenied(t, "writ-controller deletes the unsealed Secret", controller.Delete(ctx, &stored), "never deletes")
	recorded(t, ev, unsealerUser, "db", before, 2, "", "")

	// The declaring Sync's Warn: allowed with a warning, and recorded.
	w := &warnings{}
	warnCfg := rest.CopyConfig(tokenCfg)
	warnCfg.WarningHandler = w
	harness.Eventually(t, "the real unsealer's Secret of the lenient Sync", time.Minute, func() (bool, string) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(cache), &corev1.Secret{})
		return err == nil, errText(err)
	})
	var cached corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(cache), &cached); err != nil {
		t.Fatal(err)
	}
	before = len(ev.unverified(unsealerUser, "cache"))
	if err := mustClient(t, warnCfg).Patch(ctx, &cached, mergePatch(`{"stringData":{"token":"x"}}`)); err != nil {
		t.Fatalf("Warn: the extra key was denied: %v", err)
	}
	if !w.has(".data.token") {
		t.Errorf("Warn: no warning naming the field: %v", w.all)
	}
	recorded(t, ev, unsealerUser, "cache", before, 1, ".data.token", commitN1)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
