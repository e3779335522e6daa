package sshsig

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	hsig "github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"writ.dev/writ/provenance/signature"
)

// namespace is the SSHSIG namespace git signs commits and tags in.
const namespace = "git"

// supportedCriticalOptions are certificate critical options that restrict logins, not
// signatures, so they do not stop a certificate from signing commits. Any other critical option
// makes Verify reject the certificate as unsupported.
var supportedCriticalOptions = []string{"force-command", "source-address"}

// Verify checks an armored SSH signature ("-----BEGIN SSH SIGNATURE-----") over payload, the
// commit or tag bytes without the signature, made at time at: the committer or tagger time, which
// git also uses to judge valid-after and valid-before. It never reads the clock.
//
// The signature must be in the "git" namespace and made by a key that a line of the
// allowed_signers file authorises at time at. Every error wraps a sentinel of package signature.
func (v *Verifier) Verify(payload, armoredSig []byte, at time.Time) (signature.Signer, error) {
	if at.IsZero() {
		return signature.Signer{}, fmt.Errorf("%w: no signing time given; pass the committer or tagger time", signature.ErrMalformed)
	}
	sig, err := decode(armoredSig)
	if err != nil {
		return signature.Signer{}, err
	}
	if sig.Namespace != namespace {
		return signature.Signer{}, fmt.Errorf("%w: the signature is for namespace %q, not %q; sign commits with git (gpg.format=ssh) or ssh-keygen -Y sign -n git",
			signature.ErrWrongNamespace, truncate(sig.Namespace, 64), namespace)
	}

	key := sig.PublicKey
	cert, isCert := key.(*ssh.Certificate)
	if isCert {
		key = cert.Key // the certified key made the signature
	}
	fp := ssh.FingerprintSHA256(key)
	if key.Type() == ssh.KeyAlgoRSA && sig.Signature.Format != ssh.KeyAlgoRSASHA256 && sig.Signature.Format != ssh.KeyAlgoRSASHA512 {
		return signature.Signer{}, fmt.Errorf("%w: RSA key %s signed with %q; re-sign with rsa-sha2-512 (any current ssh-keygen does)",
			signature.ErrUnsupported, fp, truncate(sig.Signature.Format, 64))
	}

	candidates := v.lines(sig.PublicKey, cert)
	if len(candidates) == 0 {
		if isCert {
			return signature.Signer{}, fmt.Errorf("%w: certificate for key %s was issued by CA %s, which allowed_signers does not list with cert-authority; add the CA if it may certify signers",
				signature.ErrUnknownKey, fp, ssh.FingerprintSHA256(cert.SignatureKey))
		}
		return signature.Signer{}, fmt.Errorf("%w: key %s (%s) is not in allowed_signers; add it there if its owner may sign",
			signature.ErrUnknownKey, fp, key.Type())
	}

	if err := hsig.Verify(bytes.NewReader(payload), sig, sig.PublicKey, sig.HashAlgorithm, namespace); err != nil {
		return signature.Signer{}, fmt.Errorf("%w: the signature by key %s does not match the signed data; the commit or tag was changed after signing, or the signature belongs to another object",
			signature.ErrBadSignature, fp)
	}

	var rejected error
	for _, e := range candidates {
		identity, err := e.authorize(cert, fp, at)
		if err == nil {
			return signature.Signer{
				Method:      signature.SSH,
				Fingerprint: fp,
				Identity:    identity,
				SigningTime: at,
				TimeSource:  signature.TimeCommitter,
			}, nil
		}
		if rejected == nil || rank(err) > rank(rejected) {
			rejected = err
		}
	}
	return signature.Signer{}, rejected
}

// decode unarmors and parses an SSHSIG signature. The armor must be all there is: text around
// it could make two tools disagree on what was signed.
func decode(armored []byte) (*hsig.Signature, error) {
	trimmed := bytes.TrimLeft(armored, " \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN "+hsig.PEMType+"-----")) {
		return nil, fmt.Errorf("%w: the signature does not start with -----BEGIN %s-----; pass the armored SSH signature itself", signature.ErrMalformed, hsig.PEMType)
	}
	block, rest := pem.Decode(trimmed)
	switch {
	case block == nil || block.Type != hsig.PEMType:
		return nil, fmt.Errorf("%w: the SSH signature armor is broken (bad base64 or no matching END line); copy the signature again, whole", signature.ErrMalformed)
	case len(block.Headers) > 0:
		return nil, fmt.Errorf("%w: the SSH signature armor has PEM headers, which SSH signatures never carry; remove them", signature.ErrMalformed)
	case len(bytes.TrimSpace(rest)) > 0:
		return nil, fmt.Errorf("%w: text follows the SSH signature armor; pass the signature alone", signature.ErrMalformed)
	}
	sig, err := hsig.ParseSignature(block.Bytes)
	switch {
	case errors.Is(err, hsig.ErrUnsupportedHashAlgorithm), errors.Is(err, hsig.ErrUnsupportedSignatureVersion):
		return nil, fmt.Errorf("%w: %v; sign with a current ssh-keygen", signature.ErrUnsupported, err)
	case err != nil:
		return nil, fmt.Errorf("%w: cannot decode the SSH signature blob (%v); the signature is truncated or corrupt", signature.ErrMalformed, err)
	}
	return sig, nil
}

// lines returns the entries that list the signing key: a plain key as itself, a certificate by
// its CA key on a cert-authority line. As in ssh-keygen, a plain-key line does not match a
// certificate for that key.
func (v *Verifier) lines(pub ssh.PublicKey, cert *ssh.Certificate) []*entry {
	ca, blob := false, pub.Marshal()
	if cert != nil {
		ca, blob = true, cert.SignatureKey.Marshal()
	}
	var out []*entry
	for i := range v.entries {
		if e := &v.entries[i]; e.ca == ca && bytes.Equal(e.keyBlob, blob) {
			out = append(out, e)
		}
	}
	return out
}

// authorize reports whether the line authorises a signature made at time at, already verified to
// be by its key (or by a certificate its CA key issued), and returns the identity to report.
func (e *entry) authorize(cert *ssh.Certificate, fp string, at time.Time) (string, error) {
	if e.namespaces != nil && !matchList(namespace, e.namespaces) {
		return "", fmt.Errorf("%w: allowed_signers line %d limits key %s to namespaces %q, which exclude %q; add git to its namespaces option",
			signature.ErrUnknownKey, e.line, fp, truncate(strings.Join(e.namespaces, ","), 64), namespace)
	}
	t := at.Unix()
	if e.validAfter != 0 && t < e.validAfter {
		return "", fmt.Errorf("%w: allowed_signers line %d makes key %s valid only from %s, but it signed at %s",
			signature.ErrExpired, e.line, fp, formatUnix(e.validAfter), formatUnix(t))
	}
	if e.validBefore != 0 && t > e.validBefore {
		return "", fmt.Errorf("%w: allowed_signers line %d makes key %s valid only until %s, but it signed at %s",
			signature.ErrExpired, e.line, fp, formatUnix(e.validBefore), formatUnix(t))
	}
	if !e.ca {
		return e.identity, nil
	}
	return e.authorizeCert(cert, fp, at)
}

// authorizeCert checks a certificate issued by the line's CA key: a user certificate, valid at
// time at, for a principal the line's patterns match, with a valid CA signature. It returns the
// first such principal.
func (e *entry) authorizeCert(cert *ssh.Certificate, fp string, at time.Time) (string, error) {
	if cert.CertType != ssh.UserCert {
		return "", fmt.Errorf("%w: certificate for key %s is not a user certificate; have the CA issue a user certificate (ssh-keygen -s without -h)",
			signature.ErrUnsupported, fp)
	}
	i := slices.IndexFunc(cert.ValidPrincipals, func(p string) bool { return matchList(p, e.principals) })
	if i < 0 {
		return "", fmt.Errorf("%w: certificate for key %s has principals %q, and none matches allowed_signers line %d; issue it for a listed principal (ssh-keygen -n)",
			signature.ErrUnknownKey, fp, truncate(strings.Join(cert.ValidPrincipals, ","), 128), e.line)
	}
	principal := cert.ValidPrincipals[i]
	// The same window test as ssh.CertChecker, so that it fails here with ErrExpired.
	t := at.Unix()
	if after := int64(cert.ValidAfter); after < 0 || t < after {
		return "", fmt.Errorf("%w: certificate for key %s is valid only from %s, but it signed at %s",
			signature.ErrExpired, fp, formatUnix(int64(cert.ValidAfter)), formatUnix(t))
	}
	if before := int64(cert.ValidBefore); cert.ValidBefore != ssh.CertTimeInfinity && (t >= before || before < 0) {
		return "", fmt.Errorf("%w: certificate for key %s is valid only before %s, but it signed at %s",
			signature.ErrExpired, fp, formatUnix(before), formatUnix(t))
	}
	for opt := range cert.CriticalOptions {
		if !slices.Contains(supportedCriticalOptions, opt) {
			return "", fmt.Errorf("%w: certificate for key %s has critical option %q, which Writ does not support for signing; issue it without",
				signature.ErrUnsupported, fp, truncate(opt, 32))
		}
	}
	checker := ssh.CertChecker{
		Clock:                    func() time.Time { return at },
		SupportedCriticalOptions: supportedCriticalOptions,
	}
	if err := checker.CheckCert(principal, cert); err != nil {
		return "", fmt.Errorf("%w: certificate for key %s does not carry a valid signature of its CA %s; it is forged or corrupt",
			signature.ErrBadSignature, fp, ssh.FingerprintSHA256(cert.SignatureKey))
	}
	return principal, nil
}

// rank orders line rejections so Verify reports the one closest to success when no line
// authorises a signature.
func rank(err error) int {
	switch {
	case errors.Is(err, signature.ErrBadSignature):
		return 4
	case errors.Is(err, signature.ErrExpired):
		return 3
	case errors.Is(err, signature.ErrUnsupported):
		return 2
	default:
		return 1
	}
}

// formatUnix formats Unix seconds as an RFC 3339 UTC time.
func formatUnix(t int64) string {
	return time.Unix(t, 0).UTC().Format(time.RFC3339)
}
