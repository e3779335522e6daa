package provenance

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
)

// dearmor returns the packets of an armored OpenPGP signature.
func dearmor(t *testing.T, armored []byte) []byte {
	t.Helper()
	var b64 strings.Builder
	body := false
	for _, l := range strings.Split(string(armored), "\n") {
		switch {
		case strings.HasPrefix(l, "-----BEGIN"):
		case strings.HasPrefix(l, "-----END"):
			body = false
		case !body && l == "":
			body = true
		case body && !strings.HasPrefix(l, "="):
			b64.WriteString(l)
		}
	}
	out, err := base64.StdEncoding.DecodeString(b64.String())
	if err != nil || len(out) == 0 {
		t.Fatalf("dearmor: %v\n%s", err, armored)
	}
	return out
}

// armorPackets wraps packets in one armor, with the CRC-24 checksum gpg writes.
func armorPackets(packets []byte) []byte {
	crc := uint32(0xB704CE)
	for _, b := range packets {
		crc ^= uint32(b) << 16
		for i := 0; i < 8; i++ {
			crc <<= 1
			if crc&0x1000000 != 0 {
				crc ^= 0x1864CFB
			}
		}
	}
	s := base64.StdEncoding.EncodeToString(packets)
	var out bytes.Buffer
	out.WriteString("-----BEGIN PGP SIGNATURE-----\n\n")
	for len(s) > 64 {
		out.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	sum := []byte{byte(crc >> 16), byte(crc >> 8), byte(crc)}
	fmt.Fprintf(&out, "%s\n=%s\n-----END PGP SIGNATURE-----\n", s, base64.StdEncoding.EncodeToString(sum))
	return out.Bytes()
}

// TestArmorAgreesWithGit: commit and tag objects whose signature or message holds odd armor,
// written with git hash-object and git mktag and signed by real gpg. Writ's verdict must equal
// git verify-commit's / git verify-tag's with a keyring holding only the trusted key, except
// where the table says why not.
func TestArmorAgreesWithGit(t *testing.T) {
	g := fixtures.NewGPG(t)
	alice := g.Key(t, "Alice", "alice@example.com", "ed25519", "never")
	mallory := g.Key(t, "Mallory", "mallory@example.com", "ed25519", "never")
	r := fixtures.NewRepo(t)
	base := r.Commit(alice, "base", map[string]string{"a.yaml": "a: 1\n"})
	quoted := r.Commit(alice, "quotes an armored block\n\n-----BEGIN PGP SIGNATURE-----\n\nnot a signature\n-----END PGP SIGNATURE-----\n", nil)
	tree := r.Git("rev-parse", base+"^{tree}")

	payload := []byte(fmt.Sprintf("tree %s\nparent %s\nauthor Alice <alice@example.com> 1767225600 +0000\ncommitter Alice <alice@example.com> 1767225600 +0000\n\ncrafted\n", tree, base))
	good := g.Sign(t, alice.Fingerprint, payload)
	strange := g.Sign(t, mallory.Fingerprint, payload)
	commit := func(sig []byte) string { return r.WriteRaw("commit", withSignature(payload, sig)) }

	// Tags are written with git mktag, which checks them as git would.
	tags := 0
	tag := func(message string, sign func(payload []byte) []byte) string {
		tags++
		name := fmt.Sprintf("v1.0.%d", tags)
		p := []byte(fmt.Sprintf("object %s\ntype commit\ntag %s\ntagger Alice <alice@example.com> 1767225600 +0000\n\n%s", base, name, message))
		out, err := fixtures.Run(r.Dir, nil, append(p, sign(p)...), "git", "mktag")
		if err != nil {
			t.Fatal(err)
		}
		r.Git("update-ref", "refs/tags/"+name, strings.TrimSpace(out))
		return name
	}
	signAlice := func(p []byte) []byte { return g.Sign(t, alice.Fingerprint, p) }

	tests := []struct {
		name   string
		kind   string // commit or tag
		target string
		want   error // nil: verified
		why    string
	}{
		{"commit: good signature", "commit", commit(good), nil, ""},
		{"commit: message quotes an armored block", "commit", quoted, nil, ""},
		{"commit: one armor, a stranger's packet then a trusted one", "commit", commit(armorPackets(append(dearmor(t, strange), dearmor(t, good)...))), ErrMalformed, ""},
		{"commit: one armor, a trusted packet then a stranger's", "commit", commit(armorPackets(append(dearmor(t, good), dearmor(t, strange)...))), ErrMalformed, ""},
		{"commit: one armor, the trusted packet twice", "commit", commit(armorPackets(append(dearmor(t, good), dearmor(t, good)...))), ErrMalformed, ""},
		{"commit: a stranger's armor after a good one", "commit", commit(append(append([]byte{}, good...), strange...)), ErrMalformed, ""},
		{"commit: the same armor twice", "commit", commit(append(append([]byte{}, good...), good...)), ErrMalformed, ""},
		{"commit: text after the armor", "commit", commit(append(append([]byte{}, good...), "trailing text\n"...)), ErrMalformed,
			"gpg ignores text after the END line and git accepts; Writ verifies exactly the armor and nothing else"},
		{"tag: good signature", "tag", tag("release\n", signAlice), nil, ""},
		{"tag: message quotes an armored block", "tag", tag("release\n\n-----BEGIN PGP SIGNATURE-----\n\nquoted\n-----END PGP SIGNATURE-----\n", signAlice), nil, ""},
		{"tag: a stranger's armor after a good one", "tag", tag("release\n", func(p []byte) []byte {
			return append(signAlice(p), g.Sign(t, mallory.Fingerprint, p)...)
		}), ErrUnknownKey, ""},
		{"tag: a second good armor after a good one", "tag", tag("release\n", func(p []byte) []byte {
			return append(signAlice(p), signAlice(p)...) // the second was made over the payload without the first
		}), ErrBadSignature, ""},
		{"tag: one armor, a stranger's packet then a trusted one", "tag", tag("release\n", func(p []byte) []byte {
			return armorPackets(append(dearmor(t, g.Sign(t, mallory.Fingerprint, p)), dearmor(t, signAlice(p))...))
		}), ErrMalformed, ""},
		{"tag: text after the armor", "tag", tag("release\n", func(p []byte) []byte {
			return append(signAlice(p), "trailing text\n"...)
		}), ErrMalformed, "gpg ignores text after the END line and git accepts; Writ verifies exactly the armor and nothing else"},
	}
	trusted := gitKeyring(t, alice.PublicKey)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := openpgpHead(alice.PublicKey)
			if tt.kind == "tag" {
				spec.Mode = v1alpha1.ModeTag
			}
			rep := verify(t, compile(t, spec), r.Dir, Request{Target: tt.target})
			res := rep.Commits
			if rep.Tag != nil {
				res = []Result{*rep.Tag}
			}
			got := rep.Err()
			switch {
			case tt.want == nil && got != nil:
				t.Fatalf("Writ rejected: %v", got)
			case tt.want != nil && !errors.Is(got, tt.want):
				t.Fatalf("Writ: %v, want %v", got, tt.want)
			}
			// The result never describes two keys: a rejected one names none, a verified one the
			// key that verified, whose id is its fingerprint's last 16 digits.
			for _, x := range res {
				if x.Verdict == Rejected && (x.KeyID != "" || x.Fingerprint != "") {
					t.Fatalf("rejected result names a key: %+v", x.Signer)
				}
				if x.Verdict == Verified && (x.Fingerprint != alice.Fingerprint || !strings.HasSuffix(x.Fingerprint, x.KeyID) || len(x.KeyID) != 16) {
					t.Fatalf("verified result mixes keys: %+v", x.Signer)
				}
			}
			gv := fixtures.GitVerify(t, r.Dir, tt.kind, tt.target, trusted...)
			if agree := (got == nil) == gv.OK; agree != (tt.why == "") {
				t.Fatalf("Writ (%v) and git (ok=%v) agree=%v; the table's reason for a difference: %q\n%s", got, gv.OK, agree, tt.why, gv.Status)
			}
		})
	}
}
