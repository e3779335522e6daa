package provenance

import (
	"writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/provenance/sigstore"
)

// DefaultRekorURL is the Rekor instance used for online look-ups when the policy names none.
const DefaultRekorURL = "https://rekor.sigstore.dev"

// compileKeyless maps a policy's keyless section onto the sigstore verifier, applying the
// policy's safe defaults: a transparency-log entry and an SCT are required unless the policy says
// otherwise.
func compileKeyless(k *v1alpha1.KeylessTrust) (formatVerifier, error) {
	o := sigstore.Options{
		RequireTransparencyLog:            k.TransparencyLog.Required == nil || *k.TransparencyLog.Required,
		RequireSCT:                        k.RequireSCT == nil || *k.RequireSCT,
		InsecureSkipTransparencyLogUnsafe: k.TransparencyLog.InsecureSkipVerificationUnsafe,
	}
	if k.TrustedRoot != "" {
		o.TrustedRoot = []byte(k.TrustedRoot)
	}
	if k.TransparencyLog.Online {
		o.OnlineRekorURL = k.TransparencyLog.URL
		if o.OnlineRekorURL == "" {
			o.OnlineRekorURL = DefaultRekorURL
		}
	}
	for _, id := range k.Identities {
		o.Identities = append(o.Identities, sigstore.Identity{Issuer: id.Issuer, IssuerRegExp: id.IssuerRegExp, Subject: id.Subject, SubjectRegExp: id.SubjectRegExp})
	}
	v, err := sigstore.Compile(o)
	if err != nil {
		return nil, err
	}
	return v, nil
}
