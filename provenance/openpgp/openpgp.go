package openpgp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"writ.dev/writ/provenance/signature"
)

// Verifier checks OpenPGP signatures against a fixed key ring.
type Verifier struct {
	keys openpgp.EntityList
}

const keyBlockHeader = "-----BEGIN PGP PUBLIC KEY BLOCK-----"

// Compile reads armored public keys. Each entry may hold several armored blocks; every block must
// decode to at least one public key. Errors name the entry and block.
func Compile(armoredKeys []string) (*Verifier, error) {
	v := &Verifier{}
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

func fingerprint(b []byte) string { return strings.ToUpper(fmt.Sprintf("%x", b)) }

// readSignature decodes one armored signature packet.
func readSignature(armored []byte) (*packet.Signature, []byte, error) {
	block, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: OpenPGP armor: %v", signature.ErrMalformed, err)
	}
	if block.Type != openpgp.SignatureType {
		return nil, nil, fmt.Errorf("%w: armor type %q is not an OpenPGP signature", signature.ErrMalformed, block.Type)
	}
	body, err := io.ReadAll(io.LimitReader(block.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: OpenPGP armor: %v", signature.ErrMalformed, err)
	}
	p, err := packet.Read(bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: OpenPGP signature packet: %v", signature.ErrMalformed, err)
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return nil, nil, fmt.Errorf("%w: first OpenPGP packet is %T, not a signature", signature.ErrMalformed, p)
	}
	return sig, body, nil
}

// Verify checks an armored detached signature over payload. Key validity is judged at the
// signature's creation time.
func (v *Verifier) Verify(payload, armoredSig []byte) (signature.Signer, error) {
	sig, body, err := readSignature(armoredSig)
	if err != nil {
		return signature.Signer{}, err
	}
	if sig.SigType != packet.SigTypeBinary && sig.SigType != packet.SigTypeText {
		return signature.Signer{}, fmt.Errorf("%w: OpenPGP signature type %d is not a document signature", signature.ErrUnsupported, sig.SigType)
	}
	at := sig.CreationTime
	cfg := &packet.Config{Time: func() time.Time { return at }}
	_, entity, err := openpgp.VerifyDetachedSignature(v.keys, bytes.NewReader(payload), bytes.NewReader(body), cfg)
	keyID := ""
	if sig.IssuerKeyId != nil {
		keyID = fmt.Sprintf("%016X", *sig.IssuerKeyId)
	}
	if err != nil {
		return signature.Signer{}, classify(err, keyID, at)
	}
	s := signature.Signer{
		Method:      signature.OpenPGP,
		Fingerprint: fingerprint(entity.PrimaryKey.Fingerprint),
		KeyID:       keyID,
		SigningTime: at.UTC(),
		TimeSource:  signature.TimeSignature,
	}
	if id := entity.PrimaryIdentity(); id != nil {
		s.Identity = id.Name
	}
	return s, nil
}

func classify(err error, keyID string, at time.Time) error {
	when := at.UTC().Format(time.RFC3339)
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return fmt.Errorf("%w: OpenPGP key %s is not among the policy's keys", signature.ErrUnknownKey, keyID)
	case errors.Is(err, pgperrors.ErrKeyExpired), errors.Is(err, pgperrors.ErrSignatureExpired):
		return fmt.Errorf("%w: OpenPGP key %s was expired when it signed at %s", signature.ErrExpired, keyID, when)
	case errors.Is(err, pgperrors.ErrSignatureOlderThanKey):
		return fmt.Errorf("%w: signature dated %s predates OpenPGP key %s", signature.ErrExpired, when, keyID)
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return fmt.Errorf("%w: OpenPGP key %s was revoked by its owner before %s", signature.ErrRevoked, keyID, when)
	}
	var se pgperrors.SignatureError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: OpenPGP signature by %s does not match the signed content: %v", signature.ErrBadSignature, keyID, err)
	}
	var ue pgperrors.UnsupportedError
	if errors.As(err, &ue) {
		return fmt.Errorf("%w: %v", signature.ErrUnsupported, err)
	}
	return fmt.Errorf("%w: OpenPGP signature by %s: %v", signature.ErrBadSignature, keyID, err)
}
