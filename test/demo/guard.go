package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/audit"
	"writ.dev/writ/reconcile"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// editCheckout is `kubectl edit configmap checkout -n shop` setting mode, with kubectl edit's
// field manager, so that drift records name it.
func editCheckout(ctx context.Context, c client.Client, mode string, dryRun bool) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: shopNS, Name: "checkout"}}
	opts := []client.PatchOption{client.FieldOwner("kubectl-edit")}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	err := c.Patch(ctx, cm, client.RawPatch("application/merge-patch+json", []byte(`{"data":{"mode":"`+mode+`"}}`)), opts...)
	return cm, err
}

// denial is err as kubectl prints it, if it is the guard's denial.
func denial(err error) (string, bool) {
	if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "writ:") {
		return "Error from server (Forbidden): " + err.Error(), true
	}
	return "", false
}

// humanEdits is step 3: people with full RBAC are denied, with a message that says what to do.
func (d *demo) humanEdits(ctx context.Context) error {
	d.s.step("kubectl edits by a human are denied, with a message that says what to do instead")
	c, err := d.as(bob)
	if err != nil {
		return err
	}
	// The guard learns of the protected namespace from its cache: a dry run (which the webhook
	// sees, and records, too) until it denies, so bob's edit meets the guard in its steady state.
	probe, err := d.as(person{"demo-probe", "developers"})
	if err != nil {
		return err
	}
	if err := d.until(ctx, "the guard protecting namespace shop", time.Minute, func() (bool, string) {
		_, err := editCheckout(ctx, probe, "debug", true)
		_, denied := denial(err)
		return denied, fmt.Sprint("dry-run edit: ", err)
	}); err != nil {
		return err
	}
	d.s.say("(The demo first waits for the guard with a dry-run edit as user demo-probe.)")
	d.s.say("Bob is cluster-admin, so RBAC allows him everything. He tries a quick fix in the cluster:")
	d.s.cmd("%s edit configmap checkout -n shop   # sets mode: debug", bob.kubectl())
	_, err = editCheckout(ctx, c, "debug", false)
	msg, ok := denial(err)
	if !ok {
		return fmt.Errorf("bob's edit was not denied by the guard: %v", err)
	}
	d.s.evidence("%s", msg)
	d.s.cmd("%s delete deployment web -n shop", bob.kubectl())
	err = c.Delete(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: shopNS, Name: "web"}})
	msg, ok = denial(err)
	if !ok {
		return fmt.Errorf("bob's delete was not denied by the guard: %v", err)
	}
	d.s.evidence("%s", msg)
	cm, err := d.checkout(ctx)
	if err != nil {
		return err
	}
	if _, err := d.web(ctx); err != nil {
		return fmt.Errorf("deployment shop/web: %w", err)
	}
	d.s.evidence("configmap shop/checkout still has mode=%s; deployment shop/web is still there", cm.Data["mode"])
	if cm.Data["mode"] != "normal" {
		return fmt.Errorf("a denied edit changed the cluster: mode %q", cm.Data["mode"])
	}
	// The apiserver evaluates the fallback policy before any webhook, so it is the fallback that
	// refuses bob, and the webhook never sees his request: the refusal is in the apiserver's own
	// audit log (the binding's Audit action), not in Writ's trail.
	return d.switchOffAttempts(ctx, c)
}

// breakGlass is step 4: a request, a second person's approval, an allowed edit, and the drift
// it causes reported and healed.
func (d *demo) breakGlass(ctx context.Context) error {
	d.s.step("Break-glass: a request, a second person's approval, an allowed edit; the drift is reported and healed")
	annC, err := d.as(ann)
	if err != nil {
		return err
	}
	leaC, err := d.as(lea)
	if err != nil {
		return err
	}
	since := time.Now().Add(-time.Second)
	req := &guardv1.BreakGlassRequest{TypeMeta: metav1.TypeMeta{APIVersion: guardv1.GroupVersion.String(), Kind: "BreakGlassRequest"},
		ObjectMeta: metav1.ObjectMeta{Name: "inc-4711"}, Spec: guardv1.BreakGlassRequestSpec{
			Requester: ann.user, Justification: "INC-4711: checkout is failing, switch it to maintenance mode", Ticket: "INC-4711",
			Scope:    guardv1.BreakGlassScope{Namespaces: []string{shopNS}, Names: []string{"checkout"}},
			Duration: metav1.Duration{Duration: grantDuration}}}
	d.s.say("Ann is on call. Checkout is failing and she needs it in maintenance mode now, before a commit can")
	d.s.say("be reviewed. She asks for emergency access to that one ConfigMap:")
	d.s.cmd("%s create -f - <<EOF", ann.kubectl())
	d.s.evidence("apiVersion: writ.dev/v1alpha1\nkind: BreakGlassRequest\nmetadata: {name: inc-4711}\nspec:\n  requester: ann\n  justification: %q\n  ticket: INC-4711\n  scope: {namespaces: [shop], names: [checkout]}\n  duration: 20s",
		req.Spec.Justification)
	if err := annC.Create(ctx, req); err != nil {
		return fmt.Errorf("ann's break-glass request: %w", err)
	}
	d.s.evidence("breakglassrequest.writ.dev/inc-4711 created")

	approve := func(c client.Client, who person) error {
		p := fmt.Sprintf(`{"spec":{"approvedBy":%q}}`, who.user) // the guard stamps approvedAt (writ-breakglass)
		return c.Patch(ctx, &guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: "inc-4711"}}, client.RawPatch("application/merge-patch+json", []byte(p)))
	}
	d.s.say("Approving her own request does not work:")
	d.s.cmd(`%s patch breakglassrequest inc-4711 --type merge -p '{"spec":{"approvedBy":"ann"}}'`, ann.kubectl())
	msg, ok := denial(approve(annC, ann))
	if !ok || !strings.Contains(msg, "another person approves it") {
		return fmt.Errorf("ann approved her own request: %s", msg)
	}
	d.s.evidence("%s", msg)
	d.s.say("Lea, a platform lead, approves it:")
	d.s.cmd(`%s patch breakglassrequest inc-4711 --type merge -p '{"spec":{"approvedBy":"lea"}}'`, lea.kubectl())
	if err := approve(leaC, lea); err != nil {
		return fmt.Errorf("lea's approval: %w", err)
	}
	var approved guardv1.BreakGlassRequest
	if err := leaC.Get(ctx, client.ObjectKey{Name: "inc-4711"}, &approved); err != nil {
		return err
	}
	at := approved.Spec.ApprovedAt
	if at == nil || time.Since(at.Time).Abs() > time.Minute {
		return fmt.Errorf("lea's approval was not stamped with the guard's clock: approvedAt %v", at)
	}
	d.s.evidence("breakglassrequest.writ.dev/inc-4711 patched (approvedAt %s, the guard's clock)", at.UTC().Format(time.RFC3339))

	d.s.say("Ann makes the emergency edit:")
	d.s.cmd("%s edit configmap checkout -n shop   # sets mode: maintenance", ann.kubectl())
	var edited *corev1.ConfigMap
	// The guard sees the approval once its cache has it: a fraction of a second.
	if err := d.until(ctx, "ann's approved edit", 30*time.Second, func() (bool, string) {
		edited, err = editCheckout(ctx, annC, "maintenance", false)
		return err == nil, fmt.Sprint(err)
	}); err != nil {
		return err
	}
	edited.ManagedFields = nil
	d.s.evidence("configmap/checkout edited (the apiserver answered data.mode=%s)", edited.Data["mode"])
	if edited.Data["mode"] != "maintenance" {
		return fmt.Errorf("ann's edit answered mode %q", edited.Data["mode"])
	}
	for _, r := range []struct {
		who  person
		what string
		kind audit.Kind
	}{{ann, "BreakGlassRequest", audit.BreakGlassRequested}, {lea, "BreakGlassRequest", audit.BreakGlassApproved}, {ann, "ConfigMap shop/checkout", audit.BreakGlassUsed}} {
		if err := d.records(ctx, match{user: r.who.user, object: r.what, since: since}, r.kind); err != nil {
			return err
		}
	}
	d.s.say("The edit is drift from Git, and the sync heals drift, but not while a break-glass grant covers the")
	d.s.say("object: Writ records the drift with the grant's id and leaves the edit in place until the grant ends.")
	if err := d.records(ctx, match{object: "ConfigMap shop/checkout", since: since}, audit.DriftDetected); err != nil {
		return err
	}
	var s reconcilev1.Sync
	if err := d.until(ctx, "the sync reporting the held edit", 30*time.Second, func() (bool, string) {
		if err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: writNS, Name: "shop"}, &s); err != nil {
			return false, err.Error()
		}
		c := apimeta.FindStatusCondition(s.Status.Conditions, reconcile.Drifted)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == "BreakGlass", fmt.Sprintf("%+v", c)
	}); err != nil {
		return err
	}
	c := apimeta.FindStatusCondition(s.Status.Conditions, reconcile.Drifted)
	d.s.cmd("kubectl get sync shop -n writ-system -o jsonpath='{.status.conditions[?(@.type==\"Drifted\")]}'")
	d.s.evidence("Drifted %s %s: %s", c.Status, c.Reason, c.Message)
	until := at.Add(grantDuration)
	if cm, err := d.checkout(ctx); err != nil || cm.Data["mode"] != "maintenance" || !time.Now().Before(until) {
		return fmt.Errorf("ann's edit was not left in place while her grant is in force (mode %q, %v)", cm.Data["mode"], err)
	}
	d.s.cmd("kubectl get configmap checkout -n shop -o jsonpath='{.data.mode}'")
	d.s.evidence("maintenance   (held: the grant is in force until %s)", until.UTC().Format(time.RFC3339))
	d.s.say("The grant is short; when it expires, Writ puts Git's value back (to keep an emergency change, commit")
	d.s.say("it to Git before the grant ends: the sync then adopts it):")
	if err := d.waitHealed(ctx, since, "ConfigMap shop/checkout", func() (bool, string) {
		cm, err := d.checkout(ctx)
		if err != nil {
			return false, err.Error()
		}
		return cm.Data["mode"] == "normal", "mode " + cm.Data["mode"]
	}, "kubectl get configmap checkout -n shop -o jsonpath='{.data.mode}'", func() string {
		cm, _ := d.checkout(ctx)
		return cm.Data["mode"]
	}); err != nil {
		return err
	}
	if time.Now().Before(until) {
		return fmt.Errorf("ann's edit was healed before her grant ended at %s", until.UTC().Format(time.RFC3339))
	}
	return d.records(ctx, match{object: "ConfigMap shop/checkout", since: since}, audit.BreakGlassExpired)
}

// grantDuration is how long Ann's break-glass grant lasts: long enough to see the edit held,
// short enough for the demo to see it end.
const grantDuration = 20 * time.Second

// exemptChange is step 5: an exempt identity changes a field Git declares; the guard lets it
// through, and the reconciler heals it within seconds.
func (d *demo) exemptChange(ctx context.Context) error {
	d.s.step("An out-of-band change by an exempt identity is detected and healed within seconds")
	d.s.say("The guard lets the HorizontalPodAutoscaler write deployments/scale (exemption hpa-scale), but Git")
	d.s.say("declares replicas: 2 for shop/web. The HPA scales it to 5:")
	cs, err := kubernetes.NewForConfig(d.hpa)
	if err != nil {
		return err
	}
	d.s.cmd("kubectl --token <the HPA's service-account token> scale deployment web -n shop --replicas 5")
	start := time.Now()
	since := start.Add(-time.Second)
	// kube-controller-manager is the HPA's field manager.
	sc, err := cs.AppsV1().Deployments(shopNS).UpdateScale(ctx, "web",
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Namespace: shopNS, Name: "web"}, Spec: autoscalingv1.ScaleSpec{Replicas: 5}},
		metav1.UpdateOptions{FieldManager: "kube-controller-manager"})
	if err != nil {
		return fmt.Errorf("the HPA's scale write was refused: %w", err)
	}
	d.s.evidence("deployment.apps/web scaled (the apiserver answered spec.replicas=%d, written by %s)", sc.Spec.Replicas, hpaUser)
	if err := d.waitHealed(ctx, since, "Deployment.apps shop/web", func() (bool, string) {
		dep, err := d.web(ctx)
		if err != nil {
			return false, err.Error()
		}
		return dep.Spec.Replicas != nil && *dep.Spec.Replicas == 2, fmt.Sprint("replicas ", *dep.Spec.Replicas)
	}, "kubectl get deployment web -n shop -o jsonpath='{.spec.replicas}'", func() string {
		dep, _ := d.web(ctx)
		return fmt.Sprint(*dep.Spec.Replicas)
	}); err != nil {
		return err
	}
	d.s.evidence("healed %.1f s after the HPA's write", time.Since(start).Seconds())
	return nil
}

// waitHealed waits until healed holds and the reconciler has recorded the drift of object (as
// records name it) and its heal since then, and prints the evidence.
func (d *demo) waitHealed(ctx context.Context, since time.Time, object string, healed func() (bool, string), show string, value func() string) error {
	if err := d.until(ctx, "the drift healed", time.Minute, healed); err != nil {
		return err
	}
	d.s.cmd("%s", show)
	d.s.evidence("%s   (Git's value again)", value())
	if err := d.records(ctx, match{object: object, since: since}, audit.DriftDetected, audit.DriftHealed); err != nil {
		if e, ok := d.trail.find(audit.SyncApplied, match{since: since}); ok {
			return fmt.Errorf("the reconciler put Git's value back (%s) but recorded no drift of %s: the audit trail misses it (%w)", describeRecord(e), object, err)
		}
		return err
	}
	line, err := d.reconciler.metric(`writ_drift_events_total{mode="Heal"}`)
	if err == nil && line != "" {
		d.s.evidence("reconciler metrics: %s", line)
	}
	return nil
}
