package webhook_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/audit"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/webhook"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/witness"
)

// The Sync the witness test's commits belong to, and its two verified commits.
var witnessSync = types.NamespacedName{Namespace: "writ-system", Name: "shop"}

const (
	commitN  = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" // the previous verified commit
	commitN1 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" // the newest
	// secretValue is the password Git declares; no denial may carry it.
	secretValue = "s3cret-value-never-shown"
	// unverifiedText ends every witness denial.
	unverifiedText = "the agent's identity was used for a change no verified commit declares"
)

// shopManifests are what a commit of witnessSync declares, stamped as the reconciler stamps
// them (its tracking label; no commit annotation): settings' mode is the commit's, and commit N
// still declares the ConfigMap old, which N+1 prunes.
func shopManifests(mode string, withOld bool) []string {
	stamp := "labels: {writ.dev/managed: writ-system.shop}"
	deploy := func(name, replicas string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `, namespace: witness-shop, ` + stamp + `}
spec:` + replicas + `
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec:
      containers:
      - name: web
        image: web:1
        resources: {limits: {cpu: "0.5", memory: 64Mi}}
`
	}
	m := []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: witness-shop, " + stamp + "}\ndata: {mode: " + mode + "}\n",
		deploy("web", "\n  replicas: 2"),
		deploy("elastic", ""), // its replicas are the HPA's
		"apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: witness-shop, " + stamp + "}\nstringData: {password: " + secretValue + "}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: writ-declared, namespace: kube-system, " + stamp + "}\ndata: {a: \"1\"}\n",
	}
	if withOld {
		m = append(m, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old, namespace: witness-shop, "+stamp+"}\ndata: {x: \"1\"}\n")
	}
	return m
}

// applyAs server-side applies a manifest as c, as Writ's reconciler does (field manager writ).
func applyAs(ctx context.Context, c client.Client, manifest string, opts ...client.PatchOption) error {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		return err
	}
	return c.Patch(ctx, u, client.Apply, append([]client.PatchOption{client.FieldOwner("writ"), client.ForceOwnership}, opts...)...)
}

// witnessDenied fails unless err is the witness's denial naming every one of wants.
func witnessDenied(t *testing.T, what string, err error, wants ...string) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s: not denied: %v", what, err)
		return
	}
	for _, want := range append(wants, unverifiedText) {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: the denial does not name %q: %v", what, want, err)
		}
	}
	if strings.Contains(err.Error(), secretValue) || (strings.Contains(err.Error(), "of Secret ") && strings.Contains(err.Error(), "Git declares")) {
		t.Errorf("%s: the denial carries the Secret's value: %v", what, err)
	}
}

// recordedOnce waits for the one new UnverifiedAgentWrite record of user about name beyond the
// before already there, and checks its field path and commit.
func recordedOnce(t *testing.T, ev *events, user, name string, before int, field, commit string) {
	t.Helper()
	recorded(t, ev, user, name, before, 1, field, commit)
}

// recorded waits for the n new UnverifiedAgentWrite records of user about name beyond the before
// already there, one per write, and checks the last one's field path and commit.
func recorded(t *testing.T, ev *events, user, name string, before, n int, field, commit string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := ev.unverified(user, name)
		if len(got) >= before+n {
			time.Sleep(200 * time.Millisecond) // a second record of the same write would show now
			got = ev.unverified(user, name)
			if len(got) != before+n {
				t.Errorf("%s: %d records of %d writes (one per write: never aggregated, never doubled)", name, len(got)-before, n)
			}
			e := got[len(got)-1]
			if (field != "" && !slices.Equal(e.Fields, []string{field})) || e.Commit != commit || !slices.Equal(e.Criteria, []audit.Criterion{audit.CC6_1, audit.CC7_2, audit.CC8_1}) || e.Count > 1 {
				t.Errorf("%s: record %+v, want field %q, commit %q, criteria CC6.1 CC7.2 CC8.1", name, e, field, commit)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: no UnverifiedAgentWrite recorded for %s", name, user)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// warnings collects the warnings the apiserver returns to a client.
type warnings struct {
	mu  sync.Mutex
	all []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all = append(w.all, text)
}

func (w *warnings) has(s string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, x := range w.all {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// TestWitnessDeniesTheAgentWhatNoCommitDeclares is issue #14's attack list, run with the agent's
// real token and with a cluster-admin impersonating the agent, against the guard with a witness
// over a real index of two commits: every attack is denied with the field named and one
// UnverifiedAgentWrite record; what the commits declare, a prune, the previous commit, a label a
// mutating admission policy adds, replicas Git does not set and bookkeeping are allowed; Warn
// records and allows, Off skips; the agent is judged in kube-system and Writ's namespace too.
func TestWitnessDeniesTheAgentWhatNoCommitDeclares(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	index := &witness.Index{}
	ev := guardedWith(t, func(g *webhook.Guard) {
		g.Witness = indexWitness{Index: index, users: map[string]bool{agentUser: true}}
	})
	for _, ns := range []string{"writ-system", "kube-system"} {
		if err := env.EnsureNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	ensureNamespace(t, "witness-shop", map[string]string{"writ.dev/protected": "true"})
	if err := env.Grant(ctx, harness.ServiceAccountSubject("writ-system", "writ-reconciler"), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	tokenCfg, err := env.ServiceAccount(ctx, "writ-system", "writ-reconciler")
	if err != nil {
		t.Fatal(err)
	}
	identities := []struct {
		name string
		cfg  *rest.Config
	}{
		{"the agent's token", tokenCfg},
		{"a cluster-admin impersonating the agent", env.As(agentUser)},
	}
	agent := mustClient(t, tokenCfg)
	policy := &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "witness-shop"}, Spec: guardv1.GuardPolicySpec{
		Protect: guardv1.Protection{Namespaces: guardv1.NamespaceSelector{Names: []string{"witness-shop"}}},
		Agents:  []guardv1.Subject{{Kind: guardv1.ServiceAccountSubject, Namespace: "writ-system", Name: "writ-reconciler"}},
		Exemptions: []guardv1.Exemption{{Name: "hpa-scale", Subject: guardv1.Subject{Kind: guardv1.ServiceAccountSubject, Namespace: "kube-system", Name: "horizontal-pod-autoscaler"},
			Resources: []guardv1.ResourceRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}}}, Operations: []string{"UPDATE"}, Subresources: []string{"scale"}}},
	}}
	if err := env.Client.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), policy) })

	// Before the witness has an index of the Sync: its objects are denied, saying why.
	settingsN := shopManifests("previous", true)
	for i := 0; ; i++ {
		err := applyAs(ctx, agent, settingsN[0])
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "not ready") {
			witnessDenied(t, "a write before the index exists", err, "ConfigMap witness-shop/settings", "the witness is not ready", witnessSync.String())
			break
		}
		if i > 100 {
			t.Fatalf("the witness never said it is not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // the guard's policy cache catching up
	}
	recordedOnce(t, ev, agentUser, "settings", 0, "", "")

	// Commit N: applied by the agent, all allowed.
	publish(t, index, witnessSync, commitN, objects(t, shopManifests("previous", true)...))
	for _, m := range shopManifests("previous", true) {
		if err := applyAs(ctx, agent, m); err != nil {
			t.Fatalf("applying what commit N declares: %v", err)
		}
	}
	// Commit N+1: a rollout in stages: settings is still N's when web is applied, and that is
	// allowed; then everything N+1 declares, and the prune of old.
	publish(t, index, witnessSync, commitN1, objects(t, shopManifests("safe", false)...))
	if err := applyAs(ctx, agent, shopManifests("safe", false)[1]); err != nil {
		t.Fatalf("applying web of N+1 while settings is N's: %v", err)
	}
	if err := applyAs(ctx, agent, shopManifests("previous", false)[0]); err != nil {
		t.Errorf("a write matching the previous commit: %v", err)
	}
	for _, m := range shopManifests("safe", false) {
		if err := applyAs(ctx, agent, m); err != nil {
			t.Fatalf("applying what commit N+1 declares: %v", err)
		}
	}
	if err := agent.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "witness-shop", Name: "old"}}); err != nil {
		t.Errorf("a prune of what N declared and N+1 does not: %v", err)
	}
	if n := ev.count("settings") + ev.count("web") + ev.count("old"); n != 1 {
		t.Errorf("%d records of allowed writes (only the not-ready denial)", n)
	}

	// An object nobody declares, made by the admin before protection counts for it.
	stray := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-public", Name: "stray"}}
	if err := env.Client.Create(ctx, stray); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}

	for _, id := range identities {
		c := mustClient(t, id.cfg)
		cs, err := kubernetes.NewForConfig(id.cfg)
		if err != nil {
			t.Fatal(err)
		}
		attacks := []struct {
			what, name, field, commit string
			try                       func() error
			wants                     []string
		}{
			{"change a field Git declares", "settings", ".data.mode", commitN1, func() error {
				return c.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "witness-shop", Name: "settings"}}, mergePatch(`{"data":{"mode":"evil"}}`))
			}, []string{"ConfigMap witness-shop/settings", ".data.mode", commitN1, `(Git declares .data.mode = "safe")`}},
			{"change a Secret's declared value", "creds", ".data.password", commitN1, func() error {
				return c.Patch(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "witness-shop", Name: "creds"}}, mergePatch(`{"stringData":{"password":"attacker"}}`))
			}, []string{"Secret witness-shop/creds", ".data.password"}},
			{"add a label to adopt an object no commit declares", "stray", "", "", func() error {
				return c.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-public", Name: "stray"}}, mergePatch(`{"metadata":{"labels":{"writ.dev/managed":"writ-system.shop"}}}`))
			}, []string{"ConfigMap kube-public/stray", "no verified commit declares it"}},
			{"change a label Git declares", "settings", "", commitN1, func() error {
				return c.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "witness-shop", Name: "settings"}}, mergePatch(`{"metadata":{"labels":{"writ.dev/managed":"writ-system.other"}}}`))
			}, []string{".metadata.labels"}},
			{"create an object no commit declares in a protected namespace", "planted", "", "", func() error {
				return c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "witness-shop", Name: "planted"}})
			}, []string{"ConfigMap witness-shop/planted", "no verified commit declares it"}},
			{"bind cluster-admin cluster-wide", "pwn", "", "", func() error {
				return c.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "pwn"},
					RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
					Subjects: []rbacv1.Subject{{Kind: "User", Name: "mallory", APIGroup: "rbac.authorization.k8s.io"}}})
			}, []string{"ClusterRoleBinding.rbac.authorization.k8s.io pwn", "no verified commit declares it"}},
			{"plant an object in kube-system", "planted", "", "", func() error {
				return c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "planted"}})
			}, []string{"ConfigMap kube-system/planted"}},
			{"plant an object in Writ's namespace", "planted", "", "", func() error {
				return c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "writ-system", Name: "planted"}})
			}, []string{"ConfigMap writ-system/planted"}},
			{"delete an object Git still declares", "settings", "", commitN1, func() error {
				return c.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "witness-shop", Name: "settings"}})
			}, []string{"still declares it", commitN1}},
			{"server-side apply with force of another image", "web", ".spec.template.spec.containers[name=web].image", commitN1, func() error {
				return applyAs(ctx, c, strings.Replace(shopManifests("safe", false)[1], "image: web:1", "image: evil:1", 1), client.FieldOwner("kubectl"))
			}, []string{"Deployment.apps witness-shop/web", `Git declares .spec.template.spec.containers[name=web].image = "web:1"`}},
			{"scale a Deployment whose replicas Git declares", "web", "", "", func() error {
				return (&scaler{"witness-shop", "web"}).setUser(ctx, id.cfg, 9)
			}, []string{"(scale)", "never another subresource"}},
			{"set replicas Git declares", "web", ".spec.replicas", commitN1, func() error {
				return c.Patch(ctx, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
					ObjectMeta: metav1.ObjectMeta{Namespace: "witness-shop", Name: "web"}}, mergePatch(`{"spec":{"replicas":9}}`))
			}, []string{"Git declares .spec.replicas = 2"}},
			{"add a label Git does not set", "settings", ".metadata.labels.team", commitN1, func() error {
				return c.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "witness-shop", Name: "settings"}}, mergePatch(`{"metadata":{"labels":{"team":"evil"}}}`))
			}, []string{"ConfigMap witness-shop/settings", "sets field .metadata.labels.team", `field manager "webhook.test"`, commitN1}},
			{"add a label by server-side apply as the agent's own field manager", "settings", ".metadata.labels.team", commitN1, func() error {
				return applyAs(ctx, c, strings.Replace(shopManifests("safe", false)[0], "labels: {", "labels: {team: evil, ", 1), client.FieldOwner("writ"))
			}, []string{"ConfigMap witness-shop/settings", "sets field .metadata.labels.team", `field manager "writ"`}},
			{"set replicas Git does not set", "elastic", ".spec.replicas", commitN1, func() error {
				return c.Patch(ctx, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
					ObjectMeta: metav1.ObjectMeta{Namespace: "witness-shop", Name: "elastic"}}, mergePatch(`{"spec":{"replicas":0}}`))
			}, []string{"Deployment.apps witness-shop/elastic", "sets field .spec.replicas"}},
			{"write an object of a Sync the witness has no index of", "early", "", "", func() error {
				return c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "witness-shop", Name: "early",
					Labels: map[string]string{"writ.dev/managed": "writ-system.late"}}})
			}, []string{"the witness is not ready", "writ-system/late"}},
			{"exec into a pod", "", "", "", func() error {
				return connect(ctx, cs, "witness-shop", "exec")
			}, []string{"CONNECT"}},
		}
		for _, a := range attacks {
			before := len(ev.unverified(agentUser, a.name))
			err := a.try()
			witnessDenied(t, id.name+": "+a.what, err, a.wants...)
			if a.name != "" {
				recordedOnce(t, ev, agentUser, a.name, before, a.field, a.commit)
			}
		}
	}
	// Nothing changed.
	var cm corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "witness-shop", Name: "settings"}, &cm); err != nil || cm.Data["mode"] != "safe" {
		t.Errorf("settings after the attacks: %v %v", cm.Data, err)
	}
	var crb rbacv1.ClusterRoleBinding
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "pwn"}, &crb); !apierrors.IsNotFound(err) {
		t.Errorf("the ClusterRoleBinding exists: %v", err)
	}

	// Allowed: replicas Git does not set, written by the HPA (its own identity, exempted for
	// deployments/scale) and then kept by the agent's apply of what Git declares (the HPA's field
	// is neither compared nor the agent's); a label Git does not set added by a mutating
	// admission policy; the declared object in kube-system.
	hpaCfg, err := env.ServiceAccount(ctx, "kube-system", "horizontal-pod-autoscaler")
	if err != nil {
		t.Fatal(err)
	}
	eventuallyAllowed(t, "the HPA scaling what Git leaves to it", func() error { return (&scaler{"witness-shop", "elastic"}).setUser(ctx, hpaCfg, 5) })
	if err := applyAs(ctx, agent, shopManifests("safe", false)[2]); err != nil {
		t.Errorf("the agent's apply of a Deployment whose replicas the HPA set: %v", err)
	}
	var elastic appsv1.Deployment
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "witness-shop", Name: "elastic"}, &elastic); err != nil || elastic.Spec.Replicas == nil || *elastic.Spec.Replicas != 5 {
		t.Errorf("elastic after the HPA and the agent: %v %v", elastic.Spec.Replicas, err)
	}
	if err := applyAs(ctx, agent, shopManifests("safe", false)[4]); err != nil {
		t.Errorf("the declared object in kube-system: %v", err)
	}
	labelAdded(t, agent)

	// Bookkeeping is not judged: the Sync's status, a lease, an event; the Sync itself is.
	sync := syncWithStatus(t, agent, "shop")
	if err := agent.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "witness-shop", Name: "writ-lease"}}); err != nil {
		t.Errorf("the agent's lease: %v", err)
	}
	if err := agent.Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "witness-shop", Name: "writ-event"},
		InvolvedObject: corev1.ObjectReference{Kind: "ConfigMap", Namespace: "witness-shop", Name: "settings"}, Reason: "Applied", Message: "applied"}); err != nil {
		t.Errorf("the agent's event: %v", err)
	}
	if n := ev.count("writ-lease") + ev.count("writ-event"); n != 0 || len(ev.unverified(agentUser, "shop")) != 0 {
		t.Errorf("bookkeeping was judged: %d records", n)
	}
	witnessDenied(t, "the agent changing a Sync no commit declares", agent.Patch(ctx, sync, mergePatch(`{"spec":{"suspend":true}}`)), "Sync.writ.dev writ-system/shop")

	// Modes: Warn on the policy records and allows, with a warning; the Sync's Enforce is
	// stricter and wins; Off on the policy alone skips, without a record.
	setWitness := func(p guardv1.WitnessMode, s reconcilev1.SyncWitnessMode) {
		t.Helper()
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(policy), policy); err != nil {
			t.Fatal(err)
		}
		policy.Spec.Witness = p
		if err := env.Client.Update(ctx, policy); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(sync), sync); err != nil {
			t.Fatal(err)
		}
		sync.Spec.Witness = s
		if err := env.Client.Update(ctx, sync); err != nil {
			t.Fatal(err)
		}
	}
	warned := &warnings{}
	warnCfg := rest.CopyConfig(tokenCfg)
	warnCfg.WarningHandler = warned
	warnCS, err := kubernetes.NewForConfig(warnCfg)
	if err != nil {
		t.Fatal(err)
	}
	evil := func(mode string) error {
		_, err := warnCS.CoreV1().ConfigMaps("witness-shop").Patch(ctx, "settings", types.MergePatchType, []byte(`{"data":{"mode":"`+mode+`"}}`), metav1.PatchOptions{})
		return err
	}
	// Every attempt is recorded once: denied until the guard sees the policy's Warn, then warned.
	setWitness(guardv1.WitnessWarn, "")
	before := len(ev.unverified(agentUser, "settings"))
	attempts := eventuallyAllowed(t, "Warn", func() error { return evil("warned") })
	if !warned.has(".data.mode") || !warned.has(unverifiedText) {
		t.Errorf("Warn: no warning naming the field: %v", warned.all)
	}
	recorded(t, ev, agentUser, "settings", before, attempts, ".data.mode", commitN1)
	if err := applyAs(ctx, agent, shopManifests("safe", false)[0]); err != nil {
		t.Fatal(err)
	}
	setWitness(guardv1.WitnessWarn, reconcilev1.SyncWitnessEnforce)
	eventuallyDenied(t, "the Sync's Enforce over the policy's Warn", func() error { return evil("still-evil") })
	// Denied until the guard sees Off, then skipped without a record.
	setWitness(guardv1.WitnessOff, "")
	before = len(ev.unverified(agentUser, "settings"))
	attempts = eventuallyAllowed(t, "Off", func() error { return evil("unjudged") })
	if attempts > 1 {
		recorded(t, ev, agentUser, "settings", before, attempts-1, ".data.mode", commitN1)
	} else {
		time.Sleep(300 * time.Millisecond)
	}
	if n := len(ev.unverified(agentUser, "settings")); n != before+attempts-1 {
		t.Errorf("Off: %d records of %d attempts, the last one allowed", n-before, attempts)
	}
	if err := applyAs(ctx, agent, shopManifests("safe", false)[0]); err != nil {
		t.Fatal(err)
	}
	setWitness("", "")
	eventuallyDenied(t, "the default, Enforce", func() error { return evil("evil-again") })
}

// labelAdded: a cluster-admin's MutatingAdmissionPolicy adds a label Git does not set to the
// agent's writes of ConfigMaps in witness-shop; the agent's apply of what Git declares is allowed
// and stored with the label.
func labelAdded(t *testing.T, agent client.Client) {
	t.Helper()
	ctx := context.Background()
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "witness-add-label"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
				}}}},
			Mutations: []admissionregistrationv1.Mutation{{PatchType: admissionregistrationv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: `Object{metadata: Object.metadata{labels: {"injected": "yes"}}}`}}},
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		}}
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "witness-add-label"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: "witness-add-label", MatchResources: &admissionregistrationv1.MatchResources{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "witness-shop"}}}}}
	// Admission policies are the maintainer's (the control plane's static protection).
	admin := as(t, maintainer, "system:masters")
	for _, o := range []client.Object{policy, binding} {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(context.Background(), o) })
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := applyAs(ctx, agent, shopManifests("safe", false)[0])
		var cm corev1.ConfigMap
		gerr := env.Client.Get(ctx, client.ObjectKey{Namespace: "witness-shop", Name: "settings"}, &cm)
		if err == nil && gerr == nil && cm.Labels["injected"] == "yes" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("the agent's write with a label a mutating policy adds: %v (labels %v, %v)", err, cm.Labels, gerr)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// eventuallyAllowed retries try until it succeeds (the guard's policy cache catching up with a
// change of mode), and returns how many times it tried.
func eventuallyAllowed(t *testing.T, what string, try func() error) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for n := 1; ; n++ {
		err := try()
		if err == nil {
			return n
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: never allowed: %v", what, err)
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// eventuallyDenied retries try until the witness denies it.
func eventuallyDenied(t *testing.T, what string, try func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := try()
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), unverifiedText) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: never denied by the witness: %v", what, fmt.Sprint(err))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWitnessEntryWithTheWebhookDown: with no webhook serving, the witness entry (failurePolicy
// Fail) stops every write of the agent's token, in kube-system and Writ's namespace too, except
// its bookkeeping, which the entry's matchConditions (webhook.Bookkeeping's CEL, evaluated by the
// real apiserver) never send: a Sync's status, a lease, an event.
func TestWitnessEntryWithTheWebhookDown(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	for _, ns := range []string{"writ-system", "kube-system"} {
		if err := env.EnsureNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	// The binding passes the guard (the webhook up for the setup only: a subtest's cleanup stops it).
	t.Run("setup", func(t *testing.T) {
		guarded(t)
		if err := env.Grant(ctx, harness.ServiceAccountSubject("writ-system", "writ-reconciler"), "cluster-admin"); err != nil {
			t.Fatal(err)
		}
	})
	cfg, err := env.ServiceAccount(ctx, "writ-system", "writ-reconciler")
	if err != nil {
		t.Fatal(err)
	}
	agent := mustClient(t, cfg)
	sync := syncWithStatus(t, agent, "down")
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "writ-system", Name: "writ-down-lease"}}
	if err := agent.Create(ctx, lease); err != nil {
		t.Errorf("the agent's lease with the webhook down: %v", err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), lease) })
	event := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "writ-down-event"},
		InvolvedObject: corev1.ObjectReference{Kind: "ConfigMap", Namespace: "kube-system", Name: "down"}, Reason: "Applied", Message: "applied"}
	if err := agent.Create(ctx, event); err != nil {
		t.Errorf("the agent's event with the webhook down: %v", err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), event) })
	for what, err := range map[string]error{
		"a ConfigMap in kube-system":      agent.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "down"}}),
		"a ConfigMap in Writ's namespace": agent.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "writ-system", Name: "down"}}),
		"the Sync itself":                 agent.Patch(ctx, sync, mergePatch(`{"spec":{"suspend":true}}`)),
		"a lease's status-like rewrite":   agent.Patch(ctx, lease, mergePatch(`{"spec":{"holderIdentity":"x"}}`)), // a lease: bookkeeping, allowed
	} {
		bookkeeping := strings.HasPrefix(what, "a lease")
		switch {
		case bookkeeping && err != nil:
			t.Errorf("%s with the webhook down: %v", what, err)
		case !bookkeeping && (err == nil || !strings.Contains(err.Error(), webhook.WitnessWebhookName)):
			t.Errorf("%s with the webhook down: %v, want the witness entry to fail closed", what, err)
		}
	}
}

// syncWithStatus creates the Sync writ-system/name as the admin, and has agent write its status:
// the agent's bookkeeping, which must be allowed.
func syncWithStatus(t *testing.T, agent client.Client, name string) *reconcilev1.Sync {
	t.Helper()
	ctx := context.Background()
	sync := &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "writ-system", Name: name},
		Spec: reconcilev1.SyncSpec{SourceRef: reconcilev1.LocalObjectReference{Name: name}}}
	if err := env.Client.Create(ctx, sync); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), sync) })
	base := sync.DeepCopy()
	sync.Status.LastAppliedCommit = commitN1
	if err := agent.Status().Patch(ctx, sync, client.MergeFrom(base)); err != nil {
		t.Errorf("the agent's Sync status (bookkeeping): %v", err)
	}
	return sync
}
