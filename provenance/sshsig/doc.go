// Package sshsig verifies SSH signatures on Git commits and tags (git's gpg.format=ssh) against a
// git allowed_signers file (gpg.ssh.allowedSignersFile), the way `git verify-commit` and
// `ssh-keygen -Y verify` do, but offline and without running ssh-keygen.
//
// Compile parses the allowed_signers file once and reports the first bad line by number; the
// returned Verifier checks one armored signature at a time:
//
//	v, err := sshsig.Compile(allowedSigners)
//	signer, err := v.Verify(payload, armoredSig, committerTime)
//
// The SSHSIG decoding and the signature check are github.com/hiddeco/sshsig; keys and certificates
// are golang.org/x/crypto/ssh. This package adds the allowed_signers policy, as described in the
// ALLOWED SIGNERS section of ssh-keygen(1):
//
//   - principals are a comma-separated list of patterns with `*` and `?` wildcards and `!`
//     negation, optionally in double quotes (`"Lorenz Leutgeb"`);
//   - namespaces="..." is a pattern list too; a line whose list does not match "git" authorises no
//     Git signature;
//   - valid-after="..." and valid-before="..." take YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, with
//     an optional Z or UTC suffix. ssh-keygen reads a time without a suffix as local time; Writ
//     always reads it as UTC, so verdicts do not depend on the verifying machine's time zone;
//   - cert-authority makes the key a CA: a signature made with a user certificate that this CA
//     signed is accepted if the certificate is valid at the signing time and one of its principals
//     matches the line's patterns.
//
// Several lines may list the same key; a signature verifies if any line authorises it. (git asks
// ssh-keygen for the principals of the first line whose key and validity window match, ignoring
// namespaces, and then verifies only those, so a first line restricted to namespaces="file" hides
// a later line that allows git. Writ does not copy that accident.)
//
// Time: an SSH signature carries no signing time, so the caller passes the committer (or tagger)
// time, as git does with ssh-keygen's verify-time option. Verify never reads the clock, so a key
// whose valid-before has passed still verifies the commits it signed while it was valid.
//
// Identity: an SSH signature names no principal; git finds it by key
// (`ssh-keygen -Y find-principals`). For a plain key, Signer.Identity is the first non-negated
// principal pattern of the line that authorised the signature, exactly as written: "cloudhead",
// "Lorenz Leutgeb" or "*@aminda.eu" for a line "*@aminda.eu,*@mikaela.info ...". For a
// certificate, it is the first of the certificate's principals that the line's patterns match,
// e.g. "alice". Signer.Fingerprint is always the SHA256 fingerprint of the key that made the
// signature (for a certificate, of the certified key, not of the CA).
//
// Differences from ssh-keygen, all stricter:
//   - a malformed line fails Compile, where ssh-keygen fails only when it reaches that line;
//   - a line with no positive principal pattern, or listing a certificate instead of a key, is
//     rejected by Compile;
//   - RSA signatures must use rsa-sha2-256 or rsa-sha2-512, for certificates too;
//   - a certificate with critical options other than force-command and source-address is
//     rejected as unsupported;
//   - the armor must be the whole signature: no text before or after it, no PEM headers.
//
// Every Verify error wraps one of the sentinel errors of writ.dev/writ/provenance/signature, so
// callers can test it with errors.Is. Errors never contain key material beyond public
// fingerprints.
package sshsig
