package provenance

import (
	"errors"

	"writ.dev/writ/provenance/signature"
)

// Sentinel errors. Every failure in a Report wraps one of them; test with errors.Is.
var (
	ErrUnsigned         = signature.ErrUnsigned
	ErrMalformed        = signature.ErrMalformed
	ErrUnsupported      = signature.ErrUnsupported
	ErrUnknownKey       = signature.ErrUnknownKey
	ErrBadSignature     = signature.ErrBadSignature
	ErrWrongNamespace   = signature.ErrWrongNamespace
	ErrIdentityMismatch = signature.ErrIdentityMismatch
	ErrUntrustedChain   = signature.ErrUntrustedChain
	ErrExpired          = signature.ErrExpired
	ErrRevoked          = signature.ErrRevoked
	ErrTransparencyLog  = signature.ErrTransparencyLog

	// ErrRollback: the target does not descend from the last verified target.
	ErrRollback = errors.New("rollback")
	// ErrNotEnoughApprovals: a commit touching protected paths lacks approvals by enough distinct
	// principals (people, not keys).
	ErrNotEnoughApprovals = errors.New("not enough approvals")
	// ErrTagPattern: in Tag mode, the tag's name does not match the policy's pattern.
	ErrTagPattern = errors.New("tag not allowed by policy")
	// ErrTagName: a signed tag was reached through a ref of another name than its own (an old
	// release's tag object served under a new name is a replay).
	ErrTagName = errors.New("tag reached under another name")
	// ErrInvalidPolicy is wrapped by every error Compile and LoadPolicy return.
	ErrInvalidPolicy = errors.New("invalid trust policy")
	// ErrRevision: a revision does not resolve in the repository.
	ErrRevision = errors.New("unknown revision")
)

// reasons maps each sentinel to the short reason code in results.
var reasons = []struct {
	err  error
	code string
}{
	{ErrUnsigned, "Unsigned"}, {ErrMalformed, "Malformed"}, {ErrUnsupported, "Unsupported"},
	{ErrUnknownKey, "UnknownKey"}, {ErrBadSignature, "BadSignature"}, {ErrWrongNamespace, "WrongNamespace"},
	{ErrIdentityMismatch, "IdentityMismatch"}, {ErrUntrustedChain, "UntrustedChain"}, {ErrExpired, "Expired"},
	{ErrRevoked, "Revoked"}, {ErrTransparencyLog, "TransparencyLog"}, {ErrRollback, "Rollback"},
	{ErrNotEnoughApprovals, "NotEnoughApprovals"}, {ErrTagPattern, "TagPattern"}, {ErrTagName, "TagNameMismatch"}, {ErrRevision, "UnknownRevision"},
}

// ReasonCode returns the short code of the sentinel err wraps ("UnknownKey", "Rollback", …), or
// "Error".
func ReasonCode(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return "Error"
}
