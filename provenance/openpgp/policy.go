package openpgp

import (
	"crypto"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"writ.dev/writ/provenance/signature"
)

// The algorithm policy. gpg and git accept both of these; Writ does not, as its SSH verifier
// refuses ssh-rsa (SHA-1) signatures. There is no opt-in: re-sign instead.
const (
	// minKeyBits is the smallest RSA or DSA key Writ accepts (NIST SP 800-131A has disallowed
	// 1024-bit keys for signing since 2013).
	minKeyBits = 2048
)

// acceptedDigests are the digests a signature may use: SHA-2 and SHA-3. SHA-1 (chosen-prefix
// collisions are practical since 2020), MD5 and RIPEMD-160 are refused.
var acceptedDigests = map[crypto.Hash]bool{
	crypto.SHA224: true, crypto.SHA256: true, crypto.SHA384: true, crypto.SHA512: true,
	crypto.SHA3_256: true, crypto.SHA3_512: true,
}

func checkDigest(sig *packet.Signature, keyID string) error {
	if acceptedDigests[sig.Hash] {
		return nil
	}
	return fmt.Errorf("%w: OpenPGP signature by %s uses the %s digest, which Writ refuses (SHA-1 collisions are practical): "+
		"re-sign with SHA-256 or better (gpg --digest-algo SHA256, or personal-digest-preferences SHA512 SHA384 SHA256 in gpg.conf)",
		signature.ErrUnsupported, keyID, digestName(sig.Hash))
}

func digestName(h crypto.Hash) string {
	if h == 0 {
		return "unknown"
	}
	return h.String()
}

// weak returns why a key is too weak to trust, or "".
func weak(pk *packet.PublicKey) string {
	var name string
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly:
		name = "RSA"
	case packet.PubKeyAlgoDSA:
		name = "DSA"
	default:
		return ""
	}
	bits, err := pk.BitLength()
	if err != nil {
		return fmt.Sprintf("is a %s key of unreadable size", name)
	}
	if bits < minKeyBits {
		return fmt.Sprintf("is a %s key of %d bits, under the %d Writ requires", name, bits, minKeyBits)
	}
	return ""
}

// checkKeySize refuses RSA and DSA keys under minKeyBits.
func checkKeySize(pk *packet.PublicKey) error {
	if why := weak(pk); why != "" {
		return fmt.Errorf("%w: OpenPGP key %s %s: make a new signing key (gpg --quick-gen-key UID ed25519, or rsa3072), put its public key in the policy and re-sign",
			signature.ErrUnsupported, fingerprint(pk.Fingerprint), why)
	}
	return nil
}

// weakKeyWarnings says which of e's keys Verify will always refuse.
func weakKeyWarnings(e *openpgp.Entity, where string) []string {
	var out []string
	if why := weak(e.PrimaryKey); why != "" {
		out = append(out, fmt.Sprintf("%s: OpenPGP key %s %s: every signature it makes is rejected", where, fingerprint(e.PrimaryKey.Fingerprint), why))
		return out // its subkeys are refused with it
	}
	for _, sk := range e.Subkeys {
		if sk.Sig != nil && sk.Sig.FlagsValid && !sk.Sig.FlagSign {
			continue // an encryption subkey never signs
		}
		if why := weak(sk.PublicKey); why != "" {
			out = append(out, fmt.Sprintf("%s: OpenPGP subkey %s %s: every signature it makes is rejected", where, fingerprint(sk.PublicKey.Fingerprint), why))
		}
	}
	return out
}
