package sshsig

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestParityWithSSHKeygen runs the same allowed_signers lines, signatures and times through
// ssh-keygen, the way git verify-commit does (find-principals, then verify -I for each principal
// found, at -Overify-time), and checks that Verify reaches the same verdict. ssh-keygen runs with
// TZ=UTC, since Writ reads times without a Z suffix as UTC.
func TestParityWithSSHKeygen(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Each group pairs allowed_signers lines with the signatures worth judging against them.
	plain := map[string][]byte{
		"ed25519":      f.sign(t, f.ed.path, "git"),
		"rsa":          f.sign(t, f.rsa.path, "git"),
		"ed25519 file": f.sign(t, f.ed.path, "file"),
		"other key":    f.sign(t, f.other.path, "git"),
	}
	certs := map[string][]byte{
		"cert alice":     f.sign(t, f.certAlice.cert, "git"),
		"cert mallory":   f.sign(t, f.certMallory.cert, "git"),
		"cert other CA":  f.sign(t, f.certOtherCA.cert, "git"),
		"cert host":      f.sign(t, f.certHost.cert, "git"),
		"cert force-cmd": f.sign(t, f.certForce.cert, "git"),
		"CA key itself":  f.sign(t, f.ca.path, "git"),
	}
	groups := []struct {
		lines []string
		sigs  map[string][]byte
	}{
		{[]string{
			"alice " + f.ed.pub + " comment",
			"alice " + f.rsa.pub,
			`"Jane Doe" ` + f.ed.pub,
			"*@example.com,!mallory@example.com " + f.ed.pub,
			`alice namespaces="git" ` + f.ed.pub,
			`alice namespaces="file" ` + f.ed.pub,
			`alice namespaces="*,!file" ` + f.ed.pub,
			`alice namespaces="g?t" ` + f.ed.pub,
			`alice valid-after="20240101" ` + f.ed.pub,
			`alice valid-after="202406011200",valid-before="202406011201" ` + f.ed.pub,
			`alice valid-before="20240601120000Z" ` + f.ed.pub,
			`alice valid-after="20240601120001UTC" ` + f.ed.pub,
		}, plain},
		{[]string{
			"alice cert-authority " + f.ca.pub,
			"*@example.com cert-authority " + f.ca.pub,
			"al?ce,!mallory cert-authority " + f.ca.pub,
			"*,!mallory cert-authority " + f.ca.pub,
			`mallory cert-authority,valid-before="20240301" ` + f.ca.pub,
			"alice " + f.ca.pub,
			"alice " + f.certAlice.pub,
			"alice " + f.ed.pub,
		}, certs},
	}
	times := []time.Time{
		time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC),
		at2024,
		time.Date(2024, 6, 1, 12, 1, 0, 0, time.UTC),
		time.Date(2024, 6, 1, 12, 1, 1, 0, time.UTC),
		time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
	}
	var accepted, rejected atomic.Int64
	t.Run("lines", func(t *testing.T) {
		for g, group := range groups {
			sigs, sigNames := group.sigs, slices.Sorted(maps.Keys(group.sigs))
			for i, line := range group.lines {
				t.Run(fmt.Sprintf("%d.%d", g+1, i+1), func(t *testing.T) {
					t.Parallel()
					v, err := Compile([]byte(line))
					if err != nil {
						t.Fatalf("Compile(%q): %v", line, err)
					}
					dir := t.TempDir()
					allowedPath, sigPath := filepath.Join(dir, "allowed_signers"), filepath.Join(dir, "sig")
					write(t, allowedPath, []byte(line+"\n"))
					for _, name := range sigNames {
						write(t, sigPath, sigs[name])
						for _, at := range times {
							signer, err := v.Verify(f.payload, sigs[name], at)
							gitOK, found := gitVerdict(dir, allowedPath, sigPath, f.payload, at)
							if gitOK != (err == nil) {
								t.Errorf("line %.60q…, signature %q, at %v: ssh-keygen accepts=%v principals=%q; Verify error = %v",
									line, name, at, gitOK, found, err)
								continue
							}
							if err != nil {
								rejected.Add(1)
								continue
							}
							accepted.Add(1)
							if strings.Contains(line, "cert-authority") && !slices.Contains(found, signer.Identity) {
								t.Errorf("line %.60q…, signature %q: identity %q, ssh-keygen found principals %q", line, name, signer.Identity, found)
							}
						}
					}
				})
			}
		}
	})
	t.Logf("%d verdicts agree with ssh-keygen: %d accepted, %d rejected", accepted.Load()+rejected.Load(), accepted.Load(), rejected.Load())
	if accepted.Load() == 0 || rejected.Load() == 0 {
		t.Fatal("parity table does not exercise both verdicts")
	}
}

// gitVerdict runs ssh-keygen as git verify-commit does and reports whether any principal
// verifies, with the principals find-principals returned.
func gitVerdict(dir, allowed, sig string, payload []byte, at time.Time) (bool, []string) {
	vt := "-Overify-time=" + at.UTC().Format("20060102150405")
	out, ok := try(dir, nil, "ssh-keygen", "-Y", "find-principals", "-f", allowed, "-s", sig, vt)
	if !ok {
		return false, nil
	}
	var found []string
	good := false
	for _, p := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		found = append(found, strings.Split(p, ",")...)
		if _, ok := try(dir, payload, "ssh-keygen", "-Y", "verify", "-f", allowed, "-I", p, "-n", "git", "-s", sig, vt); ok {
			good = true
		}
	}
	return good, found
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
