package sshsig

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"writ.dev/writ/provenance/signature"
)

// corpusCase is one entry of a corpus folder's expected.json.
type corpusCase struct {
	File          string    `json:"file"`
	CommitterTime time.Time `json:"committer_time"`
	SSHSig        struct {
		KeyFingerprint string `json:"key_fingerprint"`
	} `json:"sshsig"`
	Principal string `json:"allowed_signers_principal"`
	Verdict   string `json:"expected_verdict"`
}

// loadCorpus returns the allowed_signers bytes and cases of one corpus folder, and fails if a
// .commit file in it has no expectation.
func loadCorpus(t *testing.T, dir string) ([]byte, []corpusCase) {
	t.Helper()
	signers, err := os.ReadFile(filepath.Join(dir, "allowed_signers"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Cases []corpusCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatalf("%s/expected.json: %v", dir, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.commit"))
	listed := map[string]bool{}
	for _, c := range exp.Cases {
		listed[c.File] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s has no case in expected.json", f)
		}
	}
	if len(exp.Cases) == 0 {
		t.Fatalf("%s/expected.json lists no cases", dir)
	}
	return signers, exp.Cases
}

// TestRealCommits verifies every commit of the real corpus in shared/testdata/real-commits/ssh at
// its committer time, offline, and checks the verdict, principal and fingerprint.
func TestRealCommits(t *testing.T) {
	root := corpusDir(t)
	folders, _ := filepath.Glob(filepath.Join(root, "*", "expected.json"))
	sort.Strings(folders)
	if len(folders) < 2 {
		t.Fatalf("expected at least 2 corpus folders with expected.json under %s, found %d", root, len(folders))
	}
	var verified int
	for _, ej := range folders {
		dir := filepath.Dir(ej)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			signers, cases := loadCorpus(t, dir)
			v, err := Compile(signers)
			if err != nil {
				t.Fatalf("Compile(allowed_signers): %v", err)
			}
			for _, c := range cases {
				t.Run(c.File, func(t *testing.T) {
					raw, err := os.ReadFile(filepath.Join(dir, c.File))
					if err != nil {
						t.Fatal(err)
					}
					at := committerTime(t, raw)
					if !at.Equal(c.CommitterTime) {
						t.Fatalf("committer time %v in the commit, %v in expected.json", at, c.CommitterTime)
					}
					payload, sig := splitCommit(t, raw)
					if c.Verdict == "unsigned" {
						if sig != nil {
							t.Fatal("expected an unsigned commit, found a gpgsig header")
						}
						return
					}
					if got := signature.Detect(sig); got != signature.SSH {
						t.Fatalf("Detect = %q, want ssh", got)
					}
					signer, err := v.Verify(payload, sig, at)
					switch c.Verdict {
					case "valid":
						if err != nil {
							t.Fatalf("Verify: %v", err)
						}
						want := signature.Signer{Method: signature.SSH, Fingerprint: c.SSHSig.KeyFingerprint,
							Identity: c.Principal, SigningTime: at, TimeSource: signature.TimeCommitter}
						if signer != want {
							t.Fatalf("Verify = %+v\nwant     %+v", signer, want)
						}
						verified++
					case "invalid":
						if !errors.Is(err, signature.ErrBadSignature) {
							t.Fatalf("Verify error = %v, want ErrBadSignature", err)
						}
					case "untrusted-key":
						if !errors.Is(err, signature.ErrUnknownKey) {
							t.Fatalf("Verify error = %v, want ErrUnknownKey", err)
						}
					default:
						t.Fatalf("unknown expected_verdict %q", c.Verdict)
					}
				})
			}
		})
	}
	if verified < 6 {
		t.Errorf("only %d corpus commits verified; expected 6", verified)
	}
}

// TestRealCommitsJudgedAtCommitTime shows why the committer time is passed in: the same good
// signatures fail once judged after their keys' valid-before (2026-12-20) or before valid-after.
func TestRealCommitsJudgedAtCommitTime(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "mikaela-allowed-signers")
	signers, _ := loadCorpus(t, dir)
	v, err := Compile(signers)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		at   time.Time
		want error
	}{
		{"721e52b41f9b7ced819ef0f1d341d3c15bcdbeb2.commit", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), signature.ErrExpired},
		{"0df2be4c196d46e02c7aa5b2d1ba2be16750ee91.commit", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), signature.ErrExpired},
		{"0df2be4c196d46e02c7aa5b2d1ba2be16750ee91.commit", time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), signature.ErrExpired},
		// valid-before is inclusive, as in ssh-keygen: the last second still verifies.
		{"721e52b41f9b7ced819ef0f1d341d3c15bcdbeb2.commit", time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC), nil},
		{"721e52b41f9b7ced819ef0f1d341d3c15bcdbeb2.commit", time.Date(2026, 12, 20, 0, 0, 1, 0, time.UTC), signature.ErrExpired},
	} {
		raw, err := os.ReadFile(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		payload, sig := splitCommit(t, raw)
		_, err = v.Verify(payload, sig, tc.at)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s at %v: error = %v, want %v", tc.file, tc.at, err, tc.want)
		}
	}
}
