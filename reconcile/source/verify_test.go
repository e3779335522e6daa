package source_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"writ.dev/writ/provenance"
	"writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/reconcile/source"
)

// signingOrigin is an origin whose commits and tags git signs with a fresh SSH key; it returns
// the allowed_signers line that trusts the key.
func signingOrigin(t *testing.T) (*origin, string) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is missing (Debian package openssh-client; test/install-deps.sh installs it)")
	}
	o := newOrigin(t)
	signer, key := newSigner(t, false)
	keyFile := filepath.Join(t.TempDir(), "signing_key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	o.git("config", "gpg.format", "ssh")
	o.git("config", "user.signingkey", keyFile)
	o.git("config", "commit.gpgsign", "true")
	return o, "test@writ.dev " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
}

func verifier(t *testing.T, mode v1alpha1.VerificationMode, allowedSigners string) *provenance.Verifier {
	t.Helper()
	v, err := provenance.Compile(v1alpha1.TrustPolicySpec{Mode: mode, SSH: &v1alpha1.SSHTrust{AllowedSigners: allowedSigners}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVerifierRejectsAForcePushedRollback is the contract with package provenance: Fetch reports
// the older commit after a force-push, and the verifier, given the last verified commit (still
// in the cache), rejects it as a rollback although its signature is good.
func TestVerifierRejectsAForcePushedRollback(t *testing.T) {
	t.Parallel()
	o, allowed := signingOrigin(t)
	older := o.commitN(1)
	newer := o.commitN(1)
	opts, dir := source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}}, t.TempDir()
	v := verifier(t, v1alpha1.ModeRange, allowed)

	a := fetch(t, dir, opts)
	rep, err := v.Verify(context.Background(), provenance.NewRepository(a.Repo), provenance.Request{Target: a.Ref})
	if err != nil || !rep.Verified() || rep.Target != newer {
		t.Fatalf("first fetch did not verify: %v %v (target %s)", err, rep.Err(), rep.Target)
	}
	lastVerified := rep.Target

	o.git("reset", "-q", "--hard", older)
	a = fetch(t, dir, opts)
	rep, err = v.Verify(context.Background(), provenance.NewRepository(a.Repo),
		provenance.Request{Target: a.Ref, LastVerified: lastVerified})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Target != older || !errors.Is(rep.Rollback, provenance.ErrRollback) {
		t.Fatalf("force-push to %s: verifier reported target %s, rollback %v", older, rep.Target, rep.Rollback)
	}
}

// TestVerifierChecksTheAnnotatedTag: in Tag mode the verifier reads the tag object Fetch kept
// under Artifact.Ref.
func TestVerifierChecksTheAnnotatedTag(t *testing.T) {
	t.Parallel()
	o, allowed := signingOrigin(t)
	tagged := o.commitN(1)
	o.git("tag", "-s", "-m", "release", "v1.0.0")
	o.commitN(1)
	a := fetch(t, t.TempDir(), source.Options{URL: o.url(), Ref: source.Ref{SemVer: ">=1.0.0"}})

	rep, err := verifier(t, v1alpha1.ModeTag, allowed).Verify(context.Background(),
		provenance.NewRepository(a.Repo), provenance.Request{Target: a.Ref})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Verified() || rep.Tag == nil || rep.Target != tagged {
		t.Fatalf("tag v1.0.0: verified %v (%v), tag result %+v, target %s, want %s", rep.Verified(), rep.Err(), rep.Tag, rep.Target, tagged)
	}
}

// TestTagReachedUnderAnotherNameIsRefused: refs/tags/v2.0.0 pointing at the signed tag object of
// v1.0.0 (an old release replayed under a new, higher name) fails the Fetch with ErrTagName, for
// Tag and SemVer refs alike, although git verify-tag accepts the replayed tag: git checks the
// signature, not the name the tag is reached through. The real tags still resolve.
func TestTagReachedUnderAnotherNameIsRefused(t *testing.T) {
	t.Parallel()
	o, allowed := signingOrigin(t)
	o.commitN(1)
	o.git("tag", "-s", "-m", "release 1", "v1.0.0")
	o.commitN(1)
	o.git("update-ref", "refs/tags/v2.0.0", o.git("rev-parse", "refs/tags/v1.0.0"))
	signers := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(signers, []byte(allowed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o.git("-c", "gpg.ssh.allowedSignersFile="+signers, "verify-tag", "v2.0.0") // git's verdict: accepted

	for _, ref := range []source.Ref{{Tag: "v2.0.0"}, {SemVer: ">=1.0.0"}} {
		_, err := fetchCtx(context.Background(), t.TempDir(), source.Options{URL: o.url(), Ref: ref})
		if !errors.Is(err, source.ErrTagName) || !strings.Contains(err.Error(), `"v1.0.0"`) {
			t.Errorf("%+v: err = %v, want ErrTagName naming v1.0.0", ref, err)
		}
	}
	if a := fetch(t, t.TempDir(), source.Options{URL: o.url(), Ref: source.Ref{Tag: "v1.0.0"}}); a.Tag != "v1.0.0" {
		t.Fatalf("the real tag: %+v", a)
	}
}
