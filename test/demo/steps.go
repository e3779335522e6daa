package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/audit"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/reconcile"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

// What Git declares: a protected namespace with a ConfigMap and a Deployment.
const (
	shopNS = "shop"

	namespaceYAML = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    writ.dev/protected: "true"
`
	deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
`
)

func configMapYAML(mode string) string {
	return `apiVersion: v1
kind: ConfigMap
metadata:
  name: checkout
  namespace: shop
data:
  mode: ` + mode + `
  currency: EUR
`
}

// bootstrap is the last thing set up before Writ's guard is registered: Git over HTTP, Alice's key,
// a first signed commit (the namespace), the TrustPolicy, and Writ's configuration (the
// repository's credentials, the GitSource and the Sync), put in with the agent's credentials as
// Writ's install would. It must precede the guard: once the witness judges the agent's writes,
// the agent can create no object a verified commit does not declare, and Writ's own
// configuration is the root of what commits declare.
func (d *demo) bootstrap(ctx context.Context) error {
	d.s.section("Bootstrap Writ's configuration, before its guard is registered")
	keys := filepath.Join(d.o.workDir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return err
	}
	var err error
	if d.alice, err = newSSHKey(keys, "Alice", "alice@example.com"); err != nil {
		return err
	}
	if d.mallory, err = newSSHKey(keys, "Mallory", "mallory@example.com"); err != nil {
		return err
	}
	gitRoot := filepath.Join(d.o.workDir, "git")
	if d.repo, err = newRepo(filepath.Join(gitRoot, "shop")); err != nil {
		return err
	}
	password := randomHex(16)
	base, err := serveGit(ctx, gitRoot, "writ", password)
	if err != nil {
		return err
	}
	d.repoURL = base + "/shop"
	d.s.say("Alice signs her commits with an SSH key. The repository is served over HTTP (git http-backend,")
	d.s.say("basic auth) at %s. Her first commit declares the namespace:", d.repoURL)
	_, typed, err := d.repo.commit(&d.alice, true, "shop: the namespace", map[string]string{"deploy/namespace.yaml": namespaceYAML})
	if err != nil {
		return err
	}
	d.s.cmd("%s", typed)

	// The TrustPolicy, as a file: applied to the cluster and used by `writ verify` alike.
	tp := provenancev1.TrustPolicy{TypeMeta: metav1.TypeMeta{APIVersion: provenancev1.GroupVersion.String(), Kind: "TrustPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec:       provenancev1.TrustPolicySpec{Mode: provenancev1.ModeRange, SSH: &provenancev1.SSHTrust{AllowedSigners: d.alice.allowedSigner() + "\n"}}}
	tpYAML, err := yaml.Marshal(&tp)
	if err != nil {
		return err
	}
	if err := os.WriteFile(d.policyFile(), tpYAML, 0o644); err != nil {
		return err
	}
	d.s.say("The TrustPolicy trusts Alice's key only (%s).", d.policyFile())

	fast := &metav1.Duration{Duration: 2 * time.Second}
	wait := false
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: writNS, Name: "shop-git"}, Data: map[string][]byte{"username": []byte("writ"), "password": []byte(password)}}
	gs := &reconcilev1.GitSource{TypeMeta: metav1.TypeMeta{APIVersion: reconcilev1.GroupVersion.String(), Kind: "GitSource"},
		ObjectMeta: metav1.ObjectMeta{Namespace: writNS, Name: "shop"}, Spec: reconcilev1.GitSourceSpec{
			URL: d.repoURL, Ref: &reconcilev1.GitRef{Branch: "main"}, TrustPolicy: "shop", SecretRef: &reconcilev1.LocalObjectReference{Name: "shop-git"}, Interval: fast}}
	// This control plane runs no kube-controller-manager, so no Deployment ever becomes
	// available: the sync does not wait for health.
	sy := &reconcilev1.Sync{TypeMeta: metav1.TypeMeta{APIVersion: reconcilev1.GroupVersion.String(), Kind: "Sync"},
		ObjectMeta: metav1.ObjectMeta{Namespace: writNS, Name: "shop"}, Spec: reconcilev1.SyncSpec{
			SourceRef: reconcilev1.LocalObjectReference{Name: "shop"}, Path: "deploy", Drift: reconcilev1.DriftHeal, Wait: &wait, Interval: &metav1.Duration{Duration: time.Minute}}}
	var manifest []byte
	for _, o := range []client.Object{gs, sy} {
		b, err := yaml.Marshal(o)
		if err != nil {
			return err
		}
		manifest = append(append(manifest, "---\n"...), b...)
	}
	manifestFile := filepath.Join(d.o.workDir, "shop-sync.yaml")
	if err := os.WriteFile(manifestFile, manifest, 0o644); err != nil {
		return err
	}
	// Writ's namespace and kinds are the agent's: Writ's own configuration goes in with the
	// agent's credentials (in a cluster: with Writ's install), before the guard's witness judges
	// the agent's writes.
	agent, err := client.New(d.reconcilerConfig, client.Options{Scheme: d.env.Scheme})
	if err != nil {
		return err
	}
	for _, o := range []client.Object{&tp, secret, gs, sy} {
		if err := agent.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	d.s.say("Writ is told where the repository is, whom to trust, and what to apply. Writ's namespace and")
	d.s.say("configuration belong to the GitOps agent (the fallback policy lets no one else change them), and")
	d.s.say("once the guard runs, the agent may write only what a verified commit declares. So Writ's own")
	d.s.say("configuration, the root of what commits declare, goes in first, with the agent's credentials, as")
	d.s.say("Writ's install would apply it:")
	kc := "--kubeconfig " + d.kubeconfigs[reconcilerSA]
	d.s.cmd("kubectl %s create secret generic shop-git -n writ-system --from-literal username=writ --from-literal password=<the Git password>", kc)
	d.s.cmd("kubectl %s apply -f %s -f %s", kc, d.policyFile(), manifestFile)
	d.s.evidence("secret/shop-git created\ntrustpolicy.writ.dev/shop created\ngitsource.writ.dev/shop created (url %s, branch main, every 2s)\nsync.writ.dev/shop created (path deploy, drift Heal, wait false: nothing runs Pods here)", d.repoURL)
	return nil
}

// signedCommit is step 1: a signed commit is verified and applied.
func (d *demo) signedCommit(ctx context.Context) error {
	d.s.step("A signed commit is verified and applied")
	commit, typed, err := d.repo.commit(&d.alice, true, "shop: checkout config and web deployment", map[string]string{
		"deploy/namespace.yaml": namespaceYAML, "deploy/checkout.yaml": configMapYAML("normal"), "deploy/web.yaml": deploymentYAML})
	if err != nil {
		return err
	}
	d.s.cmd("%s && git push", typed)
	log, err := d.repo.git(nil, "-c", "gpg.ssh.allowedSignersFile="+d.allowedSignersFile(), "log", "--show-signature", "-1", "--format=%H %s")
	if err != nil {
		return err
	}
	d.s.evidence("%s", log)
	d.s.cmd("writ verify --policy %s --repo %s", d.policyFile(), d.repo.dir)
	out, code, err := d.writ(ctx, "", nil, "verify", "--policy", d.policyFile(), "--repo", d.repo.dir)
	if err != nil {
		return err
	}
	d.s.evidence("%s", out)
	if code != 0 {
		return fmt.Errorf("writ verify refused Alice's signed commit (exit %d)", code)
	}

	var s reconcilev1.Sync
	if err := d.until(ctx, "the signed commit applied", 2*time.Minute, func() (bool, string) {
		state := d.syncState(ctx, &s)
		return s.Status.LastAppliedCommit == commit && strings.HasPrefix(state, "True"), state
	}); err != nil {
		return err
	}
	d.good = commit
	d.s.cmd("kubectl get sync shop -n writ-system -o yaml")
	d.s.evidence("Ready: %s", d.syncState(ctx, &s))
	d.s.evidence("lastAppliedCommit: %s", s.Status.LastAppliedCommit)
	for _, sg := range s.Status.LastAppliedSigners {
		d.s.evidence("lastAppliedSigners: %s", sg.ID)
	}
	if len(s.Status.LastAppliedSigners) == 0 || s.Status.LastAppliedSigners[0].Fingerprint != d.alice.fingerprint {
		return fmt.Errorf("the sync does not name Alice's key %s as signer: %+v", d.alice.fingerprint, s.Status.LastAppliedSigners)
	}
	for _, e := range s.Status.Inventory {
		d.s.evidence("inventory: %s %s", e.Kind, strings.TrimPrefix(e.Namespace+"/"+e.Name, "/"))
	}
	cm, err := d.checkout(ctx)
	if err != nil {
		return err
	}
	d.s.cmd("kubectl get configmap checkout -n shop -o yaml")
	d.s.evidence("data: mode=%s currency=%s\nannotations: writ.dev/commit=%s", cm.Data["mode"], cm.Data["currency"], cm.Annotations[wellknown.CommitAnnotation])
	if cm.Data["mode"] != "normal" || cm.Annotations[wellknown.CommitAnnotation] != commit {
		return fmt.Errorf("configmap shop/checkout is not what the commit declares: %v %v", cm.Data, cm.Annotations)
	}
	return d.records(ctx, match{commit: commit}, audit.CommitVerified, audit.SyncApplied)
}

// refusedCommits is step 2: an unsigned commit and one signed by an untrusted key change nothing.
func (d *demo) refusedCommits(ctx context.Context) error {
	d.s.step("An unsigned commit, and one signed by an untrusted key, are refused; nothing changes")
	for _, c := range []struct {
		who    *sshKey
		sign   bool
		reason string
		words  string
	}{
		{&d.mallory, false, "Unsigned", "Someone pushes a commit without signing it:"},
		{&d.mallory, true, "UnknownKey", "Mallory signs a commit with her own key, which the TrustPolicy does not list:"},
	} {
		d.s.say("%s", c.words)
		commit, typed, err := d.repo.commit(c.who, c.sign, "checkout: mode "+strings.ToLower(c.reason), map[string]string{"deploy/checkout.yaml": configMapYAML("free-for-all")})
		if err != nil {
			return err
		}
		d.s.cmd("%s && git push", typed)
		d.s.cmd("writ verify --policy %s --repo %s", d.policyFile(), d.repo.dir)
		out, code, err := d.writ(ctx, "", nil, "verify", "--policy", d.policyFile(), "--repo", d.repo.dir)
		if err != nil {
			return err
		}
		d.s.evidence("%s(exit code %d)", out, code)
		if code != 1 {
			return fmt.Errorf("writ verify accepted a %s commit (exit %d)", c.reason, code)
		}
		var gs reconcilev1.GitSource
		var verified *metav1.Condition
		if err := d.until(ctx, "the "+c.reason+" commit refused", time.Minute, func() (bool, string) {
			if err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: writNS, Name: "shop"}, &gs); err != nil {
				return false, err.Error()
			}
			verified = apimeta.FindStatusCondition(gs.Status.Conditions, reconcile.SourceVerified)
			return gs.Status.LastFetchedCommit == commit && verified != nil && verified.Reason == c.reason, gs.Status.Verdict
		}); err != nil {
			return err
		}
		d.s.cmd("kubectl get gitsource shop -n writ-system -o yaml")
		d.s.evidence("SourceVerified: %s %s: %s\nlastFetchedCommit:  %s\nlastVerifiedCommit: %s (still Alice's)",
			verified.Status, verified.Reason, verified.Message, gs.Status.LastFetchedCommit, gs.Status.LastVerifiedCommit)
		if gs.Status.LastVerifiedCommit != d.good {
			return fmt.Errorf("the GitSource moved its verified commit to %s", gs.Status.LastVerifiedCommit)
		}
		cm, err := d.checkout(ctx)
		if err != nil {
			return err
		}
		d.s.cmd("kubectl get configmap checkout -n shop -o jsonpath='{.data.mode}'")
		d.s.evidence("%s", cm.Data["mode"])
		if cm.Data["mode"] != "normal" {
			return fmt.Errorf("a refused commit changed the cluster: mode %q", cm.Data["mode"])
		}
		if err := d.records(ctx, match{commit: commit}, audit.CommitRejected); err != nil {
			return err
		}
		// The refused commit is dropped from main, as a maintainer would after the alert.
		if _, err := d.repo.git(nil, "reset", "-q", "--hard", d.good); err != nil {
			return err
		}
		d.s.cmd("git reset --hard %s && git push --force   # the maintainer drops the refused commit", d.good[:12])
	}
	var gs reconcilev1.GitSource
	return d.until(ctx, "main back at Alice's commit", time.Minute, func() (bool, string) {
		if err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: writNS, Name: "shop"}, &gs); err != nil {
			return false, err.Error()
		}
		return gs.Status.LastFetchedCommit == d.good && gs.Status.LastVerifiedCommit == d.good, "fetched " + gs.Status.LastFetchedCommit
	})
}

// syncState reads the sync into s and returns its Ready condition in words.
func (d *demo) syncState(ctx context.Context, s *reconcilev1.Sync) string {
	if err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: writNS, Name: "shop"}, s); err != nil {
		return err.Error()
	}
	c := apimeta.FindStatusCondition(s.Status.Conditions, reconcile.Ready)
	if c == nil {
		return "no Ready condition yet"
	}
	return string(c.Status) + " " + c.Reason + ": " + c.Message
}

func (d *demo) checkout(ctx context.Context) (*corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: shopNS, Name: "checkout"}, &cm)
	return &cm, err
}

func (d *demo) web(ctx context.Context) (*appsv1.Deployment, error) {
	var dep appsv1.Deployment
	err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: shopNS, Name: "web"}, &dep)
	return &dep, err
}

func (d *demo) policyFile() string { return filepath.Join(d.o.workDir, "trust-policy.yaml") }

// allowedSignersFile is git's view of the TrustPolicy, for `git log --show-signature`.
func (d *demo) allowedSignersFile() string {
	f := filepath.Join(d.o.workDir, "keys", "allowed_signers")
	_ = os.WriteFile(f, []byte(d.alice.allowedSigner()+"\n"), 0o644)
	return f
}
