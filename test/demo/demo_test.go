package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"writ.dev/writ/test/harness"
)

// TestDemo runs the demo end to end, as `make demo` does, with freshly built binaries, and checks
// the evidence each step prints.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs the control plane; run without -short (make test-integration)")
	}
	bin := t.TempDir()
	harness.BuildCommands(t, bin, "writ-controller", "writ", "writ-verify")
	var out bytes.Buffer
	start := time.Now()
	err := run(context.Background(), options{controller: filepath.Join(bin, "writ-controller"), writ: filepath.Join(bin, "writ"),
		workDir: t.TempDir(), timeout: 10 * time.Minute}, &out)
	text := out.String()
	if err != nil {
		t.Fatalf("demo failed after %s: %v\n%s", time.Since(start).Round(time.Second), err, text)
	}
	t.Logf("the demo took %s:\n%s", time.Since(start).Round(time.Second), text)

	// Each step's key evidence, looked for in that step's part of the output.
	steps := sections(text)
	want := []struct{ step, pattern string }{
		{"setup", `kube-apiserver v1\.37\.1`},
		{"setup", `leader lease writ-system/writ-controller\.writ\.dev held by`},
		{"setup", `leader_election_master_status\{name="writ-controller\.writ\.dev"\} 1`},
		{"setup", `ValidatingWebhookConfiguration writ-guard`},
		{"setup", `ValidatingAdmissionPolicy writ-guard and writ-guard-credentials bound, parameters writ-system/writ-guard-agents`},
		{"setup", `static ValidatingAdmissionPolicy writ-guard-protection\.static\.k8s\.io: loaded by the apiserver`},
		{"1", `Good "git" signature for alice@example\.com`},
		{"1", `VERIFIED +commit [0-9a-f]{12} +ssh +ssh:SHA256:\S+ \(alice@example\.com\)`},
		{"1", `Ready: True Applied: applied [0-9a-f]{40}: 3 objects`},
		{"1", `lastAppliedSigners: ssh:SHA256:\S+ \(alice@example\.com\)`},
		{"1", `data: mode=normal currency=EUR`},
		{"1", `CommitVerified commit [0-9a-f]{12}`},
		{"1", `SyncApplied on Sync\.writ\.dev writ-system/shop`},
		{"2", `REJECTED \(Unsigned\)`},
		{"2", `SourceVerified: False Unsigned`},
		{"2", `REJECTED \(UnknownKey\)`},
		{"2", `SourceVerified: False UnknownKey`},
		{"2", `\(exit code 1\)`},
		{"2", `lastVerifiedCommit: [0-9a-f]{40} \(still Alice's\)`},
		{"2", `CommitRejected commit [0-9a-f]{12}: unsigned`},
		{"2", `CommitRejected commit [0-9a-f]{12}: unknown key`},
		// The apiserver evaluates the fallback policy before the webhook: it refuses bob first.
		{"3", `Error from server \(Forbidden\): configmaps "checkout" is forbidden: ValidatingAdmissionPolicy 'writ-guard' with binding 'writ-guard' denied request: writ: update of configmaps shop/checkout by "bob" denied: namespace shop is protected \(writ\.dev/protected=true\) and only the GitOps agent may change it; change it in Git`},
		{"3", `writ: delete of deployments\.apps shop/web by "bob" denied: namespace shop is protected`},
		{"3", `configmap shop/checkout still has mode=normal; deployment shop/web is still there`},
		// Nor can he switch the guard off or become the agent (issue #12's attacks on the demo).
		{"3", `writ: delete of validatingwebhookconfigurations\.admissionregistration\.k8s\.io writ-guard by "bob" denied: Writ configures itself`},
		{"3", `writ: update of guardpolicies\.writ\.dev writ by "bob" denied: Writ configures itself`},
		// (Both policies deny it; either may answer.)
		{"3", `ValidatingAdmissionPolicy 'writ-guard(-credentials)?' with binding 'writ-guard(-credentials)?' denied request: writ: create of serviceaccounts/token writ-system/writ-reconciler by "bob" denied`},
		{"3", `ValidatingAdmissionPolicy 'writ-guard-protection\.static\.k8s\.io' .*bob may not delete validatingadmissionpolicybindings writ-guard`},
		{"4", `breakglassrequest\.writ\.dev/inc-4711 created`},
		{"4", `writ: update of breakglassrequests\.writ\.dev inc-4711 by "ann" denied: .*another person approves it`},
		{"4", `breakglassrequest\.writ\.dev/inc-4711 patched`},
		{"4", `configmap/checkout edited \(the apiserver answered data\.mode=maintenance\)`},
		{"4", `BreakGlassRequested by ann on BreakGlassRequest\.writ\.dev inc-4711`},
		{"4", `BreakGlassApproved by lea on BreakGlassRequest\.writ\.dev inc-4711`},
		{"4", `BreakGlassUsed by ann via kubectl-edit on ConfigMap shop/checkout \(UPDATE\) break-glass inc-4711`},
		{"4", `DriftDetected via kubectl-edit on ConfigMap shop/checkout fields \.data\.mode break-glass inc-4711`},
		{"4", `Drifted True BreakGlass: not healed while a break-glass grant is in force: .*under break-glass request inc-4711 until`},
		{"4", `maintenance   \(held: the grant is in force until `},
		{"4", `BreakGlassExpired on ConfigMap shop/checkout break-glass inc-4711`},
		{"4", `DriftHealed via kubectl-edit on ConfigMap shop/checkout fields \.data\.mode break-glass inc-4711`},
		{"4", `\| normal   \(Git's value again\)`},
		{"4", `DriftDetected via kubectl-edit on ConfigMap shop/checkout fields \.data\.mode`},
		{"4", `DriftHealed via kubectl-edit on ConfigMap shop/checkout fields \.data\.mode`},
		{"5", `deployment\.apps/web scaled \(the apiserver answered spec\.replicas=5`},
		{"5", `\| 2   \(Git's value again\)`},
		{"5", `DriftDetected via kube-controller-manager on Deployment\.apps shop/web fields \.spec\.replicas`},
		{"5", `DriftHealed via kube-controller-manager on Deployment\.apps shop/web fields \.spec\.replicas`},
		{"5", `healed \d+\.\d s after the HPA's write`},
		{"6", `admission webhook "witness\.writ\.dev" denied the request: witness: denied UPDATE of ConfigMap shop/checkout: field \.data\.mode differs from what commit [0-9a-f]{12,40} of Sync writ-system/shop declares; the agent's identity was used for a change no verified commit declares \(Git declares \.data\.mode = "normal"\)`},
		{"6", `witness: denied UPDATE of ConfigMap shop/checkout: the write sets field \.metadata\.labels\.owner \(field manager "kubectl-label"\), which commit [0-9a-f]{40} of Sync writ-system/shop does not declare`},
		{"6", `witness: denied DELETE of Deployment\.apps shop/web: commit [0-9a-f]{40} of Sync writ-system/shop still declares it`},
		{"6", `witness: denied CREATE of ClusterRoleBinding\.rbac\.authorization\.k8s\.io mallory-admin: no verified commit declares it`},
		{"6", `UnverifiedAgentWrite by system:serviceaccount:writ-system:writ-reconciler on ConfigMap shop/checkout \(UPDATE\) fields \.data\.mode commit [0-9a-f]{12}`},
		{"6", `UnverifiedAgentWrite by system:serviceaccount:writ-system:writ-reconciler on ClusterRoleBinding\.rbac\.authorization\.k8s\.io mallory-admin \(CREATE\)`},
		{"6", `\| normal\n +\| deployment\.apps/web is still there`},
		{"7", `\$ writ seal --kubeconfig `},
		{"7", `spec\.encryptedData\.api-key: .* characters of ciphertext`},
		{"7", `sync shop: Ready True Applied: applied [0-9a-f]{40}: 4 objects`},
		{"7", `sha256:[0-9a-f]{64}   \(owner SealedSecret/payment-api; the same digest as the value Alice sealed\)`},
		{"8", `wrote .*evidence\.zip: \d+ records \(seq 1-\d+\), verified, signed by audit key [0-9a-f]+`},
		{"8", `\| OK .*evidence\.zip`},
		{"8", `ConfigMap shop/checkout  \.data\.mode  changed by ann \([^)]*\), break-glass inc-4711: "INC-4711: checkout is failing, switch it to maintenance mode", approved by lea \(record #\d+\) via kubectl-edit`},
		{"8", `in period .*\bBreakGlassApproved=1\b`},
		{"8", `in period .*\bUnverifiedAgentWrite=[1-9]`},
		{"8", `in period .*\bBreakGlassRequested=1\b`},
		{"8", `in period .*\bCommitRejected=[1-9]`},
		{"8", `in period .*\bCommitVerified=[1-9]`},
		{"8", `in period .*\bDriftDetected=[1-9]`},
		{"8", `in period .*\bDriftHealed=[1-9]`},
		{"8", `in period .*\bSyncApplied=[1-9]`},
		{"8", `file:///.*/evidence/report\.html`},
		{"8", `Done: every step behaved as shown`},
	}
	for _, w := range want {
		if !regexp.MustCompile(w.pattern).MatchString(steps[w.step]) {
			t.Errorf("step %s: the output lacks %q", w.step, w.pattern)
		}
	}
	for n := 1; n <= 8; n++ {
		if _, ok := steps[strconv.Itoa(n)]; !ok {
			t.Errorf("no step %d in the output", n)
		}
	}
	// The sealed value is 48 hex digits; no such run may appear (digests are 64, commits 40).
	if m := regexp.MustCompile(`\b[0-9a-f]{48}\b`).FindString(text); m != "" {
		t.Errorf("the output shows what looks like the sealed secret's value: %s", m)
	}
}

// sections splits the demo's output into "setup" and the numbered steps ("1" to "8").
func sections(text string) map[string]string {
	out := map[string]string{}
	key := "setup"
	for _, l := range strings.SplitAfter(text, "\n") {
		if rest, ok := strings.CutPrefix(l, "== "); ok {
			if n, _, ok := strings.Cut(rest, "."); ok {
				key = n
			}
		}
		out[key] += l
	}
	return out
}
