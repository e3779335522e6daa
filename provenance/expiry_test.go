package provenance

import (
	"errors"
	"strings"
	"testing"
	"time"

	"writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// openpgpHead is a Head-mode policy trusting the given armored OpenPGP keys.
func openpgpHead(keys ...string) v1alpha1.TrustPolicySpec {
	return v1alpha1.TrustPolicySpec{Mode: v1alpha1.ModeHead, OpenPGP: &v1alpha1.OpenPGPTrust{Keys: keys}}
}

// gitKeyring is a gpg home holding exactly the given public keys: what `git verify-commit` is
// given to trust, so that its verdict is comparable with a policy listing the same keys.
func gitKeyring(t *testing.T, keys ...string) []string {
	t.Helper()
	g := fixtures.NewGPG(t)
	g.Import(t, keys...)
	return g.Env()
}

// TestOpenPGPExpiryAgreesWithGit: key validity is judged from the key's current self-signatures,
// as gpg reads a key, on commits signed by git with gpg's clock set in the past.
func TestOpenPGPExpiryAgreesWithGit(t *testing.T) {
	g := fixtures.NewGPG(t)
	r := fixtures.NewRepo(t)
	commitAt := func(s fixtures.Signer, at time.Time, msg string) string {
		r.SetClock(at)
		return r.Commit(g.SignerAt(t, s, at), msg, map[string]string{"a.yaml": msg + "\n"})
	}

	// Kim's key expires after 180 days (2020-06-29); on 2020-06-01 she extends it by ten years.
	kim := g.KeyAt(t, "Kim", "kim@example.com", "ed25519", "180d", day(2020, 1, 1))
	kimBefore := kim.PublicKey
	beforeExtension := commitAt(kim, day(2020, 3, 1), "signed before the extension")
	kimNow := g.SetExpiry(t, kim.Fingerprint, "10y", day(2020, 6, 1))
	underExtension := commitAt(kim, day(2020, 8, 1), "signed after the old expiry, under the extension")

	// Eve's key never expires until, after signing in June, a new self-signature dated January
	// shortens it to 60 days (2020-03-01).
	eve := g.KeyAt(t, "Eve", "eve@example.com", "ed25519", "never", day(2020, 1, 1))
	afterShortened := commitAt(eve, day(2020, 6, 1), "signed after the shortened expiry")
	eveNow := g.SetExpiry(t, eve.Fingerprint, "60d", day(2020, 1, 1).Add(time.Hour))

	// A signature its signer gave an expiry of one day (gpg --default-sig-expire), long passed.
	r.SetClock(day(2020, 8, 2))
	sigExpired := r.Commit(g.SignerWith(t, kim, "--faked-system-time", "20200802T000000!", "--default-sig-expire", "1d"),
		"signature that expired a day later", map[string]string{"a.yaml": "expiring\n"})

	tests := []struct {
		name   string
		key    string // the armored key as the policy (and git's keyring) holds it
		commit string
		want   error // Writ's verdict: nil = verified
		gitOK  bool
		why    string // why Writ and git differ, when they do
	}{
		{"signed before the key's expiry was extended", kimNow, beforeExtension, nil, true, ""},
		{"signed after the old expiry, within the extension", kimNow, underExtension, nil, true, ""},
		{"signed after an expiry that a later self-signature shortened", eveNow, afterShortened, ErrExpired, false, ""},
		{"signed while valid by a key expired now (the key before its extension)", kimBefore, beforeExtension, nil, false,
			"git rejects every signature of a key that has expired by now (EXPKEYSIG); Writ judges expiry at signing time"},
		{"signed after the expiry of the key before its extension", kimBefore, underExtension, ErrExpired, false, ""},
		{"a signature whose own expiry has passed", kimNow, sigExpired, ErrExpired, false, ""},
	}
	if err := verify(t, compile(t, openpgpHead(kimNow)), r.Dir, Request{Target: sigExpired}).Err(); err == nil || !strings.Contains(err.Error(), "expired on 2020-08-03") {
		t.Fatalf("expired signature: %v, want its own expiry (2020-08-03) named", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := verify(t, compile(t, openpgpHead(tt.key)), r.Dir, Request{Target: tt.commit})
			got := rep.Err()
			if tt.want == nil && got != nil {
				t.Fatalf("Writ rejected: %v", got)
			}
			if tt.want != nil && !errors.Is(got, tt.want) {
				t.Fatalf("Writ: %v, want %v", got, tt.want)
			}
			gv := fixtures.GitVerify(t, r.Dir, "commit", tt.commit, gitKeyring(t, tt.key)...)
			if gv.OK != tt.gitOK {
				t.Fatalf("git verify-commit ok=%v, want %v:\n%s", gv.OK, tt.gitOK, gv.Status)
			}
			if agree := (got == nil) == gv.OK; agree != (tt.why == "") {
				t.Fatalf("Writ (%v) and git (ok=%v) agree=%v, but the table says why=%q", got, gv.OK, agree, tt.why)
			}
			if tt.why != "" && !strings.Contains(gv.Status, "EXPKEYSIG") {
				t.Fatalf("git rejected for another reason than an expired key:\n%s", gv.Status)
			}
		})
	}
}
