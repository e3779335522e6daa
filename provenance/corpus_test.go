package provenance

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
)

// corpusCase is the part of a real-commit corpus expected.json entry the tests check.
type corpusCase struct {
	File                    string `json:"file"`
	ExpectedVerdict         string `json:"expected_verdict"`
	SigningKeyFingerprint   string `json:"signing_key_fingerprint"`
	AllowedSignersPrincipal string `json:"allowed_signers_principal"`
	SSHSig                  struct {
		KeyFingerprint string `json:"key_fingerprint"`
	} `json:"sshsig"`
}

func loadCases(t *testing.T, dir string) []corpusCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []corpusCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) == 0 {
		t.Fatalf("%s: no cases", dir)
	}
	return doc.Cases
}

func checkCorpus(t *testing.T, dir string, spec v1alpha1.TrustPolicySpec) {
	t.Helper()
	v, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range loadCases(t, dir) {
		raw, err := os.ReadFile(filepath.Join(dir, c.File))
		if err != nil {
			t.Fatalf("%s listed in expected.json: %v", c.File, err)
		}
		r := v.VerifyCommitObject(raw)
		var want error
		switch c.ExpectedVerdict {
		case "valid":
		case "invalid":
			want = ErrBadSignature
		case "unsigned":
			want = ErrUnsigned
		case "untrusted-key":
			want = ErrUnknownKey
		default:
			t.Fatalf("%s: unknown expected verdict %q", c.File, c.ExpectedVerdict)
		}
		if want == nil {
			if r.Verdict != Verified {
				t.Errorf("%s: rejected: %s", c.File, r.Reason)
				continue
			}
		} else if r.Verdict != Rejected || !errors.Is(r.Err(), want) {
			t.Errorf("%s: verdict %s (%s), want rejected with %v", c.File, r.Verdict, r.Reason, want)
			continue
		}
		if fp := c.SigningKeyFingerprint + c.SSHSig.KeyFingerprint; want == nil && r.Fingerprint != fp {
			t.Errorf("%s: fingerprint %q, want %q", c.File, r.Fingerprint, fp)
		}
		if p := c.AllowedSignersPrincipal; want == nil && p != "" && !strings.Contains(r.Identity, strings.Trim(p, `"`)) {
			t.Errorf("%s: identity %q, want principal %q", c.File, r.Identity, p)
		}
	}
}

func TestRealCommitsOpenPGP(t *testing.T) {
	dir := filepath.Join(fixtures.Corpus(t), "openpgp")
	key, err := os.ReadFile(filepath.Join(dir, "key.asc"))
	if err != nil {
		t.Fatal(err)
	}
	checkCorpus(t, dir, v1alpha1.TrustPolicySpec{OpenPGP: &v1alpha1.OpenPGPTrust{Keys: []string{string(key)}}})
}

func TestRealCommitsSSH(t *testing.T) {
	for _, folder := range []string{"radicle-heartwood", "mikaela-allowed-signers"} {
		t.Run(folder, func(t *testing.T) {
			dir := filepath.Join(fixtures.Corpus(t), "ssh", folder)
			signers, err := os.ReadFile(filepath.Join(dir, "allowed_signers"))
			if err != nil {
				t.Fatal(err)
			}
			checkCorpus(t, dir, v1alpha1.TrustPolicySpec{SSH: &v1alpha1.SSHTrust{AllowedSigners: string(signers)}})
		})
	}
}

func TestRealCommitsGitsign(t *testing.T) {
	dir := filepath.Join(fixtures.Corpus(t), "gitsign")
	type gcase struct {
		File            string `json:"file"`
		ExpectedVerdict string `json:"expected_verdict"`
		Certificate     struct {
			SAN       string `json:"san"`
			Issuer11  string `json:"oidc_issuer_1_1"`
			SHA256DER string `json:"sha256_der"`
		} `json:"certificate"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Cases []gcase }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var ids []v1alpha1.KeylessIdentity
	for _, c := range doc.Cases {
		if c.Certificate.SAN != "" {
			ids = append(ids, v1alpha1.KeylessIdentity{Issuer: c.Certificate.Issuer11, Subject: c.Certificate.SAN})
		}
	}
	no := false
	// Default policy: a verified transparency-log entry is required (offline: embedded only).
	strict, err := Compile(v1alpha1.TrustPolicySpec{Keyless: &v1alpha1.KeylessTrust{Identities: ids}})
	if err != nil {
		t.Fatal(err)
	}
	// A policy that accepts signatures whose log entry cannot be checked offline (and 2022
	// certificates, which carried no embedded SCT).
	lax, err := Compile(v1alpha1.TrustPolicySpec{Keyless: &v1alpha1.KeylessTrust{Identities: ids, RequireSCT: &no,
		TransparencyLog: v1alpha1.TransparencyLogOptions{Required: &no}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range doc.Cases {
		raw, err := os.ReadFile(filepath.Join(dir, c.File))
		if err != nil {
			t.Fatal(err)
		}
		rs, rl := strict.VerifyCommitObject(raw), lax.VerifyCommitObject(raw)
		switch c.ExpectedVerdict {
		case "valid":
			for _, r := range []Result{rs, rl} {
				if r.Verdict != Verified || r.Identity != c.Certificate.SAN || r.Issuer != c.Certificate.Issuer11 || r.Fingerprint != c.Certificate.SHA256DER || r.LogIndex == nil {
					t.Errorf("%s: %+v", c.File, r)
				}
			}
		case "valid-signature-no-embedded-tlog":
			if !errors.Is(rs.Err(), ErrTransparencyLog) && !errors.Is(rs.Err(), ErrUntrustedChain) {
				t.Errorf("%s: strict policy: %v, want a transparency-log failure", c.File, rs.Err())
			}
			if rl.Verdict != Verified || rl.Identity != c.Certificate.SAN {
				t.Errorf("%s: lax policy: %s", c.File, rl.Reason)
			}
		case "invalid":
			if !errors.Is(rs.Err(), ErrBadSignature) || !errors.Is(rl.Err(), ErrBadSignature) {
				t.Errorf("%s: %v / %v", c.File, rs.Err(), rl.Err())
			}
		case "unsigned":
			if !errors.Is(rs.Err(), ErrUnsigned) {
				t.Errorf("%s: %v", c.File, rs.Err())
			}
		default:
			t.Fatalf("%s: unknown verdict %q", c.File, c.ExpectedVerdict)
		}
	}
}
