package sshsig_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"writ.dev/writ/provenance/signature"
	"writ.dev/writ/provenance/sshsig"
)

// Verify a real commit of radicle-dev/heartwood, at its committer time, against the
// allowed_signers file from the same repository.
func ExampleVerifier_Verify() {
	allowed, _ := os.ReadFile("testdata/heartwood_allowed_signers")
	payload, _ := os.ReadFile("testdata/heartwood-3b5fac17.payload")
	sig, _ := os.ReadFile("testdata/heartwood-3b5fac17.sig")

	v, err := sshsig.Compile(allowed)
	if err != nil {
		fmt.Println(err)
		return
	}
	committed := time.Date(2025, 1, 28, 13, 5, 45, 0, time.UTC)
	signer, err := v.Verify(payload, sig, committed)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(signer.Identity, signer.Fingerprint)

	// The same signature over a changed payload.
	payload[len(payload)-2] ^= 1
	_, err = v.Verify(payload, sig, committed)
	fmt.Println(errors.Is(err, signature.ErrBadSignature))
	// Output:
	// cloudhead SHA256:iTDjRHSIaoL8dpHbQ0mv+y0IQqPufGl2hQwk4TbXFlw
	// true
}

// Compile reports the first bad line of an allowed_signers file.
func ExampleCompile() {
	_, err := sshsig.Compile([]byte(`# release signers
alice@example.com valid-after="2024-01-01" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL460KIEccS4881p7PPpiiQBsxF+H5tgC6De6crw9rbU
`))
	fmt.Println(err)
	// Output:
	// allowed_signers line 2: valid-after="2024-01-01" is not a time; use YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, optionally followed by Z
}
