package charts_test

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"writ.dev/writ/webhook"
)

// kubeVersion is what the chart is rendered for: the control plane the tests run (Helm's
// library would otherwise assume v1.20).
const kubeVersion = "v1.37.1"

// rendering is the chart rendered for one set of values.
type rendering struct {
	namespace string
	objects   []*unstructured.Unstructured
	notes     string
}

// find returns the object of that kind and name, or nil.
func (r rendering) find(kind, name string) *unstructured.Unstructured {
	for _, o := range r.objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// must returns the object of that kind and name, failing t without it.
func (r rendering) must(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	o := r.find(kind, name)
	if o == nil {
		t.Fatalf("no %s %s rendered; rendered: %s", kind, name, r.names())
	}
	return o
}

func (r rendering) names() string {
	var out []string
	for _, o := range r.objects {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load("writ")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// renderChart renders the chart as `helm install --dry-run` would, without a cluster.
func renderChart(c *chart.Chart, namespace string, values map[string]any) (rendering, error) {
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		return rendering{}, err
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = "writ", namespace
	install.KubeVersion = kv
	rel, err := install.Run(c, values)
	if err != nil {
		return rendering{}, err
	}
	r := rendering{namespace: namespace, notes: rel.Info.Notes}
	manifest := rel.Manifest
	for _, h := range rel.Hooks { // the fallback policy's binding
		manifest += "\n---\n" + h.Manifest
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			return r, fmt.Errorf("rendered manifest: %w", err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil { // integers stay int64
			return r, fmt.Errorf("rendered manifest: %w", err)
		}
		r.objects = append(r.objects, u)
	}
	return r, nil
}

func render(t *testing.T, namespace string, values map[string]any) rendering {
	t.Helper()
	r, err := renderChart(loadChart(t), namespace, values)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// set builds nested values from "a.b.c" paths.
func set(kv ...any) map[string]any {
	out := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m := out
		path := strings.Split(kv[i].(string), ".")
		for _, k := range path[:len(path)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		m[path[len(path)-1]] = kv[i+1]
	}
	return out
}

// combination is one set of values the tests render, apply and check.
type combination struct {
	name      string
	namespace string
	values    map[string]any
	check     func(t *testing.T, r rendering)
}

var combinations = []combination{
	{"defaults", "writ-system", nil, checkDefaults},
	{"self-managed-tls", "writ-selfmanaged", set(
		"webhook.tls.mode", "self-managed",
		"webhook.podAntiAffinity", "hard",
		"webhook.replicas", 3,
		"webhook.failurePolicy", "Ignore",
		"webhook.timeoutSeconds", 5,
		"webhook.matchConditions", []any{map[string]any{"name": "not-the-ci-robot", "expression": "request.userInfo.username != 'ci-robot'"}},
		"networkPolicy.enabled", true,
		"networkPolicy.allowedNamespaceSelector", map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}},
		"metrics.serviceMonitor.enabled", true,
		// runComponents shows the reconciler runs on its own role alone.
		"reconciler.applyClusterRole", "",
		"audit.persistence.existingClaim", "audit-claim",
	), checkSelfManaged},
	{"postgres-issuer-no-sealing", "writ-pg", set(
		"audit.postgres.enabled", true,
		"audit.postgres.existingSecret", "writ-audit-dsn",
		"audit.postgres.chain", "prod-eu",
		"sealing.enabled", false,
		"reconciler.applyClusterRole", "",
		"webhook.tls.certManager.issuerRef", map[string]any{"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
		"guardFallback.writReconciler", false,
		"guardFallback.agents", []any{"system:serviceaccount:flux-system:kustomize-controller"},
		"image.repository", "registry.example.com/writ/writ-controller",
		"image.digest", "sha256:"+strings.Repeat("ab", 32),
		"imagePullSecrets", []any{map[string]any{"name": "regcred"}},
		"nodeSelector", map[string]any{"kubernetes.io/os": "linux"},
		"tolerations", []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "writ", "effect": "NoSchedule"}},
		"priorityClassName", "system-cluster-critical",
		"webhook.namespaceSelectorExpressions", []any{map[string]any{"key": "writ.dev/guarded", "operator": "Exists"}},
		"webhook.witnessSecretNamespaces", []any{"shop"},
	), checkPostgres},
	{"custom-ports-no-pdb", "writ-custom", set(
		"webhook.port", 10443,
		"audit.exportPort", 9082,
		"sealing.port", 9083,
		"webhook.podDisruptionBudget.enabled", false,
		"webhook.podAntiAffinity", "none",
		"audit.persistence.enabled", false,
		"reconciler.replicas", 2,
		"sealing.installCRD", false, // Bitnami's chart installed it
	), checkCustom},
	{"reconciler-only", "writ-agent", set(
		"webhook.enabled", false,
		"audit.enabled", false,
		"sealing.enabled", false,
		"crds.keep", false,
		"guardFallback.enabled", false,
	), checkReconcilerOnly},
}

func TestRenderCombinations(t *testing.T) {
	for _, c := range combinations {
		t.Run(c.name, func(t *testing.T) {
			r := render(t, c.namespace, c.values)
			checkCommon(t, r)
			c.check(t, r)
		})
	}
}

// checkCommon: what holds for every combination.
func checkCommon(t *testing.T, r rendering) {
	t.Helper()
	seen := map[string]bool{}
	for _, o := range r.objects {
		key := o.GetAPIVersion() + "/" + o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
		if seen[key] {
			t.Errorf("%s rendered twice", key)
		}
		seen[key] = true
		if o.GetLabels()["app.kubernetes.io/part-of"] != "writ" && o.GetKind() != "CustomResourceDefinition" {
			t.Errorf("%s %s lacks app.kubernetes.io/part-of=writ", o.GetKind(), o.GetName())
		}
	}
	for _, o := range r.objects {
		if o.GetKind() != "Deployment" {
			continue
		}
		pod, _, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
		sa, _ := pod["serviceAccountName"].(string)
		if r.find("ServiceAccount", sa) == nil {
			t.Errorf("Deployment %s runs as %q, which the chart does not create", o.GetName(), sa)
		}
		c := containers(t, o)[0]
		if !slices.Contains(args(c), "--namespace="+r.namespace) {
			t.Errorf("Deployment %s: args %v lack --namespace=%s", o.GetName(), args(c), r.namespace)
		}
		if p, _, _ := unstructured.NestedString(c, "readinessProbe", "httpGet", "path"); p != "/readyz" {
			t.Errorf("Deployment %s: readiness probe %q, want /readyz", o.GetName(), p)
		}
		if ro, _, _ := unstructured.NestedBool(c, "securityContext", "readOnlyRootFilesystem"); !ro {
			t.Errorf("Deployment %s: root filesystem is writable", o.GetName())
		}
	}
	if !strings.Contains(r.notes, "Next:") {
		t.Errorf("NOTES.txt does not say what to do next:\n%s", r.notes)
	}
}

func containers(t *testing.T, deploy *unstructured.Unstructured) []map[string]any {
	t.Helper()
	cs, _, err := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	if err != nil || len(cs) == 0 {
		t.Fatalf("Deployment %s has no containers (%v)", deploy.GetName(), err)
	}
	var out []map[string]any
	for _, c := range cs {
		out = append(out, c.(map[string]any))
	}
	return out
}

func args(c map[string]any) []string {
	a, _, _ := unstructured.NestedStringSlice(c, "args")
	return a
}

func hasArg(t *testing.T, r rendering, deploy, arg string) bool {
	t.Helper()
	return slices.Contains(args(containers(t, r.must(t, "Deployment", deploy))[0]), arg)
}

func checkDefaults(t *testing.T, r rendering) {
	ns := r.namespace
	// The fallback's break-glass grants: writ-controller mirrors them, with the RBAC for it.
	if !hasArg(t, r, "writ-controller", "--enable-grants") {
		t.Error("writ-controller runs without --enable-grants while the fallback policy is bound")
	}
	if !clusterRoleAllows(r.must(t, "ClusterRole", "writ-controller"), "writ.dev", "breakglassrequests", "watch") {
		t.Error("writ-controller may not watch BreakGlassRequests")
	}
	// The components, each with its own service account.
	for _, d := range []struct{ name, sa, arg string }{
		{"writ-webhook", "writ-webhook", "--enable-webhook"},
		{"writ-controller", "writ-controller", "--enable-audit"},
		{"writ-reconciler", "writ-reconciler", "--enable-reconciler"},
	} {
		o := r.must(t, "Deployment", d.name)
		if sa, _, _ := unstructured.NestedString(o.Object, "spec", "template", "spec", "serviceAccountName"); sa != d.sa {
			t.Errorf("%s runs as %q, want %q", d.name, sa, d.sa)
		}
		if !hasArg(t, r, d.name, d.arg) {
			t.Errorf("%s lacks %s", d.name, d.arg)
		}
	}
	for _, a := range []string{"--enable-sealing", "--leader-elect"} {
		if !hasArg(t, r, "writ-controller", a) {
			t.Errorf("writ-controller lacks %s", a)
		}
	}
	if hasArg(t, r, "writ-controller", "--manage-webhook-certs") {
		t.Error("writ-controller manages the webhook's certificates although cert-manager does")
	}
	// The webhook: 2 replicas, a PDB, anti-affinity, the certificate mounted without a CA key.
	wh := r.must(t, "Deployment", "writ-webhook")
	if n, _, _ := unstructured.NestedInt64(wh.Object, "spec", "replicas"); n < 2 {
		t.Errorf("webhook replicas %d, want at least 2", n)
	}
	if _, ok, _ := unstructured.NestedMap(wh.Object, "spec", "template", "spec", "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution"); ok {
		t.Error("soft anti-affinity rendered as a map") // it must be a list
	}
	if aff, _, _ := unstructured.NestedSlice(wh.Object, "spec", "template", "spec", "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution"); len(aff) != 1 {
		t.Errorf("webhook pods are not spread over nodes: %v", aff)
	}
	if n, _, _ := unstructured.NestedInt64(r.must(t, "PodDisruptionBudget", "writ-webhook").Object, "spec", "minAvailable"); n != 1 {
		t.Errorf("PodDisruptionBudget minAvailable %d", n)
	}
	vols, _, _ := unstructured.NestedSlice(wh.Object, "spec", "template", "spec", "volumes")
	tlsVol := vols[0].(map[string]any)["secret"].(map[string]any)
	if tlsVol["secretName"] != "writ-webhook-tls" || len(tlsVol["items"].([]any)) != 2 {
		t.Errorf("webhook TLS volume %v: want tls.crt and tls.key of writ-webhook-tls only", tlsVol)
	}
	// cert-manager: the Certificate writes that Secret for the Service's name, and cainjector
	// is pointed at it.
	cert := certificate(t, r.must(t, "Certificate", "writ-webhook"))
	if cert.Spec.SecretName != "writ-webhook-tls" || !slices.Contains(cert.Spec.DNSNames, "writ-webhook."+ns+".svc") {
		t.Errorf("Certificate: secret %s, names %v", cert.Spec.SecretName, cert.Spec.DNSNames)
	}
	if cert.Spec.IssuerRef.Name != "writ-webhook-ca" || cert.Spec.IssuerRef.Kind != "Issuer" {
		t.Errorf("Certificate issued by %+v, want the chart's CA Issuer", cert.Spec.IssuerRef)
	}
	ca := certificate(t, r.must(t, "Certificate", "writ-webhook-ca"))
	if !ca.Spec.IsCA || ca.Spec.IssuerRef.Name != "writ-selfsigned" {
		t.Errorf("CA Certificate: isCA %v, issuer %+v", ca.Spec.IsCA, ca.Spec.IssuerRef)
	}
	if iss := issuer(t, r.must(t, "Issuer", "writ-webhook-ca")); iss.Spec.CA == nil || iss.Spec.CA.SecretName != ca.Spec.SecretName {
		t.Errorf("CA Issuer does not use the CA Certificate's Secret %s", ca.Spec.SecretName)
	}
	if iss := issuer(t, r.must(t, "Issuer", "writ-selfsigned")); iss.Spec.SelfSigned == nil {
		t.Error("writ-selfsigned is not a self-signed Issuer")
	}
	vwc := validatingWebhook(t, r.must(t, "ValidatingWebhookConfiguration", "writ-guard"))
	if got := vwc.Annotations["cert-manager.io/inject-ca-from"]; got != ns+"/writ-webhook" {
		t.Errorf("inject-ca-from %q, want %s/writ-webhook", got, ns)
	}
	w := vwc.Webhooks[0]
	if *w.FailurePolicy != "Fail" || *w.TimeoutSeconds != 10 {
		t.Errorf("webhook failurePolicy %s timeout %d, want Fail and 10", *w.FailurePolicy, *w.TimeoutSeconds)
	}
	if s := w.ClientConfig.Service; s == nil || s.Name != "writ-webhook" || s.Namespace != ns || *s.Path != "/validate" || *s.Port != 443 {
		t.Errorf("webhook clientConfig %+v", w.ClientConfig)
	}
	if svc := r.must(t, "Service", "writ-webhook"); !servicePort(svc, "https", 443) {
		t.Error("Service writ-webhook has no https port 443")
	}
	if excluded := w.NamespaceSelector.MatchExpressions[0].Values; !slices.Equal(excluded, []string{"kube-system", "kube-public", "kube-node-lease", ns}) {
		t.Errorf("webhook skips namespaces %v", excluded)
	}
	// The chart registers exactly what the Go guard's registration does (webhook.Webhooks): the
	// guard for all but the reconciler, the witness for the reconciler in every namespace.
	want := webhook.Webhooks(ns, w.ClientConfig, w.NamespaceSelector.MatchExpressions[0].Values)
	if len(vwc.Webhooks) != len(want) {
		t.Fatalf("%d webhooks, want %d", len(vwc.Webhooks), len(want))
	}
	for i, got := range vwc.Webhooks {
		if got.Name != want[i].Name || !slices.Equal(got.MatchConditions, want[i].MatchConditions) ||
			!reflect.DeepEqual(got.Rules, want[i].Rules) || (got.NamespaceSelector == nil) != (want[i].NamespaceSelector == nil) ||
			*got.MatchPolicy != *want[i].MatchPolicy || !reflect.DeepEqual(got.ClientConfig, w.ClientConfig) {
			t.Errorf("webhook %d\n%+v\nwant (webhook.Webhooks)\n%+v", i, got, want[i])
		}
	}
	if wt := vwc.Webhooks[1]; *wt.FailurePolicy != "Fail" || *wt.TimeoutSeconds != 10 {
		t.Errorf("witness webhook failurePolicy %s timeout %d, want Fail and 10", *wt.FailurePolicy, *wt.TimeoutSeconds)
	}
	// The guard's fallback trusts the reconciler's account, which the chart creates.
	cm := r.must(t, "ConfigMap", "writ-guard-agents")
	if agents, _, _ := unstructured.NestedString(cm.Object, "data", "agents"); agents != "system:serviceaccount:"+ns+":writ-reconciler" {
		t.Errorf("fallback agents %q", agents)
	}
	exempt, _, _ := unstructured.NestedString(cm.Object, "data", "exempt")
	if want := webhook.CABundleExemption("system:serviceaccount:cert-manager:cert-manager-cainjector") + "\n" +
		webhook.SealingExemption(ns); !strings.HasSuffix(exempt, "\n"+want) {
		t.Errorf("fallback exemptions do not end with cert-manager's cainjector and the sealing component:\n%s", exempt)
	}
	r.must(t, "ServiceAccount", "writ-reconciler")
	r.must(t, "CustomResourceDefinition", "sealedsecrets.bitnami.com")
	r.must(t, "ValidatingAdmissionPolicyBinding", "writ-guard")
	if crb := r.must(t, "ClusterRoleBinding", "writ-reconciler-apply"); crb.Object["roleRef"].(map[string]any)["name"] != "cluster-admin" {
		t.Errorf("reconciler applies with %v", crb.Object["roleRef"])
	}
	// Audit on a kept PVC, exports and sealing on the controller's Service.
	pvc := r.must(t, "PersistentVolumeClaim", "writ-audit")
	if pvc.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Error("the audit PVC is deleted with the release")
	}
	// Exports and the sealing certificate where `writ audit export` and `writ seal` look.
	if svc := r.must(t, "Service", "writ-controller"); !servicePort(svc, "audit", 8082) {
		t.Errorf("Service writ-controller ports: %v", svc.Object["spec"])
	}
	if ports, _, _ := unstructured.NestedSlice(r.must(t, "Service", "writ-sealing").Object, "spec", "ports"); len(ports) != 1 || !servicePort(r.must(t, "Service", "writ-sealing"), "http", 8083) {
		t.Errorf("Service writ-sealing ports: %v (its first port serves the certificate)", ports)
	}
	// CRDs, kept on uninstall.
	crds := 0
	for _, o := range r.objects {
		if o.GetKind() == "CustomResourceDefinition" {
			crds++
			if o.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
				t.Errorf("CRD %s not kept", o.GetName())
			}
		}
	}
	if crds < 6 {
		t.Errorf("%d CRDs rendered, want Writ's 6 at least", crds)
	}
	for _, absent := range [][2]string{{"ServiceMonitor", "writ"}, {"NetworkPolicy", "writ-webhook"}} {
		if r.find(absent[0], absent[1]) != nil {
			t.Errorf("%s %s rendered although disabled by default", absent[0], absent[1])
		}
	}
}

func checkSelfManaged(t *testing.T, r rendering) {
	for _, a := range []string{"--manage-webhook-certs", "--webhook-cert-secret=writ-webhook-tls", "--webhook-service=writ-webhook", "--webhook-configuration=writ-guard", "--mutating-webhook-configuration=writ-breakglass"} {
		if !hasArg(t, r, "writ-controller", a) {
			t.Errorf("writ-controller lacks %s", a)
		}
	}
	for _, o := range r.objects {
		if strings.HasPrefix(o.GetAPIVersion(), "cert-manager.io/") {
			t.Errorf("%s %s rendered without cert-manager", o.GetKind(), o.GetName())
		}
	}
	vwc := validatingWebhook(t, r.must(t, "ValidatingWebhookConfiguration", "writ-guard"))
	if _, ok := vwc.Annotations["cert-manager.io/inject-ca-from"]; ok {
		t.Error("inject-ca-from set without cert-manager")
	}
	w := vwc.Webhooks[0]
	if *w.FailurePolicy != "Ignore" || *w.TimeoutSeconds != 5 || len(w.MatchConditions) != len(webhook.MatchConditions("writ-system"))+1 {
		t.Errorf("webhook values not applied: %s %d %v", *w.FailurePolicy, *w.TimeoutSeconds, w.MatchConditions)
	}
	// The witness entry fails as the guard does, and takes no extra skips.
	if wt := vwc.Webhooks[1]; *wt.FailurePolicy != "Ignore" || *wt.TimeoutSeconds != 5 || len(wt.MatchConditions) != len(webhook.WitnessMatchConditions("writ-system")) {
		t.Errorf("witness webhook: failurePolicy %s, matchConditions %v", *wt.FailurePolicy, wt.MatchConditions)
	}
	if !clusterRoleAllows(r.must(t, "ClusterRole", "writ-controller"), "admissionregistration.k8s.io", "validatingwebhookconfigurations", "update") {
		t.Error("writ-controller may not set the caBundle")
	}
	wh := r.must(t, "Deployment", "writ-webhook")
	if n, _, _ := unstructured.NestedInt64(wh.Object, "spec", "replicas"); n != 3 {
		t.Errorf("replicas %d", n)
	}
	if aff, _, _ := unstructured.NestedSlice(wh.Object, "spec", "template", "spec", "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution"); len(aff) != 1 {
		t.Error("hard anti-affinity not required")
	}
	for _, n := range []string{"writ-webhook", "writ-controller", "writ-reconciler"} {
		r.must(t, "NetworkPolicy", n)
	}
	if r.find("PersistentVolumeClaim", "writ-audit") != nil {
		t.Error("writ-audit rendered although audit.persistence.existingClaim is set")
	}
	vols, _, _ := unstructured.NestedSlice(r.must(t, "Deployment", "writ-controller").Object, "spec", "template", "spec", "volumes")
	if claim, _, _ := unstructured.NestedString(vols[0].(map[string]any), "persistentVolumeClaim", "claimName"); claim != "audit-claim" {
		t.Errorf("audit volume %v, want the claim audit-claim", vols[0])
	}
	sm := r.must(t, "ServiceMonitor", "writ")
	if eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints"); len(eps) != 1 || eps[0].(map[string]any)["port"] != "metrics" {
		t.Errorf("ServiceMonitor endpoints %v", eps)
	}
	for _, s := range []string{"writ-webhook", "writ-controller", "writ-reconciler"} {
		if !servicePort(r.must(t, "Service", s), "metrics", 8080) {
			t.Errorf("Service %s has no metrics port for the ServiceMonitor", s)
		}
	}
	// The fallback policy lets writ-controller set the caBundle.
	exempt, _, _ := unstructured.NestedString(r.must(t, "ConfigMap", "writ-guard-agents").Object, "data", "exempt")
	if want := webhook.CABundleExemption("system:serviceaccount:"+r.namespace+":writ-controller") + "\n" +
		webhook.SealingExemption(r.namespace); !strings.HasSuffix(exempt, "\n"+want) {
		t.Errorf("fallback exemptions do not end with %q:\n%s", want, exempt)
	}
}

func checkPostgres(t *testing.T, r rendering) {
	d := r.must(t, "Deployment", "writ-controller")
	c := containers(t, d)[0]
	if hasArg(t, r, "writ-controller", "--enable-sealing") {
		t.Error("sealing enabled")
	}
	if !hasArg(t, r, "writ-controller", "--audit-chain=prod-eu") {
		t.Errorf("args %v lack the chain", args(c))
	}
	env, _, _ := unstructured.NestedSlice(c, "env")
	if len(env) != 1 {
		t.Fatalf("env %v", env)
	}
	ref, _, _ := unstructured.NestedMap(env[0].(map[string]any), "valueFrom", "secretKeyRef")
	if env[0].(map[string]any)["name"] != "WRIT_AUDIT_POSTGRES_DSN" || ref["name"] != "writ-audit-dsn" || ref["key"] != "dsn" {
		t.Errorf("DSN not taken from the Secret: %v", env)
	}
	if r.find("PersistentVolumeClaim", "writ-audit") != nil {
		t.Error("an audit PVC rendered for PostgreSQL")
	}
	if r.find("ClusterRoleBinding", "writ-reconciler-apply") != nil {
		t.Error("reconciler.applyClusterRole empty still binds a role")
	}
	if r.find("Issuer", "writ-selfsigned") != nil || r.find("Certificate", "writ-webhook-ca") != nil {
		t.Error("the chart's CA rendered although an issuer is given")
	}
	cert := certificate(t, r.must(t, "Certificate", "writ-webhook"))
	if cert.Spec.IssuerRef.Name != "corp-ca" || cert.Spec.IssuerRef.Kind != "ClusterIssuer" {
		t.Errorf("issuerRef %+v", cert.Spec.IssuerRef)
	}
	if clusterRoleAllows(r.must(t, "ClusterRole", "writ-controller"), "", "secrets", "list") {
		t.Error("writ-controller lists Secrets cluster-wide without sealing")
	}
	cm := r.must(t, "ConfigMap", "writ-guard-agents")
	if agents, _, _ := unstructured.NestedString(cm.Object, "data", "agents"); agents != "system:serviceaccount:flux-system:kustomize-controller" {
		t.Errorf("fallback agents %q", agents)
	}
	if r.find("Service", "writ-sealing") != nil {
		t.Error("Service writ-sealing rendered without sealing")
	}
	for _, name := range []string{"writ-webhook", "writ-controller", "writ-reconciler"} {
		pod, _, _ := unstructured.NestedMap(r.must(t, "Deployment", name).Object, "spec", "template", "spec")
		img := containers(t, r.must(t, "Deployment", name))[0]["image"]
		if img != "registry.example.com/writ/writ-controller@sha256:"+strings.Repeat("ab", 32) || pod["priorityClassName"] != "system-cluster-critical" ||
			pod["imagePullSecrets"] == nil || pod["nodeSelector"] == nil || pod["tolerations"] == nil {
			t.Errorf("%s: pod-wide values not applied: image %v, %v", name, img, pod)
		}
	}
	w := validatingWebhook(t, r.must(t, "ValidatingWebhookConfiguration", "writ-guard")).Webhooks[0]
	if e := w.NamespaceSelector.MatchExpressions; len(e) != 2 || e[1].Key != "writ.dev/guarded" {
		t.Errorf("namespaceSelector %v", e)
	}
	if r.find("CustomResourceDefinition", "sealedsecrets.bitnami.com") != nil {
		t.Error("SealedSecret CRD rendered without sealing")
	}
}

func checkCustom(t *testing.T, r rendering) {
	if r.find("CustomResourceDefinition", "sealedsecrets.bitnami.com") != nil || r.find("CustomResourceDefinition", "guardpolicies.writ.dev") == nil {
		t.Error("with sealing.installCRD false: want Writ's CRDs without the SealedSecret CRD")
	}
	if r.find("PodDisruptionBudget", "writ-webhook") != nil {
		t.Error("PodDisruptionBudget rendered although disabled")
	}
	if _, ok, _ := unstructured.NestedMap(r.must(t, "Deployment", "writ-webhook").Object, "spec", "template", "spec", "affinity"); ok {
		t.Error("affinity rendered with podAntiAffinity none")
	}
	vols, _, _ := unstructured.NestedSlice(r.must(t, "Deployment", "writ-controller").Object, "spec", "template", "spec", "volumes")
	if _, ok := vols[0].(map[string]any)["emptyDir"]; !ok || r.find("PersistentVolumeClaim", "writ-audit") != nil {
		t.Errorf("audit volume %v without persistence", vols[0])
	}
	if !strings.Contains(r.notes, "WARNING: audit.persistence.enabled=false") {
		t.Error("NOTES.txt does not warn that the audit log is lost with the pod")
	}
	if !servicePort(r.must(t, "Service", "writ-controller"), "audit", 9082) || !servicePort(r.must(t, "Service", "writ-sealing"), "http", 9083) {
		t.Error("custom ports not on the Services")
	}
	if n, _, _ := unstructured.NestedInt64(r.must(t, "Deployment", "writ-reconciler").Object, "spec", "replicas"); n != 2 {
		t.Errorf("reconciler replicas %d", n)
	}
}

func checkReconcilerOnly(t *testing.T, r rendering) {
	for _, absent := range [][2]string{{"Deployment", "writ-webhook"}, {"Deployment", "writ-controller"}, {"ServiceAccount", "writ-controller"},
		{"ValidatingWebhookConfiguration", "writ-guard"}, {"Certificate", "writ-webhook"}, {"PersistentVolumeClaim", "writ-audit"}} {
		if r.find(absent[0], absent[1]) != nil {
			t.Errorf("%s %s rendered", absent[0], absent[1])
		}
	}
	r.must(t, "Deployment", "writ-reconciler")
	if r.find("ValidatingAdmissionPolicy", "writ-guard") != nil {
		t.Error("fallback policy rendered although disabled")
	}
	for _, o := range r.objects {
		if o.GetKind() == "CustomResourceDefinition" && o.GetAnnotations()["helm.sh/resource-policy"] == "keep" {
			t.Errorf("CRD %s kept although crds.keep=false", o.GetName())
		}
	}
}

func servicePort(svc *unstructured.Unstructured, name string, port int64) bool {
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	for _, p := range ports {
		m := p.(map[string]any)
		if m["name"] == name && fmt.Sprint(m["port"]) == fmt.Sprint(port) {
			return true
		}
	}
	return false
}

// clusterRoleAllows reads a rendered (Cluster)Role's rules; the apiserver's answer is checked by
// the SubjectAccessReview test.
func clusterRoleAllows(role *unstructured.Unstructured, group, resource, verb string) bool {
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	for _, r := range rules {
		m := r.(map[string]any)
		in := func(key, v string) bool {
			l, _, _ := unstructured.NestedStringSlice(m, key)
			return slices.Contains(l, v)
		}
		if in("apiGroups", group) && in("resources", resource) && in("verbs", verb) {
			return true
		}
	}
	return false
}
