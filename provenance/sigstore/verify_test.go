package sigstore

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/github/smimesign/ietf-cms/oid"
	"github.com/github/smimesign/ietf-cms/protocol"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/proto"

	"writ.dev/writ/provenance/signature"
)

func TestVerifyEmbeddedEntry(t *testing.T) {
	vs := newVirtualSigstore(t)
	v := testVerifier(t, vs)
	for name, opts := range map[string][]signOpt{
		"SET and inclusion proof": nil,
		"SET only":                {withoutProof()},
	} {
		t.Run(name, func(t *testing.T) {
			s := sign(t, vs, testPayload, opts...)
			got, err := v.Verify(testPayload, s.armor(t), time.Unix(1767225600, 0))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			fp := sha256.Sum256(s.leaf.Raw)
			want := signature.Signer{
				Method:      signature.Keyless,
				Fingerprint: hex.EncodeToString(fp[:]),
				Identity:    testSubject,
				Issuer:      testIssuer,
				SigningTime: time.Unix(s.entry.IntegratedTime, 0).UTC(),
				TimeSource:  signature.TimeTransparencyLog,
			}
			if got.LogIndex == nil || *got.LogIndex != s.logIndex {
				t.Errorf("LogIndex = %v, want %d", got.LogIndex, s.logIndex)
			}
			got.LogIndex = nil
			if got != want {
				t.Errorf("Signer = %+v\nwant     %+v", got, want)
			}
		})
	}
}

// An inclusion proof proves the entry is in the log but its integrated time is not signed, so it
// is no trusted time.
func TestVerifyInclusionProofOnly(t *testing.T) {
	vs := newVirtualSigstore(t)
	s := sign(t, vs, testPayload, withoutSET())
	got, err := testVerifier(t, vs).Verify(testPayload, s.armor(t), time.Time{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.TimeSource != signature.TimeSignature || !got.SigningTime.Equal(s.leaf.NotBefore.Add(time.Minute)) || got.LogIndex == nil {
		t.Errorf("time %s from %q, log index %v; want notBefore+1m from %q with a log index", got.SigningTime, got.TimeSource, got.LogIndex, signature.TimeSignature)
	}
}

func TestVerifyTimestampAuthority(t *testing.T) {
	vs := newVirtualSigstore(t)
	optional := testVerifier(t, vs, func(o *Options) { o.RequireTransparencyLog = false })

	s := sign(t, vs, testPayload, withoutEntry(), timestampedBy(vs))
	got, err := optional.Verify(testPayload, s.armor(t), time.Time{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.TimeSource != signature.TimeTimestampAuthority || got.SigningTime.Before(s.leaf.NotBefore) || got.SigningTime.After(s.leaf.NotAfter) {
		t.Errorf("time %s from %q, want a TSA time inside %s..%s", got.SigningTime, got.TimeSource, s.leaf.NotBefore, s.leaf.NotAfter)
	}

	// With a log entry too, the log's time is reported and the chain holds at both.
	s = sign(t, vs, testPayload, timestampedBy(vs))
	if got, err = testVerifier(t, vs).Verify(testPayload, s.armor(t), time.Time{}); err != nil || got.TimeSource != signature.TimeTransparencyLog {
		t.Errorf("entry and timestamp: %+v, %v; want transparency-log time", got, err)
	}

	// A timestamp from another authority fails closed.
	s = sign(t, vs, testPayload, withoutEntry(), timestampedBy(newVirtualSigstore(t)))
	if _, err := optional.Verify(testPayload, s.armor(t), time.Time{}); !errors.Is(err, signature.ErrUntrustedChain) {
		t.Errorf("foreign TSA: Verify = %v, want ErrUntrustedChain", err)
	}
}

func TestVerifyAttacks(t *testing.T) {
	vs := newVirtualSigstore(t)
	otherCA := newVirtualSigstore(t)
	strict := testVerifier(t, vs)
	payload := testPayload
	other := bytes.Replace(testPayload, []byte("Deploy the thing"), []byte("Deploy the backdoor"), 1)

	cases := []struct {
		name     string
		verifier *Verifier
		sig      func(t *testing.T) []byte
		payload  []byte
		want     error
	}{
		{
			name: "tampered payload",
			sig:  func(t *testing.T) []byte { return sign(t, vs, payload).armor(t) },
			payload: func() []byte {
				p := bytes.Clone(payload)
				p[len(p)-2] ^= 0x20
				return p
			}(),
			want: signature.ErrBadSignature,
		},
		{
			name:    "signature copied onto another commit",
			sig:     func(t *testing.T) []byte { return sign(t, vs, payload).armor(t) },
			payload: other,
			want:    signature.ErrBadSignature,
		},
		{
			name: "signature value corrupted",
			sig: func(t *testing.T) []byte {
				s := sign(t, vs, payload)
				s.signerInfo().Signature[len(s.signerInfo().Signature)-1] ^= 1
				return s.armor(t)
			},
			want: signature.ErrBadSignature,
		},
		{
			name: "messageDigest swapped for another commit's",
			sig: func(t *testing.T) []byte {
				s := sign(t, vs, payload)
				setSignedDigest(t, s, other)
				return s.armor(t)
			},
			payload: other,
			want:    signature.ErrBadSignature,
		},
		{
			name: "key holder re-points the logged signature at another commit",
			sig: func(t *testing.T) []byte {
				s := sign(t, vs, payload)
				setSignedDigest(t, s, other)
				s.resign(t)
				return s.armor(t)
			},
			payload: other,
			want:    signature.ErrTransparencyLog,
		},
		{
			name: "subject mismatch",
			sig: func(t *testing.T) []byte {
				return sign(t, vs, payload, as("mallory@example.com", testIssuer)).armor(t)
			},
			want: signature.ErrIdentityMismatch,
		},
		{
			name: "issuer mismatch",
			sig: func(t *testing.T) []byte {
				return sign(t, vs, payload, as(testSubject, "https://evil.example.com")).armor(t)
			},
			want: signature.ErrIdentityMismatch,
		},
		{
			name: "certificate from another CA, logged in its own Rekor",
			sig:  func(t *testing.T) []byte { return sign(t, otherCA, payload).armor(t) },
			want: signature.ErrUntrustedChain,
		},
		{
			name: "no entry when one is required",
			sig:  func(t *testing.T) []byte { return sign(t, vs, payload, withoutEntry()).armor(t) },
			want: signature.ErrTransparencyLog,
		},
		{
			name: "entry from a log the root does not trust",
			sig:  func(t *testing.T) []byte { return sign(t, vs, payload, loggedBy(otherCA)).armor(t) },
			want: signature.ErrTransparencyLog,
		},
		{
			name: "entry vouching for another signature",
			sig: func(t *testing.T) []byte {
				victim := sign(t, vs, other)
				s := sign(t, vs, payload, withoutEntry())
				s.embed(t, victim.entry)
				return s.armor(t)
			},
			want: signature.ErrTransparencyLog,
		},
		{
			name: "entry carrying another signature's body",
			sig: func(t *testing.T) []byte {
				victim := sign(t, vs, other)
				s := sign(t, vs, payload, withoutEntry())
				tle := proto.Clone(victim.entry).(*rekorpb.TransparencyLogEntry)
				tle.CanonicalizedBody = victim.body
				s.embed(t, tle)
				return s.armor(t)
			},
			want: signature.ErrTransparencyLog,
		},
		{
			name: "integrated time moved after the log signed it",
			sig: func(t *testing.T) []byte {
				s := sign(t, vs, payload, withoutProof())
				s.entry.IntegratedTime -= 60
				s.embed(t, s.entry)
				return s.armor(t)
			},
			want: signature.ErrTransparencyLog,
		},
		{
			name: "SET signed by another log's key under the trusted log's id",
			sig: func(t *testing.T) []byte {
				s := sign(t, vs, payload, withoutProof())
				forged := logEntry(t, otherCA, s.body, time.Unix(s.entry.IntegratedTime, 0), s.logIndex, true, false)
				s.entry.InclusionPromise = forged.InclusionPromise
				s.embed(t, s.entry)
				return s.armor(t)
			},
			want: signature.ErrTransparencyLog,
		},
		{
			name: "signing time re-signed by the key holder after logging",
			sig: func(t *testing.T) []byte {
				s := sign(t, vs, payload)
				setSigningTime(t, s, s.leaf.NotBefore.Add(5*time.Second))
				s.resign(t)
				return s.armor(t)
			},
			want: signature.ErrTransparencyLog,
		},
		{
			name: "entry not a protobuf",
			sig: func(t *testing.T) []byte {
				s := sign(t, vs, payload, withoutEntry())
				s.setUnsigned(t, oidRekorEntry, []byte("\xff\xff not a protobuf"))
				return s.armor(t)
			},
			want: signature.ErrTransparencyLog,
		},
		{
			name: "certificate expired at the integrated time",
			sig: func(t *testing.T) []byte {
				return sign(t, vs, payload, integratedAt(func(l *x509.Certificate) time.Time { return l.NotAfter.Add(10 * time.Minute) })).armor(t)
			},
			want: signature.ErrExpired,
		},
		{
			name: "certificate not yet valid at the integrated time",
			sig: func(t *testing.T) []byte {
				return sign(t, vs, payload, integratedAt(func(l *x509.Certificate) time.Time { return l.NotBefore.Add(-5 * time.Minute) })).armor(t)
			},
			want: signature.ErrExpired,
		},
		{
			name:     "SCT required, certificate has none",
			verifier: testVerifier(t, vs, func(o *Options) { o.RequireSCT = true }),
			sig:      func(t *testing.T) []byte { return sign(t, vs, payload).armor(t) },
			want:     signature.ErrUntrustedChain,
		},
		{
			name: "2023 layout with an entry required",
			sig: func(t *testing.T) []byte {
				s := sign(t, vs, payload, withoutEntry())
				addLegacyAttrs(t, s)
				return s.armor(t)
			},
			want: signature.ErrUnsupported,
		},
		{
			name: "content attached instead of detached",
			sig: func(t *testing.T) []byte {
				s := sign(t, vs, payload)
				eci, _ := protocol.NewDataEncapsulatedContentInfo(payload)
				s.sd.EncapContentInfo = eci
				return s.armor(t)
			},
			want: signature.ErrUnsupported,
		},
		{
			name: "two signers",
			sig: func(t *testing.T) []byte {
				s := sign(t, vs, payload)
				s.sd.SignerInfos = append(s.sd.SignerInfos, s.sd.SignerInfos[0])
				return s.armor(t)
			},
			want: signature.ErrUnsupported,
		},
		{
			name: "signer certificate missing from the CMS",
			sig: func(t *testing.T) []byte {
				s := sign(t, vs, payload)
				s.sd.ClearCertificates()
				return s.armor(t)
			},
			want: signature.ErrMalformed,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := c.verifier
			if v == nil {
				v = strict
			}
			p := c.payload
			if p == nil {
				p = payload
			}
			_, err := v.Verify(p, c.sig(t), time.Time{})
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
			t.Log(err)
			if msg := err.Error(); strings.TrimSpace(msg) == "" || strings.Contains(msg, "PRIVATE KEY") {
				t.Errorf("unhelpful error %q", msg)
			}
		})
	}
}

// The unsafe skip ignores the log entirely and says so in the time source.
func TestVerifyInsecureSkip(t *testing.T) {
	vs := newVirtualSigstore(t)
	skip := testVerifier(t, vs, func(o *Options) { o.InsecureSkipTransparencyLogUnsafe = true })
	for name, s := range map[string]*signed{
		"valid entry":          sign(t, vs, testPayload),
		"no entry":             sign(t, vs, testPayload, withoutEntry()),
		"entry of a rogue log": sign(t, vs, testPayload, loggedBy(newVirtualSigstore(t))),
	} {
		got, err := skip.Verify(testPayload, s.armor(t), time.Time{})
		if err != nil {
			t.Fatalf("%s: Verify: %v", name, err)
		}
		if got.TimeSource != signature.TimeSignature || got.LogIndex != nil || !got.SigningTime.Equal(s.leaf.NotBefore.Add(time.Minute)) {
			t.Errorf("%s: time %s from %q, log index %v; want notBefore+1m from %q, no log index", name, got.SigningTime, got.TimeSource, got.LogIndex, signature.TimeSignature)
		}
	}
	// Skipping the log does not skip the signature.
	s := sign(t, vs, testPayload)
	if _, err := skip.Verify(append(bytes.Clone(testPayload), '!'), s.armor(t), time.Time{}); !errors.Is(err, signature.ErrBadSignature) {
		t.Errorf("tampered payload with skip: %v, want ErrBadSignature", err)
	}
}

// Without a required entry, a signature in the 2023 layout verifies like one without an entry:
// unsigned attributes can be stripped, so ignoring them grants nothing.
func TestVerifyLegacyLayoutOptional(t *testing.T) {
	vs := newVirtualSigstore(t)
	s := sign(t, vs, testPayload, withoutEntry())
	addLegacyAttrs(t, s)
	got, err := testVerifier(t, vs, func(o *Options) { o.RequireTransparencyLog = false }).Verify(testPayload, s.armor(t), time.Time{})
	if err != nil || got.TimeSource != signature.TimeSignature {
		t.Fatalf("Verify = %+v, %v; want a signer with time source %q", got, err, signature.TimeSignature)
	}
}

func TestVerifyMalformed(t *testing.T) {
	v := testVerifier(t, newVirtualSigstore(t))
	for name, c := range map[string]struct {
		sig  string
		want error
	}{
		"empty":          {"", signature.ErrMalformed},
		"not PEM":        {"gpgsig nonsense", signature.ErrMalformed},
		"OpenPGP armor":  {"-----BEGIN PGP SIGNATURE-----\n\nwsBc\n-----END PGP SIGNATURE-----\n", signature.ErrUnsupported},
		"not CMS":        {"-----BEGIN SIGNED MESSAGE-----\nMAMCAQE=\n-----END SIGNED MESSAGE-----\n", signature.ErrMalformed},
		"trailing junk":  {"-----BEGIN SIGNED MESSAGE-----\nMAMCAQE=\n-----END SIGNED MESSAGE-----\nmore", signature.ErrMalformed},
		"huge signature": {strings.Repeat("A", maxSignatureSize+1), signature.ErrMalformed},
	} {
		if _, err := v.Verify(testPayload, []byte(c.sig), time.Time{}); !errors.Is(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", name, err, c.want)
		}
	}
}

// setSignedDigest points the messageDigest attribute at payload, leaving the signature as it was.
func setSignedDigest(t *testing.T, s *signed, payload []byte) {
	t.Helper()
	d := sha256.Sum256(payload)
	replaceSigned(t, s, oid.AttributeMessageDigest, d[:])
}

func setSigningTime(t *testing.T, s *signed, at time.Time) {
	t.Helper()
	replaceSigned(t, s, oid.AttributeSigningTime, at.UTC())
}

func replaceSigned(t *testing.T, s *signed, typ asn1.ObjectIdentifier, val any) {
	t.Helper()
	attr, err := protocol.NewAttribute(typ, val)
	if err != nil {
		t.Fatal(err)
	}
	si := s.signerInfo()
	for i, a := range si.SignedAttrs {
		if a.Type.Equal(typ) {
			si.SignedAttrs[i] = attr
			return
		}
	}
	t.Fatalf("no signed attribute %v", typ)
}

// addLegacyAttrs adds unsigned attributes in the January 2023 gitsign layout, where 3.1 is the
// integrated time as an INTEGER and the rest of the entry is spread over 3.2–3.9.
func addLegacyAttrs(t *testing.T, s *signed) {
	t.Helper()
	s.setUnsigned(t, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 3, 1}, s.leaf.NotBefore.Unix())
	s.setUnsigned(t, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 3, 3}, 11117788)
	s.setUnsigned(t, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 3, 4}, []byte{0x30, 0x00})
}

// smimesign's BER normaliser indexes past the end of truncated input; decode must turn that
// into ErrMalformed.
func TestDecodeTruncatedBER(t *testing.T) {
	for _, der := range []string{"\x30\x80", "\x30\x82\x01", "\x1f", "\x3f\x81", "\x30\x80\x04\x01"} {
		armored := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: []byte(der)})
		if _, err := decode(armored); !errors.Is(err, signature.ErrMalformed) {
			t.Errorf("decode(%q) = %v, want ErrMalformed", der, err)
		}
	}
}

// A CMS with indefinite lengths (BER, as some CMS tools write) still verifies, through the
// locked BER path.
func TestVerifyBEREncoded(t *testing.T) {
	vs := newVirtualSigstore(t)
	s := sign(t, vs, testPayload)
	der, err := s.sd.ContentInfoDER()
	if err != nil {
		t.Fatal(err)
	}
	var outer asn1.RawValue
	if _, err := asn1.Unmarshal(der, &outer); err != nil {
		t.Fatal(err)
	}
	ber := append(append([]byte{0x30, 0x80}, outer.Bytes...), 0, 0)
	armored := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: ber})
	if _, err := testVerifier(t, vs).Verify(testPayload, armored, time.Time{}); err != nil {
		t.Fatalf("Verify(BER) = %v", err)
	}
}
