package sigstore

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"testing"
	"time"

	"github.com/github/smimesign/ietf-cms/oid"
	"github.com/github/smimesign/ietf-cms/protocol"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/proto"
)

// Identities the fixtures sign as.
const (
	testSubject = "alice@example.com"
	testIssuer  = "https://issuer.example.com"
)

// newVirtualSigstore starts an in-memory Fulcio + Rekor + TSA (sigstore-go's VirtualSigstore).
func newVirtualSigstore(t testing.TB) *ca.VirtualSigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// signed is a gitsign-style signature made in a test, with the pieces attacks reuse.
type signed struct {
	leaf     *x509.Certificate
	key      crypto.Signer
	sd       *protocol.SignedData
	body     []byte // canonical hashedrekord body of the signature
	entry    *rekorpb.TransparencyLogEntry
	logIndex int64
}

// armor encodes the SignedData the way gitsign writes it into a gpgsig header.
func (s *signed) armor(t testing.TB) []byte {
	t.Helper()
	der, err := s.sd.ContentInfoDER()
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "SIGNED MESSAGE", Bytes: der})
}

// signerInfo is the only SignerInfo, for attacks to edit.
func (s *signed) signerInfo() *protocol.SignerInfo { return &s.sd.SignerInfos[0] }

// signOpt tunes a fixture signature.
type signOpt func(*signConfig)

type signConfig struct {
	subject, issuer string
	at              func(leaf *x509.Certificate) time.Time // integrated time
	noEntry         bool                                   // embed no Rekor entry
	noSET           bool
	noProof         bool
	rekor           *ca.VirtualSigstore // the log that vouches for the entry; default the CA's own
	tsa             *ca.VirtualSigstore // add an RFC 3161 timestamp from this TSA
}

func as(subject, issuer string) signOpt {
	return func(c *signConfig) { c.subject, c.issuer = subject, issuer }
}
func integratedAt(f func(leaf *x509.Certificate) time.Time) signOpt {
	return func(c *signConfig) { c.at = f }
}
func withoutEntry() signOpt                        { return func(c *signConfig) { c.noEntry = true } }
func withoutSET() signOpt                          { return func(c *signConfig) { c.noSET = true } }
func withoutProof() signOpt                        { return func(c *signConfig) { c.noProof = true } }
func loggedBy(vs *ca.VirtualSigstore) signOpt      { return func(c *signConfig) { c.rekor = vs } }
func timestampedBy(vs *ca.VirtualSigstore) signOpt { return func(c *signConfig) { c.tsa = vs } }

// sign makes a detached CMS SignedData over payload as gitsign does: a Fulcio leaf from vs,
// signed attributes contentType, signingTime and messageDigest, and a Rekor hashedrekord entry
// for the sha256 of the DER signed attributes, embedded (without its body) as unsigned attribute
// 1.3.6.1.4.1.57264.3.1.
func sign(t testing.TB, vs *ca.VirtualSigstore, payload []byte, opts ...signOpt) *signed {
	t.Helper()
	cfg := signConfig{subject: testSubject, issuer: testIssuer, rekor: vs,
		at: func(leaf *x509.Certificate) time.Time { return leaf.NotBefore.Add(30 * time.Second) }}
	for _, o := range opts {
		o(&cfg)
	}
	leaf, key, err := vs.GenerateLeafCert(cfg.subject, cfg.issuer)
	if err != nil {
		t.Fatal(err)
	}
	s := &signed{leaf: leaf, key: key.(crypto.Signer)}
	eci, err := protocol.NewDataEncapsulatedContentInfo(payload)
	if err != nil {
		t.Fatal(err)
	}
	if s.sd, err = protocol.NewSignedData(eci); err != nil {
		t.Fatal(err)
	}
	if err := s.sd.AddSignerInfo([]*x509.Certificate{leaf}, s.key); err != nil {
		t.Fatal(err)
	}
	s.sd.EncapContentInfo.EContent = asn1.RawValue{} // detached, as Git signatures are

	if cfg.tsa != nil {
		addTimestamp(t, cfg.tsa, s.signerInfo())
	}
	s.body = rekorBody(t, s)
	if cfg.noEntry {
		return s
	}
	s.logIndex = 4242
	s.entry = logEntry(t, cfg.rekor, s.body, cfg.at(leaf), s.logIndex, !cfg.noSET, !cfg.noProof)
	s.embed(t, s.entry)
	return s
}

// rekorBody writes the hashedrekord body independently of the package under test, from the
// formula in the corpus README: canonical JSON of sha256(DER signed attributes), the CMS
// signature and the PEM leaf.
func rekorBody(t testing.TB, s *signed) []byte {
	t.Helper()
	attrs, err := s.signerInfo().SignedAttrs.MarshaledForVerification()
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(attrs)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.leaf.Raw})
	return fmt.Appendf(nil, `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"%s"}},"signature":{"content":"%s","publicKey":{"content":"%s"}}}}`,
		hex.EncodeToString(d[:]), base64.StdEncoding.EncodeToString(s.signerInfo().Signature), base64.StdEncoding.EncodeToString(certPEM))
}

// logEntry has vs's Rekor vouch for body: a signed entry timestamp and/or an inclusion proof
// with a signed checkpoint. The entry carries no body, as gitsign embeds it.
func logEntry(t testing.TB, vs *ca.VirtualSigstore, body []byte, integrated time.Time, index int64, withSET, withProof bool) *rekorpb.TransparencyLogEntry {
	t.Helper()
	logID, err := vs.RekorLogID()
	if err != nil {
		t.Fatal(err)
	}
	rawID, err := hex.DecodeString(logID)
	if err != nil {
		t.Fatal(err)
	}
	tle := &rekorpb.TransparencyLogEntry{
		LogIndex:       index,
		LogId:          &protocommon.LogId{KeyId: rawID},
		KindVersion:    &rekorpb.KindVersion{Kind: "hashedrekord", Version: "0.0.1"},
		IntegratedTime: integrated.Unix(),
	}
	if withSET {
		set, err := vs.RekorSignPayload(tlog.RekorPayload{
			Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: integrated.Unix(), LogIndex: index, LogID: logID,
		})
		if err != nil {
			t.Fatal(err)
		}
		tle.InclusionPromise = &rekorpb.InclusionPromise{SignedEntryTimestamp: set}
	}
	if withProof {
		p, err := vs.GetInclusionProof(body)
		if err != nil {
			t.Fatal(err)
		}
		root, err := hex.DecodeString(*p.RootHash)
		if err != nil {
			t.Fatal(err)
		}
		proof := &rekorpb.InclusionProof{LogIndex: *p.LogIndex, TreeSize: *p.TreeSize, RootHash: root,
			Checkpoint: &rekorpb.Checkpoint{Envelope: *p.Checkpoint}}
		for _, h := range p.Hashes {
			b, _ := hex.DecodeString(h)
			proof.Hashes = append(proof.Hashes, b)
		}
		tle.InclusionProof = proof
	}
	return tle
}

// embed replaces the signature's transparency-log attribute with tle.
func (s *signed) embed(t testing.TB, tle *rekorpb.TransparencyLogEntry) {
	t.Helper()
	b, err := proto.Marshal(tle)
	if err != nil {
		t.Fatal(err)
	}
	s.setUnsigned(t, oidRekorEntry, b)
}

// setUnsigned replaces (or adds) an unsigned attribute.
func (s *signed) setUnsigned(t testing.TB, typ asn1.ObjectIdentifier, val any) {
	t.Helper()
	attr, err := protocol.NewAttribute(typ, val)
	if err != nil {
		t.Fatal(err)
	}
	si := s.signerInfo()
	kept := si.UnsignedAttrs[:0]
	for _, a := range si.UnsignedAttrs {
		if !a.Type.Equal(typ) {
			kept = append(kept, a)
		}
	}
	si.UnsignedAttrs = append(kept, attr)
}

// addTimestamp adds an RFC 3161 TimeStampToken from vs's TSA over the signature value, as
// smimesign does.
func addTimestamp(t testing.TB, vs *ca.VirtualSigstore, si *protocol.SignerInfo) {
	t.Helper()
	resp, err := vs.TimestampResponse(si.Signature)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Status asn1.RawValue
		Token  asn1.RawValue
	}
	if _, err := asn1.Unmarshal(resp, &r); err != nil {
		t.Fatal(err)
	}
	attr, err := protocol.NewAttribute(oid.AttributeTimeStampToken, r.Token)
	if err != nil {
		t.Fatal(err)
	}
	si.UnsignedAttrs = append(si.UnsignedAttrs, attr)
}

// resign recomputes the signature over edited signed attributes with the leaf key, as an
// attacker holding the key (but not the log) could.
func (s *signed) resign(t testing.TB) {
	t.Helper()
	si := s.signerInfo()
	attrs, err := si.SignedAttrs.MarshaledForVerification()
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(attrs)
	if si.Signature, err = s.key.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
}

// testVerifier compiles a Verifier trusting vs and testSubject/testIssuer, requiring a log
// entry; edit tweaks the options.
func testVerifier(t testing.TB, vs *ca.VirtualSigstore, edit ...func(*Options)) *Verifier {
	t.Helper()
	o := Options{
		TrustedMaterial:        vs,
		Identities:             []Identity{{Issuer: testIssuer, Subject: testSubject}},
		RequireTransparencyLog: true,
	}
	for _, e := range edit {
		e(&o)
	}
	v, err := Compile(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var testPayload = []byte(`tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904
author Alice <alice@example.com> 1767225600 +0000
committer Alice <alice@example.com> 1767225600 +0000

Deploy the thing
`)
