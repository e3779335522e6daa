package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	auditcontroller "writ.dev/writ/audit/controller"
	"writ.dev/writ/cmd/writ-controller/app"
	"writ.dev/writ/test/controlplane"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/webhook"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

// Writ's namespace and the identities the demo runs as. The guard trusts the reconciler's
// service account, as policies/guard-writ.yaml says.
const (
	writNS         = "writ-system"
	reconcilerSA   = wellknown.ReconcilerServiceAccount
	controllerSA   = wellknown.ControllerServiceAccount
	hpaSA          = "horizontal-pod-autoscaler"
	reconcilerUser = "system:serviceaccount:writ-system:writ-reconciler"
	controllerUser = "system:serviceaccount:writ-system:writ-controller"
	hpaUser        = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
)

// The people of the demo: bob develops, ann is on call, lea leads the platform team.
var (
	bob = person{"bob", "developers"}
	ann = person{"ann", "oncall"}
	lea = person{"lea", "platform-leads"}
)

type person struct{ user, group string }

// kubectl is the start of the kubectl command line this person would type.
func (p person) kubectl() string { return "kubectl --as " + p.user + " --as-group " + p.group }

// startControlPlane starts kube-apiserver and etcd and writes an admin kubeconfig.
func (d *demo) startControlPlane() error {
	d.s.section("Start a local Kubernetes control plane (kube-apiserver + etcd built from source by make controlplane)")
	static, err := staticProtection()
	if err != nil {
		return err
	}
	env, err := harness.Start(harness.Options{Log: io.Discard, StaticAdmissionPolicies: static})
	if err != nil {
		return err
	}
	d.env = env
	d.s.evidence("kube-apiserver %s at %s", env.ServerVersion, env.Config.Host)
	kc, err := env.KubeConfig("writ-demo-admin", "system:masters")
	if err != nil {
		return err
	}
	d.admin = filepath.Join(d.o.workDir, "admin.kubeconfig")
	if err := os.WriteFile(d.admin, kc, 0o600); err != nil {
		return err
	}
	d.s.evidence("kubeconfig of the cluster's administrator: %s", d.admin)
	return nil
}

// identities makes the service accounts Writ runs as, with tokens from the TokenRequest API,
// and the RBAC of everyone in the demo. The guard's webhook is registered afterwards: it
// protects ClusterRoleBindings from everyone but the GitOps agent.
func (d *demo) identities(ctx context.Context) error {
	d.s.section("Identities: Writ's service accounts, and three people whom RBAC lets do anything")
	for _, sa := range []string{reconcilerSA, controllerSA} {
		cfg, err := d.env.ServiceAccount(ctx, writNS, sa)
		if err != nil {
			return err
		}
		// The chart gives each account a least-privilege role; the demo keeps RBAC out of the way.
		if err := d.env.Grant(ctx, harness.ServiceAccountSubject(writNS, sa), "cluster-admin"); err != nil {
			return err
		}
		path := filepath.Join(d.o.workDir, sa+".kubeconfig")
		if err := writeKubeconfig(path, cfg, sa); err != nil {
			return err
		}
		d.kubeconfigs[sa] = path
		if sa == reconcilerSA {
			d.reconcilerConfig = cfg
		}
		d.s.evidence("service account %s/%s: token from the TokenRequest API in %s (not shown)", writNS, sa, path)
	}
	hpa, err := d.env.ServiceAccount(ctx, "kube-system", hpaSA)
	if err != nil {
		return err
	}
	d.hpa = hpa
	d.s.evidence("service account kube-system/%s: the HorizontalPodAutoscaler's identity (RBAC from the apiserver's bootstrap roles)", hpaSA)
	for _, p := range []person{bob, ann, lea} {
		if err := d.env.Grant(ctx, harness.Group(p.group), "cluster-admin"); err != nil {
			return err
		}
	}
	d.s.evidence("RBAC: %s (group %s), %s (%s) and %s (%s) are cluster-admin: RBAC lets them change anything",
		bob.user, bob.group, ann.user, ann.group, lea.user, lea.group)
	return nil
}

// guardPolicy installs the shipped GuardPolicy (policies/guard-writ.yaml), whose exemptions include
// writ-controller's sealing component writing the Secrets it unseals.
func (d *demo) guardPolicy(ctx context.Context) error {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return err
	}
	path := filepath.Join(root, "policies", "guard-writ.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var gp guardv1.GuardPolicy
	if err := yaml.UnmarshalStrict(data, &gp); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := d.env.Client.Create(ctx, &gp); err != nil {
		return fmt.Errorf("creating GuardPolicy %s: %w", gp.Name, err)
	}
	d.s.cmd("kubectl apply -f policies/guard-writ.yaml")
	d.s.evidence("guardpolicy.writ.dev/%s created: mode %s; protects namespaces labelled writ.dev/protected=true; agent %s",
		gp.Name, gp.Spec.Mode, reconcilerUser)
	d.s.evidence("break-glass: requested by group %v, approved by group %v, at most %s",
		gp.Spec.BreakGlass.RequesterGroups, gp.Spec.BreakGlass.ApproverGroups, gp.Spec.BreakGlass.MaxDuration.Duration)
	d.s.evidence("exempt: %d named identities (the HPA writing deployments/scale, kubelets writing pod status, ..., writ-controller writing unsealed Secrets)", len(gp.Spec.Exemptions))
	return nil
}

// startController runs writ-controller with the webhook, audit and sealing components as
// writ-system:writ-controller, exposes its audit and sealing ports as Services, and registers
// the guard with the apiserver once it serves.
func (d *demo) startController(ctx context.Context) error {
	d.s.section("Run writ-controller: the admission guard, the audit trail and sealing")
	ip, err := harness.HostIP()
	if err != nil {
		return err
	}
	hook := d.env.WebhookServing()
	reserve(hook.Port)
	auditAddr, sealingAddr := freeAddr(ip), freeAddr(ip)
	args := []string{"--kubeconfig", d.kubeconfigs[controllerSA], "--enable-webhook", "--enable-audit", "--enable-sealing", "--enable-grants",
		"--leader-elect", "--webhook-port", strconv.Itoa(hook.Port), "--webhook-cert-dir", hook.CertDir,
		"--audit-dir", filepath.Join(d.o.workDir, "audit"), "--audit-checkpoint-interval", "2s",
		"--audit-export-bind-address", auditAddr, "--sealing-bind-address", sealingAddr}
	p, err := d.launch(ctx, "writ-controller", args, &d.controller)
	if err != nil {
		return err
	}
	var lease coordinationv1.Lease
	key := client.ObjectKey{Namespace: writNS, Name: "writ-controller.writ.dev"}
	if err := p.until(ctx, time.Minute, func() (bool, string) {
		err := d.env.Client.Get(ctx, key, &lease)
		return err == nil && lease.Spec.HolderIdentity != nil, fmt.Sprint("lease: ", err)
	}); err != nil {
		return fmt.Errorf("writ-controller did not take the leader lease: %w", err)
	}
	d.s.evidence("leader lease %s held by %s", key, *lease.Spec.HolderIdentity)
	line, err := p.metric("leader_election_master_status{")
	if err != nil || line == "" {
		return fmt.Errorf("writ-controller's metrics lack leader_election_master_status: %v", err)
	}
	d.s.evidence("GET http://%s/metrics -> %s", p.metrics, line)

	// What the chart's Services do: the apiserver's service proxy reaches the audit export
	// (writ audit export) and the sealing certificate (writ seal) through them.
	for _, svc := range []struct{ name, port, addr string }{{"writ-controller", "audit", auditAddr}, {"writ-sealing", "http", sealingAddr}} {
		port, err := portOf(svc.addr)
		if err != nil {
			return err
		}
		if err := d.env.ExposeService(ctx, writNS, svc.name, svc.port, port); err != nil {
			return err
		}
		d.s.evidence("Service %s/%s port %q -> writ-controller at %s", writNS, svc.name, svc.port, svc.addr)
	}

	vwc := guardWebhook(hook)
	if err := d.env.Client.Create(ctx, vwc); err != nil {
		return fmt.Errorf("registering the guard: %w", err)
	}
	d.s.evidence("ValidatingWebhookConfiguration %s: every create, update, delete and connect outside %v goes to %s (failurePolicy Fail)",
		vwc.Name, excludedNamespaces, hook.URL(app.GuardPath))
	mwc := breakglassWebhook(hook)
	if err := d.env.Client.Create(ctx, mwc); err != nil {
		return fmt.Errorf("registering the approval stamp: %w", err)
	}
	d.s.evidence("MutatingWebhookConfiguration %s: an approval of a BreakGlassRequest gets spec.approvedAt from the guard's clock (%s)",
		mwc.Name, hook.URL(app.StampPath))
	return nil
}

// breakglassWebhook is the chart's MutatingWebhookConfiguration writ-breakglass, pointing at the
// local server: the guard stamps an approval's spec.approvedAt with its own clock.
func breakglassWebhook(hook harness.WebhookServing) *admissionv1.MutatingWebhookConfiguration {
	ignore, none, timeout, never, cluster := admissionv1.Ignore, admissionv1.SideEffectClassNone, int32(5), admissionv1.NeverReinvocationPolicy, admissionv1.ClusterScope
	url := hook.URL(app.StampPath)
	return &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "writ-breakglass"},
		Webhooks: []admissionv1.MutatingWebhook{{
			Name:         "breakglass.writ.dev",
			ClientConfig: admissionv1.WebhookClientConfig{URL: &url, CABundle: hook.CABundle},
			Rules: []admissionv1.RuleWithOperations{{
				Operations: []admissionv1.OperationType{admissionv1.Update},
				Rule:       admissionv1.Rule{APIGroups: []string{"writ.dev"}, APIVersions: []string{"*"}, Resources: []string{"breakglassrequests"}, Scope: &cluster},
			}},
			FailurePolicy:           &ignore,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			ReinvocationPolicy:      &never,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
}

// excludedNamespaces are the namespaces the guard's webhook skips, as the chart's defaults do.
var excludedNamespaces = []string{"kube-system", "kube-public", "kube-node-lease", writNS}

// guardWebhook is the chart's ValidatingWebhookConfiguration, pointing at the local server: the
// guard for everyone but the reconciler outside the excluded namespaces, and the witness entry for
// the reconciler everywhere (webhook.Webhooks).
func guardWebhook(hook harness.WebhookServing) *admissionv1.ValidatingWebhookConfiguration {
	url := hook.URL(app.GuardPath)
	return &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "writ-guard"},
		Webhooks:   webhook.Webhooks(writNS, admissionv1.WebhookClientConfig{URL: &url, CABundle: hook.CABundle}, excludedNamespaces),
	}
}

// startReconciler runs a second writ-controller with the reconciler component as
// writ-system:writ-reconciler, the agent the guard trusts, with its own leader lease.
func (d *demo) startReconciler(ctx context.Context) error {
	d.s.section("Run writ-controller's reconciler as %s, the GitOps agent the guard trusts", reconcilerUser)
	args := []string{"--kubeconfig", d.kubeconfigs[reconcilerSA], "--enable-reconciler", "--leader-elect",
		"--leader-election-id", "writ-reconciler.writ.dev", "--reconcile-cache-dir", filepath.Join(d.o.workDir, "reconciler-cache")}
	_, err := d.launch(ctx, "writ-reconciler", args, &d.reconciler)
	return err
}

// launch starts writ-controller as name with args, keeps it in *p (for stop, even if it fails
// to become ready), prints how it was started and waits until it is ready.
func (d *demo) launch(ctx context.Context, name string, args []string, p **process) (*process, error) {
	proc, err := startProcess(ctx, d.o.workDir, name, d.o.controller, args)
	if err != nil {
		return nil, err
	}
	*p = proc
	d.s.cmd("%s", proc.commandLine(d.o.controller))
	d.s.evidence("logs: %s", proc.log)
	if err := proc.ready(ctx, 2*time.Minute); err != nil {
		return nil, err
	}
	d.s.evidence("GET http://%s/readyz -> 200 ok", proc.probes)
	return proc, nil
}

// writeKubeconfig writes a kubeconfig (mode 0600) for a token-authenticated connection.
func writeKubeconfig(path string, cfg *rest.Config, user string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["demo"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["demo"] = &clientcmdapi.Context{Cluster: "demo", AuthInfo: user}
	kc.CurrentContext = "demo"
	return clientcmd.WriteToFile(*kc, path)
}

func portOf(addr string) (int, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(port)
}

// auditSubmitterPolicies installs what the chart installs so that the audit trail keeps only
// records Writ's own service accounts handed in: the policies that stamp each AuditEvent with its
// authenticated creator (audit/controller.SubmitterPolicies).
func (d *demo) auditSubmitterPolicies(ctx context.Context) error {
	mp, mb, vp, vb, err := auditcontroller.SubmitterPolicies(writNS)
	if err != nil {
		return err
	}
	// Admission policies are the agent's to change (the static protection): with its credentials.
	agent, err := client.New(d.reconcilerConfig, client.Options{Scheme: d.env.Scheme})
	if err != nil {
		return err
	}
	for _, o := range []client.Object{mp, mb, vp, vb} {
		if err := agent.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
	d.s.cmd("kubectl --kubeconfig %s apply -f charts/writ/templates/audit-mutatingadmissionpolicy.yaml (rendered)", d.kubeconfigs[reconcilerSA])
	d.s.evidence("mutatingadmissionpolicy.admissionregistration.k8s.io/%s created: the apiserver stamps every AuditEvent with who created it", mp.Name)
	// AuditEvents are trusted only when created after the policy (creation times have
	// one-second granularity).
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	return nil
}
