package sigstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"writ.dev/writ/test/fixtures"

	"writ.dev/writ/provenance/signature"
)

// corpusDir is the shared corpus of real gitsign commits, found from this file's location so the
// test runs from any working directory. A missing corpus fails the test: it is part of the repo.
func corpusDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(fixtures.Corpus(t), "gitsign")
}

// splitCommit splits a raw commit object into the signed payload and the armored gpgsig value,
// and returns the committer time. It drops the "gpgsig " header line and its space-prefixed
// continuation lines; the signature is the header value with each continuation's leading space
// removed. sig is nil for an unsigned commit. (The real commit parser lives in gitobj.)
func splitCommit(t testing.TB, raw []byte) (payload, sig []byte, committed time.Time) {
	t.Helper()
	headerEnd := bytes.Index(raw, []byte("\n\n"))
	if headerEnd < 0 {
		headerEnd = len(raw)
	}
	lines := bytes.SplitAfter(raw[:headerEnd+1], []byte("\n"))
	var out, sigBuf bytes.Buffer
	inSig := false
	for _, l := range lines {
		switch {
		case bytes.HasPrefix(l, []byte("gpgsig ")):
			inSig = true
			sigBuf.Write(l[len("gpgsig "):])
		case inSig && bytes.HasPrefix(l, []byte(" ")):
			sigBuf.Write(l[1:])
		default:
			inSig = false
			out.Write(l)
			if f := strings.Fields(string(l)); len(f) >= 3 && f[0] == "committer" {
				sec, err := strconv.ParseInt(f[len(f)-2], 10, 64)
				if err != nil {
					t.Fatalf("committer line %q: %v", l, err)
				}
				committed = time.Unix(sec, 0).UTC()
			}
		}
	}
	if headerEnd+1 < len(raw) {
		out.Write(raw[headerEnd+1:])
	}
	if sigBuf.Len() > 0 {
		sig = sigBuf.Bytes()
	}
	return out.Bytes(), sig, committed
}

// corpusCase is the part of expected.json the verifier is held to.
type corpusCase struct {
	File        string `json:"file"`
	Verdict     string `json:"expected_verdict"`
	Certificate *struct {
		SAN       string `json:"san"`
		Issuer11  string `json:"oidc_issuer_1_1"`
		SHA256DER string `json:"sha256_der"`
		NotBefore string `json:"not_before"`
	} `json:"certificate"`
	Rekor *struct {
		LogIndex       int64  `json:"log_index"`
		IntegratedTime string `json:"integrated_time"`
	} `json:"rekor_embedded"`
}

func loadCorpus(t *testing.T) (string, []corpusCase) {
	dir := corpusDir(t)
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []corpusCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) < 9 {
		t.Fatalf("expected.json lists %d cases, want at least 9", len(doc.Cases))
	}
	return dir, doc.Cases
}

// corpusIdentities trusts every identity of the corpus, so the test exercises everything but
// identity policy; TestCorpusIdentityMismatch covers that.
var corpusIdentities = []Identity{
	{Issuer: "https://accounts.google.com", SubjectRegExp: `[^@]+@chainguard\.dev`},
	{Issuer: "https://github.com/login/oauth", Subject: "4115580+cpanato@users.noreply.github.com"},
	{Issuer: "https://token.actions.githubusercontent.com", SubjectRegExp: `https://github\.com/cargo-bins/cargo-binstall/\.github/workflows/.+`},
}

func TestCorpus(t *testing.T) {
	dir, cases := loadCorpus(t)
	strict, err := Compile(Options{Identities: corpusIdentities, RequireTransparencyLog: true, RequireSCT: true})
	if err != nil {
		t.Fatal(err)
	}
	lax, err := Compile(Options{Identities: corpusIdentities})
	if err != nil {
		t.Fatal(err)
	}
	sctOnly, err := Compile(Options{Identities: corpusIdentities, RequireSCT: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.File, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, c.File))
			if err != nil {
				t.Fatal(err)
			}
			payload, sig, committed := splitCommit(t, raw)
			switch c.Verdict {
			case "unsigned":
				if sig != nil {
					t.Fatalf("unsigned commit has a gpgsig header")
				}
				_, err := strict.Verify(payload, sig, committed)
				if !errors.Is(err, signature.ErrMalformed) {
					t.Fatalf("Verify(no signature) = %v, want ErrMalformed", err)
				}
			case "invalid":
				for name, v := range map[string]*Verifier{"tlog required": strict, "tlog optional": lax} {
					if _, err := v.Verify(payload, sig, committed); !errors.Is(err, signature.ErrBadSignature) {
						t.Errorf("%s: Verify = %v, want ErrBadSignature", name, err)
					}
				}
			case "valid":
				s, err := strict.Verify(payload, sig, committed)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				checkCorpusSigner(t, c, s)
				if s.TimeSource != signature.TimeTransparencyLog || s.LogIndex == nil || *s.LogIndex != c.Rekor.LogIndex {
					t.Errorf("time source %q log index %v, want transparency-log %d", s.TimeSource, s.LogIndex, c.Rekor.LogIndex)
				}
				if got := s.SigningTime.Format(time.RFC3339); got != c.Rekor.IntegratedTime {
					t.Errorf("signing time %s, want the integrated time %s", got, c.Rekor.IntegratedTime)
				}
			case "valid-signature-no-embedded-tlog":
				if _, err := strict.Verify(payload, sig, committed); !errors.Is(err, signature.ErrTransparencyLog) {
					t.Errorf("tlog required, offline: Verify = %v, want ErrTransparencyLog", err)
				}
				s, err := lax.Verify(payload, sig, committed)
				if err != nil {
					t.Fatalf("tlog optional: Verify: %v", err)
				}
				checkCorpusSigner(t, c, s)
				// Certificates from before mid-2022 carry no embedded SCT: Fulcio returned it
				// detached then. add1e873 is one.
				_, err = sctOnly.Verify(payload, sig, committed)
				if noSCT := c.File == "add1e873fdbdfb9e0e2565c14cc729aa74bd9b86.commit"; noSCT != (err != nil) || (noSCT && !errors.Is(err, signature.ErrUntrustedChain)) {
					t.Errorf("SCT required: Verify = %v (certificate without SCT: %v)", err, noSCT)
				}
				nb, _ := time.Parse(time.RFC3339, c.Certificate.NotBefore)
				if s.TimeSource != signature.TimeSignature || !s.SigningTime.Equal(nb.Add(time.Minute)) || s.LogIndex != nil {
					t.Errorf("time %s from %q (log index %v), want notBefore+1m %s from %q", s.SigningTime, s.TimeSource, s.LogIndex, nb.Add(time.Minute), signature.TimeSignature)
				}
			default:
				t.Fatalf("unknown verdict %q", c.Verdict)
			}
		})
	}
}

func checkCorpusSigner(t *testing.T, c corpusCase, s signature.Signer) {
	t.Helper()
	if s.Method != signature.Keyless || s.Identity != c.Certificate.SAN || s.Issuer != c.Certificate.Issuer11 || s.Fingerprint != c.Certificate.SHA256DER {
		t.Errorf("signer %+v, want keyless %s from %s, certificate %s", s, c.Certificate.SAN, c.Certificate.Issuer11, c.Certificate.SHA256DER)
	}
}

// TestCorpusIdentityMismatch: a real, valid signature by someone the policy does not trust.
func TestCorpusIdentityMismatch(t *testing.T) {
	dir := corpusDir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "dc68e8ce155fe12ab8fd7c55de6ef336ce716ee8.commit"))
	if err != nil {
		t.Fatal(err)
	}
	payload, sig, committed := splitCommit(t, raw)
	for name, id := range map[string]Identity{
		"other subject":       {Issuer: "https://accounts.google.com", Subject: "adam.kaplan@chainguard.dev"},
		"other issuer":        {Issuer: "https://github.com/login/oauth", Subject: "billy@chainguard.dev"},
		"regexp is anchored":  {Issuer: "https://accounts.google.com", SubjectRegExp: `billy@chainguard`},
		"issuer regexp fails": {IssuerRegExp: `https://token\.actions\..*`, Subject: "billy@chainguard.dev"},
	} {
		v, err := Compile(Options{Identities: []Identity{id}, RequireTransparencyLog: true, RequireSCT: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(payload, sig, committed); !errors.Is(err, signature.ErrIdentityMismatch) {
			t.Errorf("%s: Verify = %v, want ErrIdentityMismatch", name, err)
		}
	}
}

// A Verifier is shared by every reconcile: Verify must be safe for concurrent use.
func TestVerifyConcurrent(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(corpusDir(t), "44ed33f7e317e29efa1f0188faa5d2a044fbef76.commit"))
	if err != nil {
		t.Fatal(err)
	}
	payload, sig, committed := splitCommit(t, raw)
	v, err := Compile(Options{Identities: corpusIdentities, RequireTransparencyLog: true, RequireSCT: true})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := v.Verify(payload, sig, committed)
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
