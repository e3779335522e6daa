package sigstore

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"writ.dev/writ/provenance/signature"
)

// certWindowOffset is how far into a certificate's validity the chain is checked when no trusted
// time exists, as gitsign does: Fulcio's own clock says the certificate was live then.
const certWindowOffset = time.Minute

// Verify checks that armoredSig, a gitsign signature, signs payload (the commit or tag without
// its signature header) and was made by a certificate from a trusted Fulcio CA for one of the
// trusted identities, at a trusted time.
//
// The signing time is the integrated time of a verified Rekor entry, else an RFC 3161 timestamp
// from a trusted authority. Without either (allowed only when no log entry is required) the chain
// is checked at the certificate's notBefore plus one minute and the Signer says TimeSource
// "signature". committed, the committer time, is never trusted: the signer's clock wrote it, and
// gitsign writes it before the certificate exists. Neither is the CMS signingTime attribute.
//
// Every error wraps one of the signature package's sentinels.
func (v *Verifier) Verify(payload, armoredSig []byte, committed time.Time) (signature.Signer, error) {
	env, err := decode(armoredSig)
	if err != nil {
		return signature.Signer{}, err
	}
	if err := env.checkSignature(payload); err != nil {
		return signature.Signer{}, err
	}

	// Before any time is trusted: does a trusted CA vouch for this certificate at all? This keeps
	// a foreign certificate an untrusted chain whatever its log entry says.
	windowTime := certWindowTime(env)
	chains, err := v.chainAt(env, windowTime, "certificate's own validity window")
	if err != nil {
		return signature.Signer{}, err
	}
	summary, err := v.matchIdentity(env)
	if err != nil {
		return signature.Signer{}, err
	}

	ent, err := newEntity(env)
	if err != nil {
		return signature.Signer{}, err
	}
	when, err := v.trustedTimes(env, ent)
	if err != nil {
		return signature.Signer{}, err
	}
	if len(when.times) == 0 {
		when.primary, when.source = windowTime, signature.TimeSignature
	}
	for _, t := range when.times {
		if chains, err = v.chainAt(env, t.at, string(t.source)); err != nil {
			return signature.Signer{}, err
		}
	}
	if v.requireSCT {
		if !hasSCT(env.leaf) {
			return signature.Signer{}, fmt.Errorf("%w: the certificate carries no signed certificate timestamp (Fulcio certificates before mid-2022 had none); unset requireSCT to accept it", signature.ErrUntrustedChain)
		}
		if err := verify.VerifySignedCertificateTimestamp(chains, 1, v.trust); err != nil {
			return signature.Signer{}, fmt.Errorf("%w: no signed certificate timestamp in the certificate verifies against the trusted root's CT logs: %v", signature.ErrUntrustedChain, err)
		}
	}

	fp := sha256.Sum256(env.leaf.Raw)
	return signature.Signer{
		Method:      signature.Keyless,
		Fingerprint: hex.EncodeToString(fp[:]),
		Identity:    summary.SubjectAlternativeName,
		Issuer:      summary.Extensions.Issuer,
		SigningTime: when.primary.UTC(),
		TimeSource:  when.source,
		LogIndex:    when.logIndex,
	}, nil
}

// oidSCTList is the X.509 extension carrying embedded SCTs (RFC 6962 section 3.3).
var oidSCTList = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}

func hasSCT(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidSCTList) {
			return true
		}
	}
	return false
}

// certWindowTime is the time inside the certificate's validity the chain is checked at when
// nothing better is trusted: notBefore plus a minute, or the middle of a shorter window.
func certWindowTime(env *envelope) time.Time {
	nb, na := env.leaf.NotBefore, env.leaf.NotAfter
	if na.Sub(nb) < 2*certWindowOffset {
		return nb.Add(na.Sub(nb) / 2)
	}
	return nb.Add(certWindowOffset)
}

// chainAt checks the leaf is valid at t and chains to a Fulcio CA of the trusted root valid at t.
// from names where t comes from, for messages.
func (v *Verifier) chainAt(env *envelope, t time.Time, from string) ([][]*x509.Certificate, error) {
	leaf := env.leaf
	if t.Before(leaf.NotBefore) || t.After(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: certificate valid from %s to %s, not at the signing time %s (from the %s)",
			signature.ErrExpired, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339), from)
	}
	chains, err := verify.VerifyLeafCertificate(t, leaf, v.trust)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate (issuer %q) does not chain to a Fulcio CA of the trusted root at %s (from the %s): %v",
			signature.ErrUntrustedChain, leaf.Issuer.String(), t.UTC().Format(time.RFC3339), from, err)
	}
	return chains, nil
}

// matchIdentity checks the certificate's SAN and OIDC issuer against the trusted identities.
func (v *Verifier) matchIdentity(env *envelope) (certificate.Summary, error) {
	summary, err := certificate.SummarizeCertificate(env.leaf)
	if err != nil {
		return summary, fmt.Errorf("%w: certificate identity: %v", signature.ErrIdentityMismatch, err)
	}
	if summary.Extensions.Issuer == "" {
		return summary, fmt.Errorf("%w: certificate for %q names no OIDC issuer (Fulcio extension 1.3.6.1.4.1.57264.1.8 or 1.1)", signature.ErrIdentityMismatch, summary.SubjectAlternativeName)
	}
	if _, err := v.identities.Verify(summary); err != nil {
		return summary, fmt.Errorf("%w: certificate for %q issued by %q matches no trusted identity: %v",
			signature.ErrIdentityMismatch, summary.SubjectAlternativeName, summary.Extensions.Issuer, err)
	}
	return summary, nil
}

// timing is what the transparency log and timestamp authorities vouch for.
type timing struct {
	times    []trustedTime // the chain must hold at each
	primary  time.Time     // the time reported, from the strongest source
	source   signature.TimeSource
	logIndex *int64
}

type trustedTime struct {
	at     time.Time
	source signature.TimeSource
}

// trustedTimes verifies the signature's log entry (embedded, else online) and RFC 3161
// timestamps, and returns the times they vouch for.
func (v *Verifier) trustedTimes(env *envelope, ent *entity) (timing, error) {
	var out timing
	if !v.skipTlog {
		entry, err := v.logEntry(env, ent)
		if err != nil {
			return out, err
		}
		if entry != nil {
			idx := entry.LogIndex()
			out.logIndex = &idx
			if entry.integrated != nil {
				out.times = append(out.times, trustedTime{*entry.integrated, signature.TimeTransparencyLog})
				out.primary, out.source = *entry.integrated, signature.TimeTransparencyLog
			}
		}
	}
	if len(ent.timestamps) > 0 {
		ts, err := verify.VerifySignedTimestampWithThreshold(ent, v.trust, len(ent.timestamps))
		if err != nil {
			return out, fmt.Errorf("%w: RFC 3161 timestamp in the signature is not from a trusted timestamp authority: %v", signature.ErrUntrustedChain, err)
		}
		for _, t := range ts {
			out.times = append(out.times, trustedTime{t.Time, signature.TimeTimestampAuthority})
		}
		if out.source == "" {
			out.primary, out.source = ts[0].Time, signature.TimeTimestampAuthority
		}
	}
	return out, nil
}

// verifiedEntry is a log entry that verified, with the integrated time its signed entry
// timestamp vouches for (nil when only an inclusion proof verified).
type verifiedEntry struct {
	*tlog.Entry
	integrated *time.Time
}

// logEntry finds and verifies the signature's Rekor entry. It returns nil, nil when there is none
// and none is required.
func (v *Verifier) logEntry(env *envelope, ent *entity) (*verifiedEntry, error) {
	switch {
	case env.entry != nil:
		entry, err := embeddedEntry(env)
		if err != nil {
			return nil, err
		}
		t, err := v.verifyEntry(ent, entry)
		if err != nil {
			return nil, err
		}
		return &verifiedEntry{entry, t}, nil
	case v.online != nil:
		return v.onlineEntry(env, ent)
	case env.legacyEntry && v.requireTlog:
		return nil, fmt.Errorf("%w: the signature embeds its transparency-log entry in the January 2023 gitsign layout (attributes 1.3.6.1.4.1.57264.3.0-3.9), which is not supported; set onlineRekorURL to look the entry up in Rekor", signature.ErrUnsupported)
	case v.requireTlog:
		return nil, fmt.Errorf("%w: the signature embeds no transparency-log entry (older gitsign, or its online mode) and online look-up is off; set onlineRekorURL, or re-sign with a current gitsign", signature.ErrTransparencyLog)
	}
	return nil, nil
}

// onlineEntry looks the signature up in Rekor and returns the first entry that verifies.
func (v *Verifier) onlineEntry(env *envelope, ent *entity) (*verifiedEntry, error) {
	ctx := context.Background()
	candidates, err := v.online.find(ctx, env.attrsDigest())
	if err != nil {
		if !v.requireTlog {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %v", signature.ErrTransparencyLog, err)
	}
	// An entry found online is optional evidence when no entry is required: one that fails
	// (another log shard, a key the root lacks) then leaves the signature without a log time.
	var errs []error
	for _, tle := range candidates {
		entry, err := parseEntry(tle)
		if err == nil {
			var t *time.Time
			if t, err = v.verifyEntry(ent, entry); err == nil {
				return &verifiedEntry{entry, t}, nil
			}
		}
		errs = append(errs, err)
	}
	if !v.requireTlog {
		return nil, nil
	}
	if len(candidates) == 0 {
		return nil, fmt.Errorf("%w: Rekor holds no entry for this signature (looked up online)", signature.ErrTransparencyLog)
	}
	return nil, fmt.Errorf("%w: no entry Rekor returned for this signature verifies: %v", signature.ErrTransparencyLog, errors.Join(errs...))
}
