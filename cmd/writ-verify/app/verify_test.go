package app

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/cmd/internal/cli"
	"writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
)

func writePolicy(t *testing.T, spec v1alpha1.TrustPolicySpec) string {
	t.Helper()
	tp := v1alpha1.TrustPolicy{Spec: spec}
	tp.APIVersion, tp.Kind, tp.Name = "writ.dev/v1alpha1", "TrustPolicy", "test"
	b, err := yaml.Marshal(tp)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerifyCommand(t *testing.T) {
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	mallory := fixtures.SSHKey(t, "Mallory", "mallory@example.com", "ed25519")
	r := fixtures.NewRepo(t)
	first := r.Commit(alice, "first", map[string]string{"a.yaml": "a: 1\n"})
	second := r.Commit(alice, "second", map[string]string{"a.yaml": "a: 2\n"})
	policy := writePolicy(t, v1alpha1.TrustPolicySpec{Mode: v1alpha1.ModeRange, SSH: &v1alpha1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}})

	code, out, errOut := run(t, "--policy", policy, "--repo", r.Dir)
	if code != cli.ExitOK {
		t.Fatalf("signed history: exit %d\n%s%s", code, out, errOut)
	}
	// The one signer form (signature.Signer.ID), in the table and in JSON.
	aliceID := "ssh:" + alice.Fingerprint + " (alice@example.com)"
	if !strings.Contains(out, "VERIFIED") || !strings.Contains(out, aliceID) || !strings.Contains(out, "2 commit(s) in scope") {
		t.Fatalf("table lacks the verdicts:\n%s", out)
	}

	code, out, _ = run(t, "--policy", policy, "--repo", r.Dir, "--from", first, "-o", "json")
	if code != cli.ExitOK {
		t.Fatalf("json: exit %d", code)
	}
	var rep struct {
		Commits []struct{ Commit, Verdict, Method, Fingerprint, Signer string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(rep.Commits) != 1 || rep.Commits[0].Commit != second || rep.Commits[0].Method != "ssh" || rep.Commits[0].Fingerprint != alice.Fingerprint || rep.Commits[0].Signer != aliceID {
		t.Fatalf("json report %+v", rep)
	}

	bad := r.Commit(mallory, "mallory", map[string]string{"a.yaml": "a: 3\n"})
	unsigned := r.Commit(fixtures.Signer{}, "unsigned", map[string]string{"a.yaml": "a: 4\n"})
	code, out, errOut = run(t, "--policy", policy, "--repo", r.Dir)
	if code != cli.ExitFail {
		t.Fatalf("untrusted commits: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"REJECTED commit " + bad[:12] + ": unknown key", "REJECTED commit " + unsigned[:12] + ": unsigned", "2 of 4 checks failed"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	// Rollback: an older target than the last verified one.
	if code, _, errOut := run(t, "--policy", policy, "--repo", r.Dir, "--to", first, "--last-verified", second); code != cli.ExitFail || !strings.Contains(errOut, "rollback") {
		t.Fatalf("rollback: exit %d %s", code, errOut)
	}
}

func TestVerifyCommandUsageErrors(t *testing.T) {
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	r := fixtures.NewRepo(t)
	r.Commit(alice, "first", nil)
	good := writePolicy(t, v1alpha1.TrustPolicySpec{SSH: &v1alpha1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}})
	head := writePolicy(t, v1alpha1.TrustPolicySpec{Mode: v1alpha1.ModeHead, SSH: &v1alpha1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}})
	invalid := writePolicy(t, v1alpha1.TrustPolicySpec{SSH: &v1alpha1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}, Approvals: []v1alpha1.ApprovalRule{{Name: "x", MinSigners: 1}}})
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--repo", r.Dir}, "--policy is required"},
		{[]string{"--policy", "/no/such/file"}, "reading the policy"},
		{[]string{"--policy", invalid, "--repo", r.Dir}, "spec.approvals[0].minSigners"},
		{[]string{"--policy", good, "--repo", t.TempDir()}, "opening git repository"},
		{[]string{"--policy", good, "--repo", r.Dir, "--to", "nope"}, "unknown revision"},
		{[]string{"--policy", head, "--repo", r.Dir, "--from", "HEAD"}, "--from applies to Range mode"},
		{[]string{"--policy", good, "--repo", r.Dir, "-o", "xml"}, "unknown output format"},
		{[]string{"--policy", good, "extra"}, "takes no arguments"},
	} {
		code, _, errOut := run(t, tt.args...)
		if code != cli.ExitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, errOut, cli.ExitUsage, tt.want)
		}
	}
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestVerifyCommandBareRepository: `writ verify --repo x.git`, and `writ verify` run inside a
// bare repository (the default --repo .), as CI systems and mirrors have them.
func TestVerifyCommandBareRepository(t *testing.T) {
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	r := fixtures.NewRepo(t)
	r.Commit(alice, "first", map[string]string{"a.yaml": "a: 1\n"})
	r.Commit(alice, "second", map[string]string{"a.yaml": "a: 2\n"})
	bare := filepath.Join(t.TempDir(), "x.git")
	r.Git("clone", "-q", "--bare", r.Dir, bare)
	policy := writePolicy(t, v1alpha1.TrustPolicySpec{SSH: &v1alpha1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}})

	if code, out, errOut := run(t, "--policy", policy, "--repo", bare); code != cli.ExitOK || !strings.Contains(out, "2 commit(s) in scope") {
		t.Fatalf("--repo x.git: exit %d\n%s%s", code, out, errOut)
	}
	t.Chdir(bare)
	if code, out, errOut := run(t, "--policy", policy); code != cli.ExitOK || !strings.Contains(out, "2 commit(s) in scope") {
		t.Fatalf("inside x.git: exit %d\n%s%s", code, out, errOut)
	}
}

// TestVerifyCommandReports: what `writ verify` says about a rollback (in JSON too), a
// lightweight tag in Tag mode, an empty range, policy warnings, and its own help.
func TestVerifyCommandReports(t *testing.T) {
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	r := fixtures.NewRepo(t)
	first := r.Commit(alice, "first", map[string]string{"a.yaml": "a: 1\n"})
	second := r.Commit(alice, "second", map[string]string{"a.yaml": "a: 2\n"})
	r.Git("tag", "v1.0.0", second) // lightweight
	trust := &v1alpha1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}
	rangePolicy := writePolicy(t, v1alpha1.TrustPolicySpec{Mode: v1alpha1.ModeRange, SSH: trust})

	t.Run("rollback in JSON", func(t *testing.T) {
		code, out, errOut := run(t, "--policy", rangePolicy, "--repo", r.Dir, "--to", first, "--last-verified", second, "-o", "json")
		var rep struct {
			Verdict  string
			Rollback *struct{ ReasonCode, Reason string }
			Commits  []struct{ Verdict string }
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if code != cli.ExitFail || rep.Verdict != "rejected" || rep.Rollback == nil || rep.Rollback.ReasonCode != "Rollback" || !strings.Contains(rep.Rollback.Reason, second[:12]) {
			t.Fatalf("exit %d, report %+v\n%s%s", code, rep, out, errOut)
		}
		code, out, _ = run(t, "--policy", rangePolicy, "--repo", r.Dir, "--to", first, "--last-verified", second)
		if code != cli.ExitFail || !strings.Contains(out, "ROLLBACK (Rollback)") {
			t.Fatalf("table: exit %d\n%s", code, out)
		}
	})

	t.Run("lightweight tag in Tag mode", func(t *testing.T) {
		tagPolicy := writePolicy(t, v1alpha1.TrustPolicySpec{Mode: v1alpha1.ModeTag, SSH: trust})
		code, out, errOut := run(t, "--policy", tagPolicy, "--repo", r.Dir, "--to", "v1.0.0")
		if code != cli.ExitFail || !strings.Contains(errOut, `"v1.0.0" is a lightweight tag`) || !strings.Contains(errOut, "git tag -s") || !strings.Contains(out, "REJECTED (Unsigned)") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("empty range", func(t *testing.T) {
		code, out, errOut := run(t, "--policy", rangePolicy, "--repo", r.Dir, "--from", second, "--to", second)
		if code != cli.ExitOK || !strings.Contains(errOut, "nothing to verify: "+second[:12]+" is the base itself") || !strings.Contains(out, "0 commit(s) in scope") {
			t.Fatalf("target = base: exit %d\n%s%s", code, out, errOut)
		}
		code, _, errOut = run(t, "--policy", rangePolicy, "--repo", r.Dir, "--from", second, "--to", first)
		if code != cli.ExitUsage || !strings.Contains(errOut, "is an ancestor of --from") {
			t.Fatalf("target older than --from: exit %d\n%s", code, errOut)
		}
		allow := writePolicy(t, v1alpha1.TrustPolicySpec{Mode: v1alpha1.ModeRange, SSH: trust, Rollback: v1alpha1.RollbackOptions{Allow: true}})
		code, _, errOut = run(t, "--policy", allow, "--repo", r.Dir, "--last-verified", second, "--to", first)
		if code != cli.ExitOK || !strings.Contains(errOut, "was verified with it") {
			t.Fatalf("allowed rollback to an ancestor: exit %d\n%s", code, errOut)
		}
	})

	t.Run("policy warnings", func(t *testing.T) {
		warn := writePolicy(t, v1alpha1.TrustPolicySpec{Mode: v1alpha1.ModeRange, SSH: trust, Revocations: []v1alpha1.Revocation{
			{Fingerprint: "SHA256:doesnotexist", From: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}}})
		code, _, errOut := run(t, "--policy", warn, "--repo", r.Dir)
		if code != cli.ExitOK || !strings.Contains(errOut, "warning: "+warn+": spec.revocations[0].fingerprint: SHA256:doesnotexist matches no key") {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
	})

	t.Run("help", func(t *testing.T) {
		code, out, _ := run(t, "--help")
		if code != cli.ExitOK || !strings.Contains(out, "help for writ verify") || !strings.Contains(out, "[--last-verified REV]") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
}
