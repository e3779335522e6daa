package controller_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"writ.dev/writ/audit"
	auditv1 "writ.dev/writ/audit/api/v1alpha1"
	"writ.dev/writ/audit/controller"
	"writ.dev/writ/audit/segment"
	"writ.dev/writ/test/harness"
)

// installSubmitterPolicies creates the stamping policies for ns as the chart does and waits until
// the apiserver applies both (a dry-run create comes back stamped; a forged stamp is denied), and
// into the next second, since the ingester trusts only events created after the policy (creation
// times have one-second granularity). The policies are removed when the test ends.
func installSubmitterPolicies(t *testing.T, ctx context.Context, ns string) {
	t.Helper()
	mp, mb, vp, vb, err := controller.SubmitterPolicies(ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []client.Object{mp, mb, vp, vb} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("creating %T: %v", o, err)
		}
	}
	t.Cleanup(func() { removeSubmitterPolicies(t, true) })
	harness.Eventually(t, "the submitter policies to be in force", 30*time.Second, func() (bool, string) {
		probe := auditEvent(ns, "probe-", audit.SyncApplied, "")
		probe.Spec.Submitter = &auditv1.Submitter{Username: "someone-else"}
		err := env.Client.Create(ctx, probe, client.DryRunAll)
		stamped := err == nil && probe.Spec.Submitter != nil && probe.Spec.Submitter.Username != "someone-else"
		return stamped, "dry-run create: " + errString(err)
	})
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
}

// removeSubmitterPolicies deletes the mutating policy and its binding, and the validating ones too
// when all is true, and waits until the apiserver no longer stamps.
func removeSubmitterPolicies(t *testing.T, all bool) {
	t.Helper()
	ctx := context.Background()
	mp, mb, vp, vb, _ := controller.SubmitterPolicies("x")
	objs := []client.Object{mb, mp}
	if all {
		objs = append(objs, vb, vp)
	}
	for _, o := range objs {
		if err := env.Client.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting %T: %v", o, err)
		}
	}
}

// forgingPolicy is an attacker's MutatingAdmissionPolicy (and binding, in ns and default) that
// sets every AuditEvent's stamp to user, reinvoked as often as Writ's.
func forgingPolicy(ns, user string) []client.Object {
	mp, _, _, _, _ := controller.SubmitterPolicies(ns)
	mp.Name = "zz-forge-submitter"
	mp.Spec.Mutations = []admissionregistrationv1.Mutation{{PatchType: admissionregistrationv1.PatchTypeJSONPatch,
		JSONPatch: &admissionregistrationv1.JSONPatch{Expression: `[JSONPatch{op: "add", path: "/spec/submitter", value: {"username": "` + user + `"}}]`}}}
	mb := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: mp.Name},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: mp.Name}}
	return []client.Object{mp, mb}
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func auditEvent(ns, prefix string, kind audit.Kind, actor string) *auditv1.AuditEvent {
	e := audit.Event{Kind: kind, Time: time.Now().UTC(), Actor: audit.Actor{User: actor}, BreakGlass: "bg-1", Reason: "approved"}
	return &auditv1.AuditEvent{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: prefix}, Spec: auditv1.FromEvent(e)}
}

// counterValue reads a counter with one label from reg.
func counterValue(reg *prometheus.Registry, name, label, value string) float64 {
	v, _ := harness.Metric(reg, name, map[string]string{label: value})
	return v
}

// TestOnlyStampedEventsOfWritAreStored is the forged break-glass approval of issue 12 and its
// variants, against the real apiserver with the chart's policies: a person who RBAC lets do
// anything creates AuditEvents claiming any actor and any submitter; only the one Writ's webhook
// service account creates, with its own token, reaches the tamper-evident log, carrying that
// account as its submitter.
func TestOnlyStampedEventsOfWritAreStored(t *testing.T) {
	harness.Require(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const ns = "writ-audit-stamp"
	if err := env.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := env.Grant(ctx, harness.User("lea"), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	lea, err := env.ClientAs("lea")
	if err != nil {
		t.Fatal(err)
	}
	webhookSA := "system:serviceaccount:" + ns + ":writ-webhook"
	cfg, err := env.ServiceAccount(ctx, ns, "writ-webhook")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Grant(ctx, harness.ServiceAccountSubject(ns, "writ-webhook"), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	writWebhook, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}

	// Before any policy exists: an unstamped forgery, and one carrying a stamp of its own
	// naming Writ's webhook. Both are created; neither may ever be stored.
	early := []*auditv1.AuditEvent{auditEvent(ns, "early-unstamped-", audit.BreakGlassApproved, "lea"), auditEvent(ns, "early-forged-", audit.BreakGlassApproved, "lea")}
	early[1].Spec.Submitter = &auditv1.Submitter{Username: webhookSA}
	for _, ae := range early {
		if err := lea.Create(ctx, ae); err != nil {
			t.Fatal(err)
		}
	}
	installSubmitterPolicies(t, ctx, ns)

	store, err := segment.Open(t.TempDir(), segment.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	reg := prometheus.NewRegistry()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}}) // each test runs its own manager
	if err != nil {
		t.Fatal(err)
	}
	if err := (&controller.Ingester{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Store: store, Namespace: ns, Metrics: controller.NewMetrics(reg)}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	defer func() { stop(); <-done }()

	// lea forges a break-glass approval by "lea", claiming Writ's webhook submitted it: the
	// apiserver stamps her instead.
	forged := auditEvent(ns, "forged-", audit.BreakGlassApproved, "lea")
	forged.Spec.Submitter = &auditv1.Submitter{Username: webhookSA}
	if err := lea.Create(ctx, forged); err != nil {
		t.Fatal(err)
	}
	if s := forged.Spec.Submitter; s == nil || s.Username != "lea" {
		t.Fatalf("the stored forgery is stamped %+v, want lea", s)
	}
	// Nor can she change the stamp afterwards.
	forged.Spec.Submitter = &auditv1.Submitter{Username: webhookSA}
	err = lea.Update(ctx, forged)
	var stored auditv1.AuditEvent
	if gerr := env.Client.Get(ctx, client.ObjectKeyFromObject(forged), &stored); gerr != nil || stored.Spec.Submitter == nil || stored.Spec.Submitter.Username != "lea" {
		t.Fatalf("after lea's update (%v) the stamp is %+v (%v)", err, stored.Spec.Submitter, gerr)
	}
	// Nor by a mutating policy of her own that rewrites the stamp: if it runs after Writ's, the
	// validating policy, evaluated after every mutation, denies the create; if the apiserver runs
	// it first, Writ's stamp overwrites it. Either way no record is stored in another's name.
	forger := forgingPolicy(ns, webhookSA)
	for _, o := range forger {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	harness.Eventually(t, "lea's forging policy in force", 30*time.Second, func() (bool, string) {
		probe := auditEvent(ns, "probe-", audit.SyncApplied, "")
		probe.Namespace = "default" // outside Writ's namespace: only the forger's policy applies
		err := lea.Create(ctx, probe, client.DryRunAll)
		return err == nil && probe.Spec.Submitter != nil && probe.Spec.Submitter.Username == webhookSA, errString(err)
	})
	laundered := auditEvent(ns, "laundered-", audit.BreakGlassApproved, "lea")
	switch err := lea.Create(ctx, laundered); {
	case err != nil && !strings.Contains(err.Error(), "a client cannot choose it"):
		t.Fatalf("a second mutating policy rewriting the stamp: %v; want the submitter policy's denial", err)
	case err == nil:
		var got auditv1.AuditEvent
		if gerr := env.Client.Get(ctx, client.ObjectKeyFromObject(laundered), &got); gerr != nil {
			t.Fatal(gerr)
		}
		if got.Spec.Submitter == nil || got.Spec.Submitter.Username != "lea" {
			t.Fatalf("a second mutating policy rewriting the stamp: stored with submitter %+v, want lea or the create denied", got.Spec.Submitter)
		}
	}
	for _, o := range forger {
		if err := env.Client.Delete(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	harness.Eventually(t, "lea's forging policy gone", 30*time.Second, func() (bool, string) {
		probe := auditEvent(ns, "probe-", audit.SyncApplied, "")
		probe.Namespace = "default"
		err := lea.Create(ctx, probe, client.DryRunAll)
		return err == nil && probe.Spec.Submitter == nil, errString(err)
	})

	// Writ's webhook, with its own token, records a denial: it is stored, stamped.
	genuine := auditEvent(ns, "genuine-", audit.MutationDenied, "bob")
	if err := writWebhook.Create(ctx, genuine); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, "the genuine event stored", time.Minute, func() (bool, string) {
		seq, _, _ := store.Head(ctx)
		return seq >= 1, ""
	})
	harness.Eventually(t, "the forgeries refused", time.Minute, func() (bool, string) {
		p, s := counterValue(reg, "writ_audit_refused_events_total", "reason", controller.RefusedPolicy), counterValue(reg, "writ_audit_refused_events_total", "reason", controller.RefusedSubmitter)
		return p >= 2 && s >= 1, "refused: policy " + ftoa(p) + ", submitter " + ftoa(s)
	})

	// The policy removed (its validating twin left in place): a forged stamp is denied at
	// admission, and an event created meanwhile, even by Writ's webhook, is unstamped and refused.
	removeSubmitterPolicies(t, false)
	harness.Eventually(t, "the stamping policy gone", 30*time.Second, func() (bool, string) {
		probe := auditEvent(ns, "probe-", audit.SyncApplied, "")
		err := env.Client.Create(ctx, probe, client.DryRunAll)
		return err == nil && probe.Spec.Submitter == nil, errString(err)
	})
	again := auditEvent(ns, "forged-again-", audit.BreakGlassApproved, "lea")
	again.Spec.Submitter = &auditv1.Submitter{Username: webhookSA}
	if err := lea.Create(ctx, again); err == nil || !strings.Contains(err.Error(), "a client cannot choose it") {
		t.Errorf("a forged stamp while the mutating policy is missing: %v, want denied", err)
	}
	before := counterValue(reg, "writ_audit_refused_events_total", "reason", controller.RefusedPolicy)
	unstamped := auditEvent(ns, "unstamped-", audit.MutationDenied, "bob")
	if err := writWebhook.Create(ctx, unstamped); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, "the unstamped event refused", time.Minute, func() (bool, string) {
		return counterValue(reg, "writ_audit_refused_events_total", "reason", controller.RefusedPolicy) > before, ""
	})

	// In the log: the genuine event alone, with its submitter. Every refused object is kept.
	var records []audit.Event
	if err := store.Scan(ctx, 1, func(e audit.Event) error { records = append(records, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(records) != 1 || records[0].Kind != audit.MutationDenied || records[0].Actor.User != "bob" ||
		records[0].Submitter.User != webhookSA || records[0].Submitter.ServiceAccount != ns+"/writ-webhook" {
		t.Fatalf("stored records %+v, want the webhook's denial alone, with its submitter", records)
	}
	for _, ae := range append(early, forged, unstamped) {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ae), &auditv1.AuditEvent{}); err != nil {
			t.Errorf("refused AuditEvent %s: %v, want it kept for inspection", ae.Name, err)
		}
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
