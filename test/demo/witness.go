package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/audit"
)

// witnessDenial ends every denial of the witness (witness.Result.Message).
const witnessDenial = "the agent's identity was used for a change no verified commit declares"

// agentIdentity is step 6: the agent's own token, and a cluster-admin impersonating the agent,
// try changes no verified commit declares; the guard's witness denies each, naming the field.
func (d *demo) agentIdentity(ctx context.Context) error {
	d.s.step("The agent's own identity cannot change what no verified commit declares")
	d.s.say("To RBAC and to the guard's identity rule, a stolen token of the reconciler, or a cluster-admin")
	d.s.say("impersonating it, is the GitOps agent. The guard's witness (in the webhook, as writ-webhook, never")
	d.s.say("the agent) fetches and verifies the repository itself and admits an agent's write only if it is")
	d.s.say("what a verified commit declares. With the reconciler's own token:")
	agent, err := client.New(d.reconcilerConfig, client.Options{Scheme: d.env.Scheme})
	if err != nil {
		return err
	}
	kc := "--kubeconfig " + d.kubeconfigs[reconcilerSA]
	since := time.Now().Add(-time.Second)

	d.s.cmd(`kubectl %s patch configmap checkout -n shop --type merge -p '{"data":{"mode":"free-for-all"}}'`, kc)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: shopNS, Name: "checkout"}}
	err = agent.Patch(ctx, cm, client.RawPatch("application/merge-patch+json", []byte(`{"data":{"mode":"free-for-all"}}`)), client.FieldOwner("kubectl-patch"))
	if err := d.witnessDenied(err, "the agent's edit of shop/checkout", ".data.mode"); err != nil {
		return err
	}

	d.s.say("A field Git does not set is no freer: every field the agent's write sets must be one a")
	d.s.say("verified commit declares (read from the managedFields the apiserver computes for the request).")
	d.s.cmd("kubectl %s label configmap checkout -n shop owner=mallory", kc)
	err = agent.Patch(ctx, cm, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"owner":"mallory"}}}`)), client.FieldOwner("kubectl-label"))
	if err := d.witnessDenied(err, "the agent's label on shop/checkout", "sets field .metadata.labels.owner"); err != nil {
		return err
	}

	d.s.cmd("kubectl %s delete deployment web -n shop", kc)
	err = agent.Delete(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: shopNS, Name: "web"}})
	if err := d.witnessDenied(err, "the agent's deletion of shop/web", "still declares it"); err != nil {
		return err
	}

	d.s.say("A cluster-admin may impersonate anyone; impersonating the agent, lea tries to make mallory a")
	d.s.say("cluster-admin:")
	imp, err := d.env.ClientAs(reconcilerUser, "system:serviceaccounts", "system:serviceaccounts:"+writNS, "system:authenticated")
	if err != nil {
		return err
	}
	d.s.cmd("%s --as %s create clusterrolebinding mallory-admin --clusterrole cluster-admin --user mallory", lea.kubectl(), reconcilerUser)
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "mallory-admin"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "mallory"}}}
	err = imp.Create(ctx, crb)
	if err := d.witnessDenied(err, "the impersonated agent's ClusterRoleBinding", "no verified commit declares it"); err != nil {
		return err
	}

	// Nothing changed.
	cur, err := d.checkout(ctx)
	if err != nil {
		return err
	}
	if _, err := d.web(ctx); err != nil {
		return fmt.Errorf("deployment shop/web is gone after the denied deletion: %w", err)
	}
	if err := d.env.Client.Get(ctx, client.ObjectKey{Name: "mallory-admin"}, &rbacv1.ClusterRoleBinding{}); !apierrors.IsNotFound(err) {
		return fmt.Errorf("clusterrolebinding mallory-admin exists after the denial (%v)", err)
	}
	if cur.Data["mode"] != "normal" || cur.Labels["owner"] != "" {
		return fmt.Errorf("the agent's denied edits changed shop/checkout: mode %q, label owner %q", cur.Data["mode"], cur.Labels["owner"])
	}
	d.s.cmd("kubectl get configmap checkout -n shop -o jsonpath='{.data.mode}'; kubectl get deployment web -n shop; kubectl get clusterrolebinding mallory-admin")
	d.s.evidence("%s\ndeployment.apps/web is still there\nError from server (NotFound): clusterrolebindings.rbac.authorization.k8s.io \"mallory-admin\" not found", cur.Data["mode"])
	for _, object := range []string{"ConfigMap shop/checkout", "Deployment.apps shop/web", "ClusterRoleBinding.rbac.authorization.k8s.io mallory-admin"} {
		if err := d.records(ctx, match{object: object, user: reconcilerUser, since: since}, audit.UnverifiedAgentWrite); err != nil {
			return err
		}
	}
	return nil
}

// witnessDenied prints err as kubectl would and checks that it is the witness's denial and says
// want.
func (d *demo) witnessDenied(err error, what, want string) error {
	if err == nil {
		return fmt.Errorf("%s was allowed: the witness did not judge the agent's write", what)
	}
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), witnessDenial) || !strings.Contains(err.Error(), want) {
		return fmt.Errorf("%s: not the witness's denial naming %q: %w", what, want, err)
	}
	d.s.evidence("Error from server (Forbidden): %s", err.Error())
	return nil
}
