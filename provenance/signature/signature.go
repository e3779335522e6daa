package signature

import (
	"bytes"
	"errors"
	"time"
)

// Method is a signature format.
type Method string

// The signature formats Writ verifies.
const (
	OpenPGP Method = "openpgp"
	SSH     Method = "ssh"
	Keyless Method = "keyless" // Sigstore / gitsign x509 CMS
)

// Armor headers that identify each format in a commit's gpgsig header or at the end of a tag.
var armorHeaders = map[Method][]string{
	OpenPGP: {"-----BEGIN PGP SIGNATURE-----"},
	SSH:     {"-----BEGIN SSH SIGNATURE-----"},
	Keyless: {"-----BEGIN SIGNED MESSAGE-----"},
}

// Detect returns the format of an armored signature, or "" if it is none Writ knows.
func Detect(sig []byte) Method {
	sig = bytes.TrimLeft(sig, " \t\r\n")
	for m, hs := range armorHeaders {
		for _, h := range hs {
			if bytes.HasPrefix(sig, []byte(h)) {
				return m
			}
		}
	}
	return ""
}

// TimeSource says where a Signer's SigningTime comes from, strongest first.
type TimeSource string

const (
	// TimeTransparencyLog is the integrated time of a verified transparency-log entry.
	TimeTransparencyLog TimeSource = "transparency-log"
	// TimeTimestampAuthority is an RFC 3161 timestamp from a trusted authority.
	TimeTimestampAuthority TimeSource = "timestamp-authority"
	// TimeSignature is the creation time inside the signature (the signer's clock).
	TimeSignature TimeSource = "signature"
	// TimeCommitter is the committer or tagger time of the signed object (the signer's clock), as
	// git uses for SSH signatures.
	TimeCommitter TimeSource = "committer"
)

// Signer is who made a verified signature.
type Signer struct {
	Method Method `json:"method"`
	// Fingerprint identifies the key: an OpenPGP fingerprint in upper-case hex, an SSH key's
	// SHA256:… fingerprint, or the SHA-256 of a keyless certificate in hex.
	Fingerprint string `json:"fingerprint,omitempty"`
	// KeyID is the OpenPGP key id that made the signature (a subkey's, when one did).
	KeyID string `json:"keyID,omitempty"`
	// SubkeyFingerprint is the fingerprint of the OpenPGP subkey that made the signature, when a
	// subkey did (Fingerprint is then its primary key's). KeyID, Fingerprint and
	// SubkeyFingerprint always describe the one key that verified the signature.
	SubkeyFingerprint string `json:"subkeyFingerprint,omitempty"`
	// Identity is the user id (OpenPGP), the matching principal (SSH), or the certificate's
	// subject alternative name (keyless).
	Identity string `json:"identity,omitempty"`
	// Issuer is the OIDC issuer of a keyless certificate.
	Issuer string `json:"issuer,omitempty"`
	// SigningTime is when the signature was made, judged from TimeSource.
	SigningTime time.Time  `json:"signingTime,omitzero"`
	TimeSource  TimeSource `json:"timeSource,omitempty"`
	// LogIndex is the transparency-log index of a keyless signature's entry, when verified.
	LogIndex *int64 `json:"logIndex,omitempty"`
}

// ID is the one way Writ names a signer in status, audit records, reports and `writ verify`
// output: the method, then the key, then who holds it, never run together:
//
//	ssh:SHA256:v/FvuR4… (alice@example.com)
//	openpgp:4F1C…9A2B (Alice <alice@example.com>)
//	keyless:alice@example.com (https://accounts.google.com)
//
// A key's signer is its fingerprint, with its identity (the allowed_signers principal, the user
// id) in parentheses when known; a keyless signer, whose certificate changes each time, is its
// identity with the OIDC issuer that vouched for it in parentheses. Fingerprints and issuers hold
// no space, so the form reads back unambiguously. To tell keys apart (two-person rules), use Key.
func (s Signer) ID() string {
	name, who := s.Key(), s.Identity
	if s.Method == Keyless {
		name, who = string(Keyless)+":"+s.Identity, s.Issuer
	}
	if who == "" {
		return name
	}
	return name + " (" + who + ")"
}

// Key names what made the signature, for telling signers apart: the key's method and fingerprint,
// or for a keyless signature its issuer and identity (its certificates change each time). Unlike
// ID, it ignores which identity a key was matched under, so one key never counts as two signers.
func (s Signer) Key() string {
	if s.Method == Keyless {
		return string(Keyless) + ":" + s.Issuer + "|" + s.Identity
	}
	return string(s.Method) + ":" + s.Fingerprint
}

// Sentinel errors. A format verifier wraps one of these in every error it returns, with details.
var (
	// ErrUnsigned: the object carries no signature.
	ErrUnsigned = errors.New("unsigned")
	// ErrMalformed: the signature or the signed object cannot be parsed.
	ErrMalformed = errors.New("malformed signature")
	// ErrUnsupported: a signature format, algorithm or option Writ does not accept.
	ErrUnsupported = errors.New("unsupported signature")
	// ErrUnknownKey: the signature was made by a key the policy does not trust.
	ErrUnknownKey = errors.New("unknown key")
	// ErrBadSignature: the signature does not verify over the payload.
	ErrBadSignature = errors.New("bad signature")
	// ErrWrongNamespace: an SSH signature made for another namespace than "git".
	ErrWrongNamespace = errors.New("wrong signature namespace")
	// ErrIdentityMismatch: a keyless certificate's identity or issuer matches no trusted identity.
	ErrIdentityMismatch = errors.New("identity mismatch")
	// ErrUntrustedChain: a certificate does not chain to a trusted root at signing time.
	ErrUntrustedChain = errors.New("untrusted certificate chain")
	// ErrExpired: the key or certificate was not valid at signing time.
	ErrExpired = errors.New("key not valid at signing time")
	// ErrRevoked: the key or identity was revoked before the signing time.
	ErrRevoked = errors.New("revoked")
	// ErrTransparencyLog: a required transparency-log entry is missing or does not verify.
	ErrTransparencyLog = errors.New("transparency log verification failed")
)
