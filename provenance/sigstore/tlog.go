package sigstore

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/go-openapi/strfmt"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	hashedrekord "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/proto"

	"writ.dev/writ/provenance/signature"
)

// entity presents a gitsign signature to sigstore-go as a SignedEntity: a message signature by
// the leaf certificate over the sha256 of the CMS signed attributes, which is what gitsign logs
// in Rekor as a hashedrekord, with its log entries and RFC 3161 timestamps.
type entity struct {
	verify.BaseSignedEntity
	cert       verify.VerificationContent
	sig        *bundle.MessageSignature
	entries    []*tlog.Entry
	timestamps [][]byte // TimeStampResp DER
}

var _ verify.SignedEntity = (*entity)(nil)

func newEntity(e *envelope) (*entity, error) {
	ent := &entity{
		cert: certAnyTime{bundle.NewCertificate(e.leaf)},
		sig:  bundle.NewMessageSignature(e.attrsDigest(), "SHA2_256", e.sig),
	}
	for _, tst := range e.timestamps {
		resp, err := timeStampResp(tst)
		if err != nil {
			return nil, fmt.Errorf("%w: RFC 3161 timestamp attribute: %v", signature.ErrMalformed, err)
		}
		ent.timestamps = append(ent.timestamps, resp)
	}
	return ent, nil
}

func (e *entity) VerificationContent() (verify.VerificationContent, error) { return e.cert, nil }
func (e *entity) SignatureContent() (verify.SignatureContent, error)       { return e.sig, nil }
func (e *entity) TlogEntries() ([]*tlog.Entry, error)                      { return e.entries, nil }
func (e *entity) Timestamps() ([][]byte, error)                            { return e.timestamps, nil }

func (e *entity) HasInclusionPromise() bool {
	for _, t := range e.entries {
		if t.HasInclusionPromise() {
			return true
		}
	}
	return false
}

func (e *entity) HasInclusionProof() bool {
	for _, t := range e.entries {
		if t.HasInclusionProof() {
			return true
		}
	}
	return false
}

// certAnyTime defers the certificate's validity at the integrated time to the chain check that
// follows the log check, so that a certificate expired at that time reports ErrExpired rather
// than a transparency-log failure. Nothing is skipped: Verify always checks the chain at every
// trusted time.
type certAnyTime struct{ c *bundle.Certificate }

func (certAnyTime) ValidAtTime(time.Time, root.TrustedMaterial) bool { return true }

func (a certAnyTime) CompareKey(k any, tm root.TrustedMaterial) bool { return a.c.CompareKey(k, tm) }
func (a certAnyTime) Certificate() *x509.Certificate                 { return a.c.Certificate() }
func (a certAnyTime) Intermediates() []*x509.Certificate             { return a.c.Intermediates() }
func (a certAnyTime) PublicKey() verify.PublicKeyProvider            { return a.c.PublicKey() }

// timeStampResp wraps a CMS TimeStampToken in the TimeStampResp (status granted) that
// sigstore-go's timestamp verification reads.
func timeStampResp(token []byte) ([]byte, error) {
	var tok asn1.RawValue
	if rest, err := asn1.Unmarshal(token, &tok); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("not a DER TimeStampToken")
	}
	return asn1.Marshal(struct {
		Status struct{ Status int }
		Token  asn1.RawValue
	}{Token: tok})
}

// hashedRekordBody rebuilds the canonical Rekor hashedrekord v0.0.1 body gitsign logged: the
// sha256 of the DER signed attributes, the CMS signature and the PEM leaf certificate.
func hashedRekordBody(e *envelope) ([]byte, error) {
	alg, value := "sha256", hex.EncodeToString(e.attrsDigest())
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.leaf.Raw})
	entry := &hashedrekord.V001Entry{HashedRekordObj: models.HashedrekordV001Schema{
		Data: &models.HashedrekordV001SchemaData{
			Hash: &models.HashedrekordV001SchemaDataHash{Algorithm: &alg, Value: &value},
		},
		Signature: &models.HashedrekordV001SchemaSignature{
			Content:   strfmt.Base64(e.sig),
			PublicKey: &models.HashedrekordV001SchemaSignaturePublicKey{Content: strfmt.Base64(certPEM)},
		},
	}}
	return types.CanonicalizeEntry(context.Background(), entry)
}

// embeddedEntry decodes the protobuf entry of unsigned attribute 3.1. gitsign leaves its
// canonicalized body out; it is rebuilt from the CMS, so the entry can only verify for this
// very signature.
func embeddedEntry(e *envelope) (*tlog.Entry, error) {
	tle := new(rekorpb.TransparencyLogEntry)
	if err := proto.Unmarshal(e.entry, tle); err != nil {
		return nil, fmt.Errorf("%w: embedded entry is not a dev.sigstore.rekor.v1.TransparencyLogEntry: %v", signature.ErrTransparencyLog, err)
	}
	if len(tle.GetCanonicalizedBody()) == 0 {
		body, err := hashedRekordBody(e)
		if err != nil {
			return nil, fmt.Errorf("%w: rebuilding the hashedrekord body: %v", signature.ErrMalformed, err)
		}
		tle.CanonicalizedBody = body
	}
	return parseEntry(tle)
}

// parseEntry checks an entry is a Rekor v1 hashedrekord and hands it to sigstore-go.
func parseEntry(tle *rekorpb.TransparencyLogEntry) (*tlog.Entry, error) {
	kv := tle.GetKindVersion()
	if kv.GetKind() == "" {
		return nil, fmt.Errorf("%w: transparency-log entry names no kind", signature.ErrTransparencyLog)
	}
	if kv.GetKind() != "hashedrekord" || kv.GetVersion() != hashedrekord.APIVERSION {
		return nil, fmt.Errorf("%w: transparency-log entry kind %q version %q; gitsign logs hashedrekord %s", signature.ErrUnsupported, kv.GetKind(), kv.GetVersion(), hashedrekord.APIVERSION)
	}
	entry, err := tlog.ParseTransparencyLogEntry(tle)
	if err != nil {
		return nil, fmt.Errorf("%w: transparency-log entry: %v", signature.ErrTransparencyLog, err)
	}
	return entry, nil
}

// verifyEntry verifies one log entry against the trusted root's Rekor keys: signed entry
// timestamp and/or inclusion proof with its signed checkpoint, and that the entry logs this
// signature, certificate and digest. It returns the integrated time when a verified signed entry
// timestamp vouches for it (an inclusion proof alone does not).
func (v *Verifier) verifyEntry(ent *entity, entry *tlog.Entry) (*time.Time, error) {
	logID := hex.EncodeToString([]byte(entry.LogKeyID()))
	if _, ok := v.trust.RekorLogs()[logID]; !ok {
		return nil, fmt.Errorf("%w: entry %d is from Rekor log %s, which the trusted root does not list", signature.ErrTransparencyLog, entry.LogIndex(), logID)
	}
	ent.entries = []*tlog.Entry{entry}
	ts, err := verify.VerifyTlogEntry(ent, v.trust, 1, true)
	if err != nil {
		return nil, fmt.Errorf("%w: entry %d in Rekor log %s does not vouch for this signature (forged, or logged for other content): %v", signature.ErrTransparencyLog, entry.LogIndex(), logID, err)
	}
	if len(ts) == 0 {
		return nil, nil
	}
	t := ts[0].Time
	return &t, nil
}
