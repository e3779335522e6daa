package controller_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"writ.dev/writ/audit"
	auditv1 "writ.dev/writ/audit/api/v1alpha1"
	"writ.dev/writ/audit/auditkey"
	"writ.dev/writ/audit/controller"
	"writ.dev/writ/audit/kuberecorder"
	"writ.dev/writ/audit/segment"
	"writ.dev/writ/test/harness"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &env)) }

func TestRecordedEventsReachTheStore(t *testing.T) {
	harness.Require(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns = "writ-audit-test"
	if err := env.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	store, err := segment.Open(t.TempDir(), segment.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}}) // each test runs its own manager
	if err != nil {
		t.Fatal(err)
	}
	metrics := controller.NewMetrics(prometheus.NewRegistry())
	if err := (&controller.Ingester{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Store: store, Namespace: ns, Metrics: metrics}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	defer func() { stop(); <-done }()

	// The webhook's recorder, with the webhook's own token: only Writ's service accounts' events,
	// stamped by the apiserver, are stored.
	installSubmitterPolicies(t, ctx, ns)
	cfg, err := env.ServiceAccount(ctx, ns, "writ-webhook")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Grant(ctx, harness.ServiceAccountSubject(ns, "writ-webhook"), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	asWebhook, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	rec := kuberecorder.New(asWebhook, kuberecorder.Options{Namespace: ns, Bucket: time.Hour})
	now := time.Now().UTC()
	denied := audit.Event{Kind: audit.MutationDenied, Time: now, Actor: audit.Actor{User: "bob", Groups: []string{"devs"}},
		Object: audit.ObjectRef{Group: "apps", Kind: "Deployment", Namespace: "prod", Name: "web"}, Operation: "UPDATE", Reason: "only the GitOps agent may change prod"}
	for i := 0; i < 5; i++ {
		rec.Record(ctx, denied)
	}
	rec.Record(ctx, audit.Event{Kind: audit.SyncApplied, Time: now, Commit: "0123456789abcdef0123456789abcdef01234567", Objects: map[string]int{"created": 2}})
	rec.Record(ctx, audit.Event{Kind: audit.DriftDetected, Time: now, Reason: "-----BEGIN RSA PRIVATE KEY-----"}) // refused: secret material
	if err := rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := rec.Stats(); s.Delivered != 6 || s.Failed != 1 {
		t.Fatalf("recorder stats %+v: want 6 delivered, the secret-bearing event refused", s)
	}

	// Every AuditEvent is ingested and deleted; the five denials are counted once each.
	deadline := time.Now().Add(time.Minute)
	for {
		var list auditv1.AuditEventList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		seq, _, _ := store.Head(ctx)
		if len(list.Items) == 0 && seq >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d AuditEvents left, %d records stored", len(list.Items), seq)
		}
		time.Sleep(100 * time.Millisecond)
	}
	counts := map[audit.Kind]int{}
	if err := store.Scan(ctx, 1, func(e audit.Event) error {
		n := e.Count
		if n == 0 {
			n = 1
		}
		counts[e.Kind] += n
		if e.Submitter.User != "system:serviceaccount:"+ns+":writ-webhook" {
			t.Errorf("record %d stored with submitter %+v, want the webhook's service account", e.Seq, e.Submitter)
		}
		if e.Kind == audit.MutationDenied && (e.Actor.User != "bob" || e.Object.Name != "web") {
			t.Errorf("denial stored as %+v", e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if counts[audit.MutationDenied] != 5 || counts[audit.SyncApplied] != 1 || counts[audit.DriftDetected] != 0 {
		t.Fatalf("stored counts %v", counts)
	}
	if _, _, err := store.Verify(ctx); err != nil {
		t.Fatal(err)
	}

	// The signing key: created once in a Secret, published in a ConfigMap, stable across calls.
	k1, err := controller.EnsureKey(ctx, env.Client, ns)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := controller.EnsureKey(ctx, env.Client, ns)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("key changed between calls: %v", err)
	}
	var cm corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: controller.PublicConfigMap}, &cm); err != nil {
		t.Fatal(err)
	}
	pub, err := auditkey.ParsePublic([]byte(cm.Data[controller.PublicKeyField]))
	if err != nil || !pub.Equal(k1.Public().(ed25519.PublicKey)) || cm.Data[controller.PublicKeyIDField] != audit.KeyID(pub) {
		t.Fatalf("published key does not match: %v", err)
	}

	// Checkpoints sign the head once per move.
	cp := &controller.Checkpointer{Store: store, Key: k1, Metrics: metrics}
	if did, err := cp.Checkpoint(ctx); err != nil || !did {
		t.Fatalf("first checkpoint: %v %v", did, err)
	}
	if did, _ := cp.Checkpoint(ctx); did {
		t.Fatal("checkpointed an unchanged head")
	}
	cps, _ := store.Checkpoints(ctx)
	seq, head, _ := store.Head(ctx)
	if len(cps) != 1 || cps[0].Seq != seq || cps[0].Head != head || cps[0].Verify(pub) != nil {
		t.Fatalf("checkpoint %+v", cps)
	}
}
