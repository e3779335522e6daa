package app

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
)

// signedRepo returns a repository with one commit signed by Alice, one unsigned, and the
// TrustPolicy file that trusts Alice.
func signedRepo(t *testing.T) (dir, policy string) {
	t.Helper()
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	r := fixtures.NewRepo(t)
	r.Commit(alice, "first", map[string]string{"a.yaml": "a: 1\n"})
	tp := v1alpha1.TrustPolicy{Spec: v1alpha1.TrustPolicySpec{Mode: v1alpha1.ModeHead, SSH: &v1alpha1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}}
	tp.APIVersion, tp.Kind, tp.Name = "writ.dev/v1alpha1", "TrustPolicy", "test"
	b, err := yaml.Marshal(tp)
	if err != nil {
		t.Fatal(err)
	}
	policy = filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return r.Dir, policy
}

// TestVerifyRunsCompanion: `writ verify` runs writ-verify from PATH, passes its arguments, output
// and exit code through, and says how to install it when it is missing.
func TestVerifyRunsCompanion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds writ-verify")
	}
	repo, policy := signedRepo(t)
	bin := t.TempDir()
	harness.BuildCommands(t, bin, "writ-verify")

	t.Setenv("PATH", t.TempDir())
	code, _, errOut := run(t, "verify", "--policy", policy, "--repo", repo)
	if code != ExitUsage || !strings.Contains(errOut, "writ-verify is not installed") || !strings.Contains(errOut, "go install writ.dev/writ/cmd/...") {
		t.Fatalf("without writ-verify: exit %d, stderr %q", code, errOut)
	}

	t.Setenv("PATH", bin)
	code, out, errOut := run(t, "verify", "--policy", policy, "--repo", repo)
	if code != ExitOK || !strings.Contains(out, "VERIFIED") || !strings.Contains(out, "alice@example.com") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = run(t, "verify", "--policy", policy, "--repo", repo, "-o", "xml")
	if code != ExitUsage || !strings.Contains(errOut, "unknown output format") || strings.Count(errOut, "writ:") != 1 {
		t.Fatalf("a usage error: exit %d, stderr %q (want exit 2 and one message)", code, errOut)
	}
	code, out, _ = run(t, "verify", "--help")
	if code != ExitOK || !strings.Contains(out, "[--last-verified REV]") || !strings.Contains(out, "help for writ verify") {
		t.Fatalf("verify --help: exit %d, %q", code, out)
	}
}

// TestVerifyBinaryPair: the installed pair, writ and writ-verify side by side, as `make build`
// leaves them: writ replaces itself with writ-verify, whose exit code is the process's.
func TestVerifyBinaryPair(t *testing.T) {
	if testing.Short() {
		t.Skip("builds writ and writ-verify")
	}
	repo, policy := signedRepo(t)
	bin := t.TempDir()
	harness.BuildCommands(t, bin, "writ", "writ-verify")
	writ := func(args ...string) (int, string, string) {
		cmd := exec.Command(filepath.Join(bin, "writ"), args...)
		cmd.Env = append(os.Environ(), "PATH=/nonexistent") // found beside writ, not on PATH
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
	}
	if code, out, errOut := writ("verify", "--policy", policy, "--repo", repo); code != ExitOK || !strings.Contains(out, "VERIFIED") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// An unsigned commit on top: writ-verify's exit code 1 and its REJECTED line reach the caller.
	git := exec.Command("git", "-c", "commit.gpgsign=false", "-c", "user.name=Mallory", "-c", "user.email=m@example.com", "commit", "--allow-empty", "-m", "unsigned")
	git.Dir = repo
	if out, err := git.CombinedOutput(); err != nil {
		t.Fatalf("git commit: %v %s", err, out)
	}
	if code, _, errOut := writ("verify", "--policy", policy, "--repo", repo); code != ExitFail || !strings.Contains(errOut, "REJECTED") {
		t.Fatalf("an unsigned head: exit %d, stderr %q (want 1 and REJECTED)", code, errOut)
	}
}
