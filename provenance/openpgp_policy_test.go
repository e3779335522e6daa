package provenance

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
)

// TestOpenPGPPolicyDecisions: weak keys and digests are refused (git accepts them: the
// difference is deliberate, as the SSH path refuses ssh-rsa), subkeys verify, and a revocation
// in the policy naming a signing subkey's fingerprint revokes that subkey. Fixtures are made with
// real gpg (rsa1024, --digest-algo SHA1, --quick-add-key) and git.
func TestOpenPGPPolicyDecisions(t *testing.T) {
	g := fixtures.NewGPG(t)
	r := fixtures.NewRepo(t)
	weak := g.Key(t, "Walt", "walt@example.com", "rsa1024", "never")
	rsa := g.Key(t, "Rita", "rita@example.com", "rsa2048", "never")
	sam := g.Key(t, "Sam", "sam@example.com", "ed25519", "never")
	samSub, subFpr := g.AddSigningSubkey(t, sam, "ed25519")
	samPrimary := samSub
	samPrimary.SigningKey = sam.Fingerprint + "!"

	weakCommit := r.Commit(weak, "signed by an RSA 1024 key", map[string]string{"a": "1"})
	sha1Commit := r.Commit(g.SignerWith(t, rsa, "--digest-algo", "SHA1"), "signed with SHA-1", map[string]string{"a": "2"})
	sha256Commit := r.Commit(g.SignerWith(t, rsa, "--digest-algo", "SHA256"), "signed with SHA-256", map[string]string{"a": "3"})
	subCommit := r.Commit(samSub, "signed by a subkey", map[string]string{"a": "4"})
	primaryCommit := r.Commit(samPrimary, "signed by the primary key", map[string]string{"a": "5"})

	keys := []string{weak.PublicKey, rsa.PublicKey, samSub.PublicKey}
	spec := openpgpHead(keys...)
	v := compile(t, spec)
	if w := strings.Join(v.Warnings(), "\n"); !strings.Contains(w, weak.Fingerprint) || !strings.Contains(w, "1024 bits") {
		t.Fatalf("no warning about the RSA 1024 key in the policy: %q", w)
	}
	revoked := spec
	revoked.Revocations = []v1alpha1.Revocation{
		{Fingerprint: strings.ToLower(subFpr), From: metav1.NewTime(day(2020, 1, 1)), Reason: "subkey lost"},
		{Fingerprint: strings.Repeat("AB", 20), From: metav1.NewTime(day(2020, 1, 1))},
	}
	vr := compile(t, revoked)
	w := strings.Join(vr.Warnings(), "\n")
	if !strings.Contains(w, "spec.revocations[1].fingerprint: "+strings.Repeat("AB", 20)+" matches no key or subkey") || strings.Contains(w, "revocations[0]") {
		t.Fatalf("warnings %q: want one for revocations[1] only (revocations[0] names a subkey)", w)
	}

	trusted := gitKeyring(t, keys...)
	tests := []struct {
		name     string
		v        *Verifier
		commit   string
		want     error
		wantText string
		gitOK    bool
	}{
		{"RSA 1024 key", v, weakCommit, ErrUnsupported, "1024 bits", true},
		{"SHA-1 signature", v, sha1Commit, ErrUnsupported, "SHA-1", true},
		{"SHA-256 signature by RSA 2048", v, sha256Commit, nil, "", true},
		{"signed by a subkey", v, subCommit, nil, "", true},
		{"signed by the revoked subkey", vr, subCommit, ErrRevoked, "subkey " + subFpr + " of " + sam.Fingerprint + " was revoked from 2020-01-01T00:00:00Z (subkey lost) and signed at", true},
		{"signed by the primary key of a revoked subkey", vr, primaryCommit, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := verify(t, tt.v, r.Dir, Request{Target: tt.commit})
			got := rep.Err()
			switch {
			case tt.want == nil && got != nil:
				t.Fatalf("Writ rejected: %v", got)
			case tt.want != nil && (!errors.Is(got, tt.want) || !strings.Contains(got.Error(), tt.wantText)):
				t.Fatalf("Writ: %v, want %v naming %q", got, tt.want, tt.wantText)
			}
			if gv := fixtures.GitVerify(t, r.Dir, "commit", tt.commit, trusted...); gv.OK != tt.gitOK {
				t.Fatalf("git verify-commit ok=%v, want %v:\n%s", gv.OK, tt.gitOK, gv.Status)
			}
		})
	}

	// The signer of a subkey signature: the primary's fingerprint, the subkey's id and
	// fingerprint, all of the one key that verified.
	s := verify(t, v, r.Dir, Request{Target: subCommit}).Commits[0].Signer
	if s.Fingerprint != sam.Fingerprint || s.SubkeyFingerprint != subFpr || !strings.HasSuffix(subFpr, s.KeyID) {
		t.Fatalf("subkey signer %+v, want primary %s, subkey %s", s, sam.Fingerprint, subFpr)
	}
	if s := verify(t, v, r.Dir, Request{Target: primaryCommit}).Commits[0].Signer; s.SubkeyFingerprint != "" || !strings.HasSuffix(sam.Fingerprint, s.KeyID) {
		t.Fatalf("primary signer %+v", s)
	}
}

// TestOpenPGPOwnerRevocation: a key revoked by its owner (gpg's own revocation certificate,
// which gives no reason, so a hard revocation) rejects what it signed before the revocation, as
// git does, and the message gives the revocation's date, not the signature's.
func TestOpenPGPOwnerRevocation(t *testing.T) {
	g := fixtures.NewGPG(t)
	r := fixtures.NewRepo(t)
	born := day(2020, 1, 1)
	k := g.KeyAt(t, "Olga", "olga@example.com", "ed25519", "never", born)
	r.SetClock(day(2020, 3, 1))
	c := r.Commit(g.SignerAt(t, k, day(2020, 3, 1)), "signed before the revocation", nil)
	cert, err := os.ReadFile(filepath.Join(g.Home, "openpgp-revocs.d", k.Fingerprint+".rev"))
	if err != nil {
		t.Fatal(err)
	}
	// gpg writes the certificate with a ':' before the armor so that it is not imported by mistake.
	g.Import(t, strings.Replace(string(cert), ":-----BEGIN", "-----BEGIN", 1))
	pub, err := fixtures.Run("", g.Env(), nil, "gpg", "--batch", "--armor", "--export", k.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}

	rep := verify(t, compile(t, openpgpHead(pub)), r.Dir, Request{Target: c})
	err = rep.Err()
	if !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "revoked by its owner on "+born.Format(time.RFC3339)[:10]) {
		t.Fatalf("Writ: %v, want revoked by its owner on %s", err, born.Format("2006-01-02"))
	}
	if gv := fixtures.GitVerify(t, r.Dir, "commit", c, gitKeyring(t, pub)...); gv.OK || !strings.Contains(gv.Status, "REVKEYSIG") {
		t.Fatalf("git verify-commit ok=%v, want a rejection with REVKEYSIG:\n%s", gv.OK, gv.Status)
	}
}
