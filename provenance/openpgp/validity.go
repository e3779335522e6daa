package openpgp

import (
	"fmt"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"writ.dev/writ/provenance/signature"
)

// validAt checks that key (a primary key or a subkey) was valid when sig was made, judged from
// the key's current self-signatures: the newest user-id self-signature of the primary key and the
// newest binding signature of a subkey, whenever they were made. That is how gpg reads a key, so
// a key whose expiry was extended later still verifies what it signed before the extension, and a
// key whose expiry was shortened later no longer verifies what it signed after the new expiry.
//
// Unlike gpg (and so git), which judge expiry at the time of verification, the expiry is compared
// with the signature's creation time: a key that has expired since still verifies what it signed
// while it was valid. A revocation by the key's owner holds from its own creation time when its
// reason says the key was superseded or retired, and for every signature otherwise (no reason,
// "compromised", or any other), as RFC 9580 §5.2.3.31 prescribes for hard revocations.
func validAt(key openpgp.Key, sig *packet.Signature, now time.Time) error {
	at := sig.CreationTime
	when := at.UTC().Format(time.RFC3339)
	e := key.Entity
	primarySelf, _ := e.PrimarySelfSignature()
	if primarySelf == nil {
		return fmt.Errorf("%w: OpenPGP key %s has no valid self-signature", signature.ErrMalformed, fingerprint(e.PrimaryKey.Fingerprint))
	}
	keys := []keyState{{e.PrimaryKey, primarySelf, e.Revocations, "key"}}
	if key.PublicKey != e.PrimaryKey {
		keys = append(keys, keyState{key.PublicKey, key.SelfSignature, key.Revocations, "subkey"})
	}
	for _, k := range keys {
		name := fmt.Sprintf("OpenPGP %s %s", k.what, fingerprint(k.pk.Fingerprint))
		if k.pk.CreationTime.After(at) {
			return fmt.Errorf("%w: signature dated %s predates %s (created %s)", signature.ErrExpired, when, name, k.pk.CreationTime.UTC().Format(time.RFC3339))
		}
		if rev := revokedAt(k.revs, at); rev != nil {
			return fmt.Errorf("%w: %s was revoked by its owner on %s (%s), and the signature is dated %s", signature.ErrRevoked, name,
				rev.CreationTime.UTC().Format(time.RFC3339), revocationReason(rev), when)
		}
		if k.self.KeyLifetimeSecs != nil && *k.self.KeyLifetimeSecs != 0 {
			expiry := k.pk.CreationTime.Add(time.Duration(*k.self.KeyLifetimeSecs) * time.Second)
			if at.After(expiry) {
				return fmt.Errorf("%w: %s expired on %s (per its current self-signature) and the signature is dated %s",
					signature.ErrExpired, name, expiry.UTC().Format(time.RFC3339), when)
			}
		}
	}
	// A signature's own expiry is the signer's instruction not to trust it after that time, so it
	// is judged now, as gpg does.
	if sig.SigLifetimeSecs != nil && *sig.SigLifetimeSecs != 0 {
		expiry := at.Add(time.Duration(*sig.SigLifetimeSecs) * time.Second)
		if now.After(expiry) {
			return fmt.Errorf("%w: the OpenPGP signature dated %s expired on %s (its signer set an expiry); re-sign",
				signature.ErrExpired, when, expiry.UTC().Format(time.RFC3339))
		}
	}
	for _, n := range sig.Notations {
		if n.IsCritical {
			return fmt.Errorf("%w: OpenPGP signature carries the critical notation %q, which Writ does not understand", signature.ErrUnsupported, n.Name)
		}
	}
	return nil
}

// keyState is a primary key or subkey with its current self-signature and its revocations.
type keyState struct {
	pk   *packet.PublicKey
	self *packet.Signature
	revs []*packet.Signature
	what string // "key" or "subkey"
}

// revokedAt returns the owner's revocation that applies to a signature made at at, or nil.
func revokedAt(revs []*packet.Signature, at time.Time) *packet.Signature {
	for _, r := range revs {
		soft := r.RevocationReason != nil && (*r.RevocationReason == packet.KeySuperseded || *r.RevocationReason == packet.KeyRetired)
		if !soft || !r.CreationTime.After(at) {
			return r
		}
	}
	return nil
}

func revocationReason(r *packet.Signature) string {
	reason := "no reason given"
	if r.RevocationReason != nil {
		switch *r.RevocationReason {
		case packet.KeySuperseded:
			reason = "superseded"
		case packet.KeyCompromised:
			reason = "compromised"
		case packet.KeyRetired:
			reason = "retired"
		default:
			reason = fmt.Sprintf("reason %d", *r.RevocationReason)
		}
	}
	if r.RevocationReasonText != "" {
		reason += ": " + r.RevocationReasonText
	}
	return reason
}
