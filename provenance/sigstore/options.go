package sigstore

import (
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// publicGoodRoot is the Sigstore public-good trusted root (sigstore/root-signing
// targets/trusted_root.json, TUF targets v14, sha256 6494e21e…). It is used when
// Options.TrustedRoot and Options.TrustedMaterial are both unset.
//
//go:embed trusted_root.json
var publicGoodRoot []byte

// parsePublicGoodRoot parses the embedded root once per process.
var parsePublicGoodRoot = sync.OnceValues(func() (*root.TrustedRoot, error) {
	return root.NewTrustedRootFromJSON(publicGoodRoot)
})

// Identity is a certificate identity a signature may carry, as cosign and gitsign name them.
// Exactly one of Issuer and IssuerRegExp, and exactly one of Subject and SubjectRegExp, must be
// set. Regular expressions (RE2 syntax) must match the whole value: Compile anchors them, so
// "alice@example\.com" does not match "alice@example.com.evil.example".
type Identity struct {
	// Issuer is the OIDC issuer in the certificate (Fulcio extension 1.3.6.1.4.1.57264.1.8, or the
	// older 1.1), e.g. "https://accounts.google.com".
	Issuer       string
	IssuerRegExp string
	// Subject is the certificate's subject alternative name: an e-mail address or a URI (GitHub
	// Actions workflow identities).
	Subject       string
	SubjectRegExp string
}

// Options configures a Verifier. The zero value is not the policy's default: a TrustPolicy's
// keyless section defaults RequireTransparencyLog and RequireSCT to true, and its caller must
// map them here.
type Options struct {
	// TrustedRoot is a Sigstore trusted_root.json. Nil means the public-good root embedded in
	// this package.
	TrustedRoot []byte
	// TrustedMaterial replaces TrustedRoot with already-built trust material, for tests (an
	// in-memory VirtualSigstore) and private deployments that assemble their own. Set at most
	// one of TrustedRoot and TrustedMaterial.
	TrustedMaterial root.TrustedMaterial
	// Identities are the accepted certificate identities; a signature must match one.
	Identities []Identity
	// RequireTransparencyLog requires a verified Rekor entry (signed entry timestamp and/or
	// inclusion proof against the root's Rekor keys) for every signature, embedded in it or, when
	// OnlineRekorURL is set, looked up online.
	RequireTransparencyLog bool
	// OnlineRekorURL is a Rekor v1 server (e.g. https://rekor.sigstore.dev) queried for
	// signatures that embed no entry, as gitsign does. Empty keeps verification offline.
	OnlineRekorURL string
	// OnlineTimeout bounds each online look-up. Zero means 10 seconds.
	OnlineTimeout time.Duration
	// RequireSCT requires a signed certificate timestamp from one of the root's CT logs in the
	// leaf certificate. Private Sigstores without a CT log (and VirtualSigstore) set it false.
	RequireSCT bool
	// InsecureSkipTransparencyLogUnsafe turns every transparency-log check off, including
	// RequireTransparencyLog and online look-ups. Signing times then come from the certificate's
	// validity window (TimeSource "signature"), which a signer can influence. Never set it in
	// production.
	InsecureSkipTransparencyLogUnsafe bool
}

// Verifier verifies gitsign signatures under compiled Options. It is safe for concurrent use.
type Verifier struct {
	trust       root.TrustedMaterial
	identities  verify.CertificateIdentities
	requireTlog bool
	requireSCT  bool
	skipTlog    bool
	online      entryFinder // nil when offline
}

// Compile validates o and returns a Verifier. Errors name the offending field.
func Compile(o Options) (*Verifier, error) {
	v := &Verifier{
		requireTlog: o.RequireTransparencyLog && !o.InsecureSkipTransparencyLogUnsafe,
		requireSCT:  o.RequireSCT,
		skipTlog:    o.InsecureSkipTransparencyLogUnsafe,
	}
	ids, err := compileIdentities(o.Identities)
	if err != nil {
		return nil, err
	}
	v.identities = ids

	switch {
	case o.TrustedRoot != nil && o.TrustedMaterial != nil:
		return nil, errors.New("trustedRoot and trustedMaterial are both set: set at most one")
	case o.TrustedMaterial != nil:
		v.trust = o.TrustedMaterial
	case o.TrustedRoot != nil:
		tr, err := root.NewTrustedRootFromJSON(o.TrustedRoot)
		if err != nil {
			return nil, fmt.Errorf("trustedRoot: not a Sigstore trusted_root.json (%v); use the file from sigstore/root-signing or your private Sigstore", err)
		}
		v.trust = tr
	default:
		tr, err := parsePublicGoodRoot()
		if err != nil {
			return nil, fmt.Errorf("embedded public-good trusted root does not parse: %w", err)
		}
		v.trust = tr
	}
	if len(v.trust.FulcioCertificateAuthorities()) == 0 {
		return nil, errors.New("trustedRoot: holds no Fulcio certificate authority; add the CA that issues your signing certificates")
	}
	if v.requireTlog && len(v.trust.RekorLogs()) == 0 {
		return nil, errors.New("trustedRoot: holds no Rekor log key, so no transparency-log entry can verify; add the Rekor key or unset requireTransparencyLog")
	}
	if v.requireSCT && len(v.trust.CTLogs()) == 0 {
		return nil, errors.New("trustedRoot: holds no CT log key, so no SCT can verify; add the CT log key or unset requireSCT")
	}

	if o.OnlineRekorURL != "" && !v.skipTlog {
		u, err := url.Parse(o.OnlineRekorURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("onlineRekorURL: %q is not an http(s) URL; use e.g. https://rekor.sigstore.dev", o.OnlineRekorURL)
		}
		timeout := o.OnlineTimeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		v.online = &rekorClient{base: u, http: &http.Client{Timeout: timeout}}
	}
	return v, nil
}

// compileIdentities turns the policy identities into sigstore-go matchers.
func compileIdentities(ids []Identity) (verify.CertificateIdentities, error) {
	if len(ids) == 0 {
		return nil, errors.New("identities: empty; add at least one issuer and subject (or their regexps) to trust")
	}
	out := make(verify.CertificateIdentities, 0, len(ids))
	for i, id := range ids {
		issuer, issuerRE, err := exactlyOne(i, "issuer", id.Issuer, id.IssuerRegExp)
		if err != nil {
			return nil, err
		}
		subject, subjectRE, err := exactlyOne(i, "subject", id.Subject, id.SubjectRegExp)
		if err != nil {
			return nil, err
		}
		ci, err := verify.NewShortCertificateIdentity(issuer, issuerRE, subject, subjectRE)
		if err != nil {
			return nil, fmt.Errorf("identities[%d]: %v", i, err)
		}
		out = append(out, ci)
	}
	return out, nil
}

// exactlyOne checks that exactly one of value and regExp is set and returns the value and the
// anchored, compiled-checked expression.
func exactlyOne(i int, field, value, regExp string) (string, string, error) {
	switch {
	case value == "" && regExp == "":
		return "", "", fmt.Errorf("identities[%d]: set one of %s and %sRegExp", i, field, field)
	case value != "" && regExp != "":
		return "", "", fmt.Errorf("identities[%d]: %s and %sRegExp are both set; set exactly one", i, field, field)
	case value != "":
		return value, "", nil
	}
	anchored := "^(?:" + regExp + ")$"
	if _, err := regexp.Compile(anchored); err != nil {
		return "", "", fmt.Errorf("identities[%d].%sRegExp: not a valid RE2 regular expression: %v", i, field, err)
	}
	return "", anchored, nil
}
