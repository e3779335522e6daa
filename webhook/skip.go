package webhook

// The requests the apiserver does not send to the guard at all (the webhook configuration's
// matchConditions, registration.go; the chart's writ-guard template repeats them, and a test
// keeps the two equal). Each names one exact identity:
//
//   - the apiserver itself: user system:apiserver with exactly the groups of its loopback
//     identity, system:authenticated and system:masters (k8s.io/apiserver's
//     AuthorizeClientBearerToken). It reconciles RBAC's bootstrap roles and its own objects at
//     start, when no webhook may be up yet;
//   - a kubelet: user system:node:<name> in group system:nodes (the identity the NodeRestriction
//     admission plugin restricts to its own node's objects), and only for what NodeRestriction
//     governs or kubelets must write while the guard is down: its Node and Lease, pods (mirror
//     pods, their status, evictions and final deletes), PVC status, service account tokens for
//     its pods, CSINodes, ResourceSlices, certificate requests, and events.
//
// A user named system:apiserver with other groups, a person in group system:nodes, and a node
// touching anything else (a ConfigMap) all reach the guard. A request without a subresource has
// no subResource in CEL (not ”): it is read through has(), or the condition would fail with
// "no such key" and the webhook's failurePolicy would refuse a kubelet's pod. Whoever may impersonate can still
// claim these identities exactly: the README's threat model says so.
const (
	APIServerSkipExpression = "!(request.userInfo.username == 'system:apiserver' && size(request.userInfo.groups) == 2 && " +
		"'system:authenticated' in request.userInfo.groups && 'system:masters' in request.userInfo.groups)"
	NodeSkipExpression = "!(request.userInfo.username.startsWith('system:node:') && size(request.userInfo.username) > 12 && " +
		"'system:nodes' in request.userInfo.groups && (" +
		"(request.resource.group == '' && (request.resource.resource in ['nodes', 'events'] || " +
		"(request.resource.resource == 'pods' && (has(request.subResource) ? request.subResource : '') in ['', 'status', 'eviction']) || " +
		"(request.resource.resource == 'persistentvolumeclaims' && (has(request.subResource) ? request.subResource : '') == 'status') || " +
		"(request.resource.resource == 'serviceaccounts' && (has(request.subResource) ? request.subResource : '') == 'token'))) || " +
		"(request.resource.group == 'events.k8s.io' && request.resource.resource == 'events') || " +
		"(request.resource.group == 'coordination.k8s.io' && request.resource.resource == 'leases') || " +
		"(request.resource.group == 'storage.k8s.io' && request.resource.resource == 'csinodes') || " +
		"(request.resource.group == 'resource.k8s.io' && request.resource.resource == 'resourceslices') || " +
		"(request.resource.group == 'certificates.k8s.io' && request.resource.resource in ['certificatesigningrequests', 'podcertificaterequests'])))"
)
