package sshsig

import "golang.org/x/crypto/ssh"

// Fingerprints returns the SHA256:… fingerprints of the keys the allowed_signers file lists,
// certificate authorities' included.
func (v *Verifier) Fingerprints() []string {
	var out []string
	for _, e := range v.entries {
		if pub, err := ssh.ParsePublicKey(e.keyBlob); err == nil {
			out = append(out, ssh.FingerprintSHA256(pub))
		}
	}
	return out
}

// HasCertificateAuthority reports whether a line trusts a certificate authority, whose
// certified keys the file does not list.
func (v *Verifier) HasCertificateAuthority() bool {
	for _, e := range v.entries {
		if e.ca {
			return true
		}
	}
	return false
}
