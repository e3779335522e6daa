package sigstore

import (
	"strings"
	"testing"
)

func TestCompileErrors(t *testing.T) {
	ok := []Identity{{Issuer: testIssuer, Subject: testSubject}}
	for name, c := range map[string]struct {
		o    Options
		want string // substring naming the field
	}{
		"no identities":       {Options{}, "identities: empty"},
		"no issuer":           {Options{Identities: []Identity{{Subject: "a@b.c"}}}, "identities[0]: set one of issuer and issuerRegExp"},
		"two issuers":         {Options{Identities: []Identity{{Issuer: "x", IssuerRegExp: "x", Subject: "a"}}}, "identities[0]: issuer and issuerRegExp are both set"},
		"no subject":          {Options{Identities: []Identity{ok[0], {Issuer: "x"}}}, "identities[1]: set one of subject and subjectRegExp"},
		"two subjects":        {Options{Identities: []Identity{{Issuer: "x", Subject: "a", SubjectRegExp: "a"}}}, "identities[0]: subject and subjectRegExp are both set"},
		"bad subject regexp":  {Options{Identities: []Identity{{Issuer: "x", SubjectRegExp: "(a"}}}, "identities[0].subjectRegExp: not a valid RE2"},
		"bad issuer regexp":   {Options{Identities: []Identity{{IssuerRegExp: "[", Subject: "a"}}}, "identities[0].issuerRegExp: not a valid RE2"},
		"root not JSON":       {Options{Identities: ok, TrustedRoot: []byte("{")}, "trustedRoot: not a Sigstore trusted_root.json"},
		"root without Fulcio": {Options{Identities: ok, TrustedRoot: []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`)}, "trustedRoot: holds no Fulcio"},
		"root and material":   {Options{Identities: ok, TrustedRoot: publicGoodRoot, TrustedMaterial: newVirtualSigstore(t)}, "trustedRoot and trustedMaterial are both set"},
		"rekor URL not http":  {Options{Identities: ok, OnlineRekorURL: "rekor.sigstore.dev"}, "onlineRekorURL:"},
		"rekor URL ftp":       {Options{Identities: ok, OnlineRekorURL: "ftp://rekor.sigstore.dev"}, "onlineRekorURL:"},
	} {
		_, err := Compile(c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Compile = %v, want an error containing %q", name, err, c.want)
		}
	}
}

func TestCompileDefaults(t *testing.T) {
	v, err := Compile(Options{
		Identities:             []Identity{{IssuerRegExp: `https://accounts\.google\.com`, SubjectRegExp: `.+@example\.com`}},
		RequireTransparencyLog: true,
		RequireSCT:             true,
		OnlineRekorURL:         "https://rekor.sigstore.dev",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.trust.FulcioCertificateAuthorities()) == 0 || len(v.trust.RekorLogs()) == 0 || v.online == nil {
		t.Errorf("public-good root not loaded or online client missing: %+v", v)
	}
	// The unsafe skip overrides a required log and online look-ups.
	v, err = Compile(Options{Identities: []Identity{{Issuer: "x", Subject: "y"}}, RequireTransparencyLog: true,
		OnlineRekorURL: "https://rekor.sigstore.dev", InsecureSkipTransparencyLogUnsafe: true})
	if err != nil || v.requireTlog || v.online != nil {
		t.Errorf("unsafe skip: %+v, %v; want no log required and no online client", v, err)
	}
}
