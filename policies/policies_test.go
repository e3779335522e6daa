package policies_test

import (
	"io/fs"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"writ.dev/writ/policies"
	"writ.dev/writ/provenance"
	"writ.dev/writ/webhook"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// Every shipped policy parses strictly and compiles; the guard policies protect what they say.
func TestShippedPoliciesCompile(t *testing.T) {
	files, err := fs.Glob(policies.FS, "*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("found %d policies: %v", len(files), err)
	}
	for _, f := range files {
		b, _ := fs.ReadFile(policies.FS, f)
		switch {
		case strings.Contains(string(b), "kind: GuardPolicy"):
			var gp guardv1.GuardPolicy
			if err := yaml.UnmarshalStrict(b, &gp); err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			p, err := webhook.Compile(&gp)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			checkGuard(t, f, p)
		case strings.Contains(string(b), "kind: TrustPolicy"):
			tp, err := provenance.LoadPolicy(b)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			if _, err := provenance.Compile(tp.Spec); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		default:
			t.Errorf("%s: neither a GuardPolicy nor a TrustPolicy", f)
		}
	}
}

func checkGuard(t *testing.T, file string, p *webhook.Policy) {
	t.Helper()
	s := &webhook.Snapshot{Policies: []*webhook.Policy{p}, NamespaceLabels: func(string) (map[string]string, error) {
		return map[string]string{"writ.dev/protected": "true"}, nil
	}}
	agent := p.Agents[0]
	user := "system:serviceaccount:" + agent.Namespace + ":" + agent.Name
	req := func(u, sub string, groups ...string) *webhook.Request {
		return &webhook.Request{Operation: "UPDATE", Group: "apps", Resource: "deployments", Subresource: sub, Namespace: "shop", Name: "web", User: u, Groups: groups}
	}
	if d := webhook.Decide(req(user, ""), s); !d.Allowed {
		t.Errorf("%s: the agent is denied: %s", file, d.Message)
	}
	if d := webhook.Decide(req("kubernetes-admin", "", "system:masters"), s); d.Allowed {
		t.Errorf("%s: an admin edit is allowed", file)
	}
	if d := webhook.Decide(req("system:serviceaccount:kube-system:horizontal-pod-autoscaler", "scale"), s); !d.Allowed {
		t.Errorf("%s: the HPA cannot scale: %s", file, d.Message)
	}
	pod := &webhook.Request{Operation: "UPDATE", Resource: "pods", Subresource: "status", Namespace: "shop", Name: "web-1", User: "system:node:n1", Groups: []string{"system:nodes"}}
	if d := webhook.Decide(pod, s); !d.Allowed {
		t.Errorf("%s: kubelets cannot write pod status: %s", file, d.Message)
	}
	pod.Subresource = ""
	if d := webhook.Decide(pod, s); d.Allowed {
		t.Errorf("%s: a kubelet may edit a pod's spec", file)
	}
	// Writ's sealing component writes the Secrets it unseals, and nothing else.
	sealer := "system:serviceaccount:writ-system:writ-controller"
	secret := &webhook.Request{Operation: "CREATE", Resource: "secrets", Namespace: "shop", Name: "db", User: sealer}
	if d := webhook.Decide(secret, s); !d.Allowed {
		t.Errorf("%s: writ-controller cannot write an unsealed Secret: %s", file, d.Message)
	}
	if d := webhook.Decide(&webhook.Request{Operation: "UPDATE", Resource: "configmaps", Namespace: "shop", Name: "cfg", User: sealer}, s); d.Allowed {
		t.Errorf("%s: writ-controller may edit a ConfigMap", file)
	}
}
