package sshsig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGitCommit signs a real commit with git (gpg.format=ssh), verifies it at its committer time,
// and checks that git verify-commit agrees with the same allowed_signers file.
func TestGitCommit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, pub := newKey(t, dir, "ed25519", "signing")
	fp := strings.Fields(string(run(t, dir, nil, "ssh-keygen", "-l", "-E", "sha256", "-f", path+".pub")))[1]
	allowedPath := filepath.Join(dir, "allowed_signers")
	allowed := `alice@example.com namespaces="git",valid-after="20240101" ` + pub + "\n"
	if err := os.WriteFile(allowedPath, []byte(allowed), 0o600); err != nil {
		t.Fatal(err)
	}

	repo := filepath.Join(dir, "repo")
	run(t, dir, nil, "git", "init", "-q", repo)
	git := func(args ...string) []byte {
		const date = "2024-05-01T12:00:00Z"
		return runEnv(t, repo, []string{"GIT_COMMITTER_DATE=" + date, "GIT_AUTHOR_DATE=" + date}, nil, "git", append([]string{
			"-c", "user.name=Alice", "-c", "user.email=alice@example.com",
			"-c", "gpg.format=ssh", "-c", "user.signingkey=" + path + ".pub",
			"-c", "gpg.ssh.allowedSignersFile=" + allowedPath,
		}, args...)...)
	}
	git("commit", "-q", "--allow-empty", "-S", "-m", "deploy: v1.2.3")
	git("verify-commit", "HEAD") // fails the test unless git accepts the signature

	raw := git("cat-file", "commit", "HEAD")
	payload, sig := splitCommit(t, raw)
	if sig == nil {
		t.Fatalf("git made no signature:\n%s", raw)
	}
	at := committerTime(t, raw)
	if want := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC); !at.Equal(want) {
		t.Fatalf("committer time %v, want %v", at, want)
	}
	v, err := Compile([]byte(allowed))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := v.Verify(payload, sig, at)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if signer.Identity != "alice@example.com" || signer.Fingerprint != fp {
		t.Fatalf("Verify = %+v, want identity alice@example.com and fingerprint %s", signer, fp)
	}
	// The same signature judged before the key's valid-after.
	if _, err := v.Verify(payload, sig, time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Fatal("Verify accepted a signature made before valid-after")
	}
}
