// Package breakglass is the rule of a break-glass grant, shared by the guard (package webhook),
// the mirror of grants into the fallback policy (webhook/grants) and the reconciler (package
// reconcile, which pauses healing while a grant is in force): what a BreakGlassRequest's scope
// covers (Covers), which scopes are refused (ValidateScope, NeverInScope), when an approval
// started (ApprovedAt) and which requests are grants in force at a time (InForce).
//
// It is pure: it reads the API types and nothing else, and imports no controller.
package breakglass
