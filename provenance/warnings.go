package provenance

import (
	"fmt"
	"strings"

	"writ.dev/writ/provenance/signature"
	"writ.dev/writ/provenance/sshsig"
)

// Warnings are what Compile accepted but someone should look at: trusted keys whose signatures
// are always rejected (RSA under 2048 bits), and revocations whose fingerprint matches no key or
// subkey in the policy (a typo, a key id instead of a fingerprint, or a key removed since). None
// weakens verification; `writ verify` prints them.
func (v *Verifier) Warnings() []string { return v.warnings }

func (v *Verifier) collectWarnings() {
	known, primary := map[string]bool{}, map[string]bool{}
	sshCA := false
	if a, ok := v.formats[signature.OpenPGP].(openpgpAdapter); ok {
		v.warnings = append(v.warnings, prefixAll("spec.openpgp.", a.v.Warnings())...)
		for _, fp := range a.v.Fingerprints() {
			primary[fp] = true
		}
		for _, fp := range append(a.v.Fingerprints(), a.v.SubkeyFingerprints()...) {
			known[fp] = true
		}
	}
	if s, ok := v.formats[signature.SSH].(*sshsig.Verifier); ok {
		for _, fp := range s.Fingerprints() {
			known[fp], primary[fp] = true, true
		}
		sshCA = s.HasCertificateAuthority()
	}
	for i, r := range v.revocations {
		if r.fingerprint == "" || known[r.fingerprint] {
			continue
		}
		ssh := strings.HasPrefix(r.fingerprint, "SHA256:")
		if ssh && sshCA {
			continue // a key certified by a trusted CA is listed nowhere, and may be revoked
		}
		how := "an OpenPGP fingerprint is 40 hex digits, for subkeys too, as `gpg --list-keys --with-subkey-fingerprints` prints them"
		if ssh {
			how = "an SSH fingerprint is SHA256:…, as `ssh-keygen -lf KEY.pub` prints it"
		}
		v.warnings = append(v.warnings, fmt.Sprintf("spec.revocations[%d].fingerprint: %s matches no key or subkey in the policy, so it revokes nothing; check it (%s)", i, r.fingerprint, how))
	}
	v.warnings = append(v.warnings, principalWarnings(v.principals.listed, primary, sshCA)...)
}

func prefixAll(prefix string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = prefix + s
	}
	return out
}
