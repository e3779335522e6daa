package sigstore

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"

	"github.com/github/smimesign/ietf-cms/oid"
	"github.com/github/smimesign/ietf-cms/protocol"

	"writ.dev/writ/provenance/signature"
)

// pemType is the armor type gitsign writes ("-----BEGIN SIGNED MESSAGE-----").
const pemType = "SIGNED MESSAGE"

// maxSignatureSize bounds the armored signature: real gitsign signatures are 2–5 KiB.
const maxSignatureSize = 256 << 10

// Unsigned attribute OIDs gitsign uses.
var (
	// oidRekorEntry holds a protobuf dev.sigstore.rekor.v1.TransparencyLogEntry (gitsign ≥ 0.7).
	oidRekorEntry = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 3, 1}
)

// envelope is the part of a gitsign CMS SignedData this package verifies.
type envelope struct {
	leaf          *x509.Certificate   // the SignerInfo's certificate
	certs         []*x509.Certificate // every certificate in the CMS, leaf included
	digestHash    crypto.Hash         // hash of the messageDigest attribute
	messageDigest []byte              // signed messageDigest attribute
	signedAttrs   []byte              // DER SET OF the signed attributes: what the signature covers
	sigAlg        x509.SignatureAlgorithm
	sig           []byte // SignerInfo signature value
	// entry is the raw protobuf TransparencyLogEntry of unsigned attribute 3.1, nil if none.
	entry []byte
	// legacyEntry is set when unsigned attributes use the January 2023 layout, which spread the
	// entry over 3.0–3.9 and made 3.1 the integrated time, an INTEGER.
	legacyEntry bool
	// timestamps are RFC 3161 TimeStampTokens (DER ContentInfo) from unsigned attributes.
	timestamps [][]byte
}

// attrsDigest is the sha256 of the signed attributes: the digest gitsign logs in Rekor as a
// hashedrekord (not the digest of the commit).
func (e *envelope) attrsDigest() []byte {
	d := sha256.Sum256(e.signedAttrs)
	return d[:]
}

// decode parses an armored gitsign signature. Every error wraps signature.ErrMalformed or
// signature.ErrUnsupported.
func decode(armored []byte) (*envelope, error) {
	if len(armored) > maxSignatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, more than the %d accepted", signature.ErrMalformed, len(armored), maxSignatureSize)
	}
	block, rest := pem.Decode(armored)
	if block == nil {
		return nil, fmt.Errorf("%w: no %q PEM block; is this a gitsign signature?", signature.ErrMalformed, "BEGIN "+pemType)
	}
	if block.Type != pemType {
		return nil, fmt.Errorf("%w: PEM block is %q, want %q", signature.ErrUnsupported, block.Type, pemType)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data after the signature's PEM block", signature.ErrMalformed)
	}
	sd, err := parseSignedData(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: CMS SignedData: %v", signature.ErrMalformed, err)
	}
	if len(sd.SignerInfos) != 1 {
		return nil, fmt.Errorf("%w: CMS holds %d signers, gitsign writes exactly one", signature.ErrUnsupported, len(sd.SignerInfos))
	}
	if !sd.EncapContentInfo.EContentType.Equal(oid.ContentTypeData) {
		return nil, fmt.Errorf("%w: CMS content type %v, want id-data", signature.ErrUnsupported, sd.EncapContentInfo.EContentType)
	}
	if len(sd.EncapContentInfo.EContent.FullBytes) != 0 {
		return nil, fmt.Errorf("%w: CMS carries its content; a Git signature must be detached", signature.ErrUnsupported)
	}
	si := sd.SignerInfos[0]
	e := &envelope{sig: si.Signature}

	if e.certs, err = sd.X509Certificates(); err != nil {
		return nil, fmt.Errorf("%w: CMS certificates: %v", signature.ErrMalformed, err)
	}
	if e.leaf, err = si.FindCertificate(e.certs); err != nil {
		return nil, fmt.Errorf("%w: the signer's certificate is not in the CMS: %v", signature.ErrMalformed, err)
	}
	if e.digestHash, err = si.Hash(); err != nil || !allowedDigest(e.digestHash) {
		return nil, fmt.Errorf("%w: digest algorithm %v; gitsign uses SHA-256", signature.ErrUnsupported, si.DigestAlgorithm.Algorithm)
	}
	if e.sigAlg = si.X509SignatureAlgorithm(); e.sigAlg == x509.UnknownSignatureAlgorithm {
		return nil, fmt.Errorf("%w: signature algorithm %v", signature.ErrUnsupported, si.SignatureAlgorithm.Algorithm)
	}
	if len(si.SignedAttrs) == 0 {
		return nil, fmt.Errorf("%w: SignerInfo has no signed attributes, so nothing binds it to the commit", signature.ErrUnsupported)
	}
	ct, err := si.GetContentTypeAttribute()
	if err != nil {
		return nil, fmt.Errorf("%w: contentType attribute: %v", signature.ErrMalformed, err)
	}
	if !ct.Equal(oid.ContentTypeData) {
		return nil, fmt.Errorf("%w: contentType attribute %v, want id-data", signature.ErrMalformed, ct)
	}
	if e.messageDigest, err = si.GetMessageDigestAttribute(); err != nil {
		return nil, fmt.Errorf("%w: messageDigest attribute: %v", signature.ErrMalformed, err)
	}
	if e.signedAttrs, err = si.SignedAttrs.MarshaledForVerification(); err != nil {
		return nil, fmt.Errorf("%w: signed attributes: %v", signature.ErrMalformed, err)
	}
	if err := e.readUnsigned(si.UnsignedAttrs); err != nil {
		return nil, err
	}
	return e, nil
}

// parseSignedData decodes a ContentInfo holding a SignedData. gitsign writes DER, which
// encoding/asn1 reads directly. Only other (BER) encodings go through smimesign's BER normaliser,
// which indexes past the end of truncated input and updates a package-level counter, so it runs
// under a lock and a recover.
func parseSignedData(der []byte) (*protocol.SignedData, error) {
	var ci protocol.ContentInfo
	rest, err := asn1.Unmarshal(der, &ci)
	if err == nil && len(rest) == 0 {
		return ci.SignedDataContent()
	}
	if ci, err = parseBER(der); err != nil {
		return nil, err
	}
	return ci.SignedDataContent()
}

var berMu sync.Mutex

func parseBER(ber []byte) (ci protocol.ContentInfo, err error) {
	berMu.Lock()
	defer berMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			ci, err = protocol.ContentInfo{}, fmt.Errorf("undecodable ASN.1 (%v)", r)
		}
	}()
	return protocol.ParseContentInfo(ber)
}

// readUnsigned picks the transparency-log entry and timestamps out of the unsigned attributes.
// Unsigned attributes are not covered by the signature: anything here is verified on its own.
func (e *envelope) readUnsigned(attrs protocol.Attributes) error {
	for _, a := range attrs {
		switch {
		case a.Type.Equal(oidRekorEntry):
			if e.entry != nil || e.legacyEntry {
				// Attributes are a SET: one entry only.
				return fmt.Errorf("%w: more than one transparency-log entry attribute", signature.ErrMalformed)
			}
			val, err := onlyValue(a)
			if err != nil {
				return fmt.Errorf("%w: transparency-log entry attribute: %v", signature.ErrMalformed, err)
			}
			if val.Class == asn1.ClassUniversal && val.Tag == asn1.TagInteger {
				// In the 2023 layout 3.1 is the integrated time, an INTEGER.
				e.legacyEntry = true
				continue
			}
			if val.Class != asn1.ClassUniversal || val.Tag != asn1.TagOctetString || val.IsCompound {
				return fmt.Errorf("%w: transparency-log entry attribute is not an OCTET STRING", signature.ErrMalformed)
			}
			e.entry = val.Bytes
			if e.entry == nil {
				e.entry = []byte{}
			}
		case a.Type.Equal(oid.AttributeTimeStampToken):
			val, err := onlyValue(a)
			if err != nil {
				return fmt.Errorf("%w: timestamp attribute: %v", signature.ErrMalformed, err)
			}
			e.timestamps = append(e.timestamps, val.FullBytes)
		}
	}
	return nil
}

// onlyValue returns the single value of a single-valued attribute.
func onlyValue(a protocol.Attribute) (asn1.RawValue, error) {
	set, err := a.Value()
	if err != nil {
		return asn1.RawValue{}, err
	}
	if len(set.Elements) != 1 {
		return asn1.RawValue{}, fmt.Errorf("%d values, want 1", len(set.Elements))
	}
	return set.Elements[0], nil
}

func allowedDigest(h crypto.Hash) bool {
	return h == crypto.SHA256 || h == crypto.SHA384 || h == crypto.SHA512
}

// checkSignature verifies that the CMS signs payload: the messageDigest attribute must equal the
// payload's digest, and the signature over the signed attributes must verify with the leaf key.
// Errors wrap signature.ErrBadSignature or signature.ErrUnsupported.
func (e *envelope) checkSignature(payload []byte) error {
	h := e.digestHash.New()
	h.Write(payload)
	if !bytes.Equal(h.Sum(nil), e.messageDigest) {
		return fmt.Errorf("%w: the signature's messageDigest does not match the commit: the commit was changed after signing", signature.ErrBadSignature)
	}
	err := e.leaf.CheckSignature(e.sigAlg, e.signedAttrs, e.sig)
	var insecure x509.InsecureAlgorithmError
	switch {
	case errors.As(err, &insecure):
		return fmt.Errorf("%w: %v", signature.ErrUnsupported, err)
	case errors.Is(err, x509.ErrUnsupportedAlgorithm):
		return fmt.Errorf("%w: %v", signature.ErrUnsupported, err)
	case err != nil:
		return fmt.Errorf("%w: the CMS signature does not verify with the certificate's key: %v", signature.ErrBadSignature, err)
	}
	return nil
}
