package openpgp

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"writ.dev/writ/provenance/signature"
)

// Verifier checks OpenPGP signatures against a fixed key ring.
type Verifier struct {
	keys     openpgp.EntityList
	warnings []string
	now      func() time.Time // the clock a signature's own expiry is judged by
}

const keyBlockHeader = "-----BEGIN PGP PUBLIC KEY BLOCK-----"

// Compile reads armored public keys. Each entry may hold several armored blocks; every block must
// decode to at least one public key. Errors name the entry and block.
func Compile(armoredKeys []string) (*Verifier, error) {
	v := &Verifier{now: time.Now}
	if len(armoredKeys) == 0 {
		return nil, errors.New("no OpenPGP keys: add at least one armored public key")
	}
	for i, text := range armoredKeys {
		if strings.Contains(text, "PRIVATE KEY BLOCK") {
			return nil, fmt.Errorf("keys[%d]: holds a private key; the policy needs only the public key (gpg --armor --export KEYID)", i)
		}
		blocks := splitBlocks(text)
		if len(blocks) == 0 {
			return nil, fmt.Errorf("keys[%d]: no %q block found: paste the output of `gpg --armor --export KEYID`", i, keyBlockHeader)
		}
		for j, b := range blocks {
			el, err := openpgp.ReadArmoredKeyRing(strings.NewReader(b))
			if err != nil {
				return nil, fmt.Errorf("keys[%d] block %d: not a readable public key: %v", i, j+1, err)
			}
			for _, e := range el {
				if e.PrivateKey != nil {
					return nil, fmt.Errorf("keys[%d] block %d: holds a private key; the policy needs only the public key (gpg --armor --export)", i, j+1)
				}
			}
			for _, e := range el {
				v.warnings = append(v.warnings, weakKeyWarnings(e, fmt.Sprintf("keys[%d] block %d", i, j+1))...)
			}
			v.keys = append(v.keys, el...)
		}
	}
	return v, nil
}

// splitBlocks returns each armored public-key block in text.
func splitBlocks(text string) []string {
	var out []string
	for {
		i := strings.Index(text, keyBlockHeader)
		if i < 0 {
			return out
		}
		text = text[i:]
		j := strings.Index(text[len(keyBlockHeader):], keyBlockHeader)
		if j < 0 {
			return append(out, text)
		}
		out = append(out, text[:len(keyBlockHeader)+j])
		text = text[len(keyBlockHeader)+j:]
	}
}

// Fingerprints returns the upper-case hex fingerprints of the trusted primary keys.
func (v *Verifier) Fingerprints() []string {
	out := make([]string, 0, len(v.keys))
	for _, e := range v.keys {
		out = append(out, fingerprint(e.PrimaryKey.Fingerprint))
	}
	return out
}

// SubkeyFingerprints returns the upper-case hex fingerprints of the trusted keys' subkeys.
func (v *Verifier) SubkeyFingerprints() []string {
	var out []string
	for _, e := range v.keys {
		for _, sk := range e.Subkeys {
			out = append(out, fingerprint(sk.PublicKey.Fingerprint))
		}
	}
	return out
}

// Warnings are what Compile found usable but questionable: keys whose signatures will always be
// rejected (RSA or DSA under 2048 bits).
func (v *Verifier) Warnings() []string { return v.warnings }

func fingerprint(b []byte) string { return strings.ToUpper(fmt.Sprintf("%x", b)) }

func keyID(pk *packet.PublicKey) string { return fmt.Sprintf("%016X", pk.KeyId) }

// Verify checks an armored detached signature over payload: exactly one signature packet in
// exactly one armor (see readSignature), by a trusted key allowed to sign, with an accepted digest
// and key size (see policy.go), cryptographically valid, by a key valid at the signature's
// creation time according to the key's current self-signatures (see validity.go).
func (v *Verifier) Verify(payload, armoredSig []byte) (signature.Signer, error) {
	sig, err := readSignature(armoredSig)
	if err != nil {
		return signature.Signer{}, err
	}
	if sig.SigType != packet.SigTypeBinary && sig.SigType != packet.SigTypeText {
		return signature.Signer{}, fmt.Errorf("%w: OpenPGP signature type %d is not a document signature", signature.ErrUnsupported, sig.SigType)
	}
	candidates, err := v.issuerKeys(sig)
	if err != nil {
		return signature.Signer{}, err
	}
	id := keyID(candidates[0].PublicKey)
	if err := checkDigest(sig, id); err != nil {
		return signature.Signer{}, err
	}
	key, err := verifyWith(candidates, sig, payload)
	if err != nil {
		return signature.Signer{}, err
	}
	id = keyID(key.PublicKey)
	for _, pk := range []*packet.PublicKey{key.Entity.PrimaryKey, key.PublicKey} {
		if err := checkKeySize(pk); err != nil {
			return signature.Signer{}, err
		}
	}
	if err := validAt(key, sig, v.now()); err != nil {
		return signature.Signer{}, err
	}
	s := signature.Signer{
		Method:      signature.OpenPGP,
		Fingerprint: fingerprint(key.Entity.PrimaryKey.Fingerprint),
		KeyID:       id,
		SigningTime: sig.CreationTime.UTC(),
		TimeSource:  signature.TimeSignature,
	}
	if key.PublicKey != key.Entity.PrimaryKey {
		s.SubkeyFingerprint = fingerprint(key.PublicKey.Fingerprint)
	}
	if ident := key.Entity.PrimaryIdentity(); ident != nil {
		s.Identity = ident.Name
	}
	return s, nil
}

// issuerKeys returns the trusted keys and subkeys the signature names as its issuer (by issuer
// fingerprint when the signature carries one, else by key id) that may sign according to their
// current self-signature. A key without key flags may sign, as gpg allows.
func (v *Verifier) issuerKeys(sig *packet.Signature) ([]openpgp.Key, error) {
	var named, usable []openpgp.Key
	for _, e := range v.keys {
		self, _ := e.PrimarySelfSignature()
		keys := []openpgp.Key{{Entity: e, PublicKey: e.PrimaryKey, SelfSignature: self, Revocations: e.Revocations}}
		for _, sk := range e.Subkeys {
			keys = append(keys, openpgp.Key{Entity: e, PublicKey: sk.PublicKey, SelfSignature: sk.Sig, Revocations: sk.Revocations})
		}
		for _, k := range keys {
			if !sig.CheckKeyIdOrFingerprint(k.PublicKey) {
				continue
			}
			named = append(named, k)
			if k.SelfSignature != nil && (!k.SelfSignature.FlagsValid || k.SelfSignature.FlagSign) {
				usable = append(usable, k)
			}
		}
	}
	issuer := "(no issuer)"
	switch {
	case sig.IssuerFingerprint != nil:
		issuer = fingerprint(sig.IssuerFingerprint)
	case sig.IssuerKeyId != nil:
		issuer = fmt.Sprintf("%016X", *sig.IssuerKeyId)
	}
	if len(named) == 0 {
		return nil, fmt.Errorf("%w: OpenPGP key %s is not among the policy's keys", signature.ErrUnknownKey, issuer)
	}
	if len(usable) == 0 {
		return nil, fmt.Errorf("%w: OpenPGP key %s is in the policy, but its current self-signature does not allow it to sign", signature.ErrUnknownKey, issuer)
	}
	return usable, nil
}

// verifyWith checks the signature over payload with each candidate key and returns the one it
// verifies with.
func verifyWith(candidates []openpgp.Key, sig *packet.Signature, payload []byte) (openpgp.Key, error) {
	var err error
	for _, k := range candidates {
		hash, perr := sig.PrepareVerify()
		if perr != nil {
			return openpgp.Key{}, fmt.Errorf("%w: OpenPGP signature by %s: %v", signature.ErrUnsupported, keyID(k.PublicKey), perr)
		}
		var w io.Writer = hash
		if sig.SigType == packet.SigTypeText {
			w = openpgp.NewCanonicalTextHash(hash) // CRLF line endings, as text signatures are made
		}
		_, _ = w.Write(payload)
		if err = k.PublicKey.VerifySignature(hash, sig); err == nil {
			return k, nil
		}
	}
	return openpgp.Key{}, fmt.Errorf("%w: OpenPGP signature by %s does not match the signed content: %v", signature.ErrBadSignature, keyID(candidates[0].PublicKey), err)
}
