package openpgp

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"writ.dev/writ/provenance/signature"
)

const (
	sigBegin = "-----BEGIN PGP SIGNATURE-----"
	sigEnd   = "-----END PGP SIGNATURE-----"
	// maxSignature bounds a decoded signature: a real one is a few hundred bytes (RSA 4096: 566).
	maxSignature = 64 << 10
)

// readSignature decodes exactly one signature packet in exactly one armor. The armored text must
// begin with the armor's BEGIN line and end with its END line (a final newline and trailing
// blanks aside): nothing before, nothing after, no second armor, and no second packet inside.
//
// gpg verifies every packet and every armor it is given and git then refuses the result if gpg
// reported more than one signature; a verifier that picks one packet out of several (go-crypto
// skips packets by unknown issuers until it meets a trusted one) can be shown a stranger's packet
// first and a trusted one after, and report a mixture of the two. Refusing anything but one
// packet removes the question of which one counts.
func readSignature(armored []byte) (*packet.Signature, error) {
	text := bytes.TrimRight(armored, " \t\r\n")
	if !bytes.HasPrefix(text, []byte(sigBegin)) {
		return nil, fmt.Errorf("%w: OpenPGP signature does not start with %s", signature.ErrMalformed, sigBegin)
	}
	if !bytes.HasSuffix(text, []byte(sigEnd)) {
		return nil, fmt.Errorf("%w: OpenPGP signature does not end with %s: text follows the armor", signature.ErrMalformed, sigEnd)
	}
	if n := bytes.Count(text, []byte("-----BEGIN ")); n != 1 {
		return nil, fmt.Errorf("%w: OpenPGP signature holds %d armor blocks, want exactly one", signature.ErrMalformed, n)
	}
	if n := bytes.Count(text, []byte("-----END ")); n != 1 {
		return nil, fmt.Errorf("%w: OpenPGP signature holds %d armor END lines, want exactly one", signature.ErrMalformed, n)
	}
	block, err := armor.Decode(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("%w: OpenPGP armor: %v", signature.ErrMalformed, err)
	}
	if block.Type != openpgp.SignatureType {
		return nil, fmt.Errorf("%w: armor type %q is not an OpenPGP signature", signature.ErrMalformed, block.Type)
	}
	body, err := io.ReadAll(io.LimitReader(block.Body, maxSignature+1))
	if err != nil {
		return nil, fmt.Errorf("%w: OpenPGP armor: %v", signature.ErrMalformed, err)
	}
	if len(body) > maxSignature {
		return nil, fmt.Errorf("%w: OpenPGP signature is over %d bytes", signature.ErrMalformed, maxSignature)
	}
	r := bytes.NewReader(body)
	p, err := packet.Read(r)
	if err != nil {
		var ue pgperrors.UnsupportedError
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("%w: OpenPGP signature packet: %v", signature.ErrUnsupported, err)
		}
		return nil, fmt.Errorf("%w: OpenPGP signature packet: %v", signature.ErrMalformed, err)
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return nil, fmt.Errorf("%w: OpenPGP packet is %T, not a signature", signature.ErrMalformed, p)
	}
	if r.Len() > 0 {
		return nil, fmt.Errorf("%w: OpenPGP armor holds %d bytes after the signature packet (a second packet?); want exactly one signature packet", signature.ErrMalformed, r.Len())
	}
	return sig, nil
}
