// Package grants mirrors approved, unexpired BreakGlassRequests into the breakGlass key of the
// fallback policy's parameters (the ConfigMap webhook.FallbackParamsName in Writ's namespace), the
// only way a break-glass grant reaches the apiserver's own fallback policy, which reads no other
// object and has no clock. Writ's controller runs it (the fallback lets that account alone change
// that key); each line is removed when its grant expires.
//
// A line is "<user> <namespace> [resources=<group>/<resource>,...] [names=<name>,...]
// until=<RFC 3339> request=<name>", one per namespace of the request's scope. The approval time is
// the earlier of spec.approvedAt and the time the apiserver recorded for the update that set
// spec.approvedBy (its managedFields entry), and never later than now, so an approver's clock
// cannot extend a grant. Requests the fallback could not express or must never honour (a user name
// with spaces; the empty namespace, "*", kube-system or Writ's namespace) get no line.
package grants
