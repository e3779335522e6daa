// Package sigstore verifies Sigstore keyless signatures on Git commits and tags, as gitsign makes
// them: an armored "-----BEGIN SIGNED MESSAGE-----" block holding a detached CMS (PKCS #7)
// SignedData whose signer certificate was issued by Fulcio for an OIDC identity.
//
// Compile checks a policy's options once; Verifier.Verify then checks one signature:
//
//  1. the CMS decodes (smimesign's ietf-cms), has one signer, detached id-data content and the
//     signed attributes contentType and messageDigest;
//  2. messageDigest equals the digest of the payload, and the signature over the DER signed
//     attributes verifies with the leaf certificate's key;
//  3. the leaf chains to a Fulcio CA of the trusted root (sigstore-go) inside its own validity
//     window, and its SAN and OIDC issuer (extension 1.8, or the older 1.1) match a trusted
//     identity;
//  4. a Rekor entry vouches for the signature: the one gitsign embeds as unsigned attribute
//     1.3.6.1.4.1.57264.3.1 (a protobuf TransparencyLogEntry without its body, which is rebuilt
//     from the CMS as the hashedrekord of sha256(signed attributes), the signature and the
//     leaf), or, when configured, one looked up online; sigstore-go verifies its signed entry
//     timestamp, inclusion proof and checkpoint against the root's Rekor keys. RFC 3161
//     timestamps in the CMS are verified against the root's timestamp authorities;
//  5. the chain holds again at every trusted time: the entry's integrated time, the timestamps.
//
// Fulcio certificates live ten minutes, so the time a chain is checked at decides everything.
// It is never "now", never the committer time and never the CMS signingTime attribute: those
// come from the signer's clock, and gitsign writes the commit before it fetches the certificate.
// With no trusted time (allowed only when no log entry is required) the chain is checked at the
// certificate's notBefore plus one minute, as gitsign does, and the Signer reports TimeSource
// "signature".
//
// Unsigned attributes are not covered by the signature, so anyone can strip them: an entry that
// cannot be used (the January 2023 layout that spread it over 3.0–3.9) is treated as absent when
// no entry is required and fails with ErrUnsupported when one is. An entry that is present but
// does not verify always fails.
//
// Every error wraps one of the provenance/signature sentinels. The package imports nothing of
// Writ's but that contract. The Sigstore public-good trusted root is embedded and used unless
// Options names another.
package sigstore
