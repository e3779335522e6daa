package webhook

import (
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"writ.dev/writ/wellknown"
)

// The CEL both fallback policies share. In admission CEL, object and oldObject are maps (the
// request's objects as JSON), so they can be iterated and compared key by key.

// apiserverGroups are the groups of the apiserver's own loopback identity (k8s.io/apiserver
// pkg/server/options/authentication.go: system:apiserver in system:authenticated and
// system:masters). Only that exact identity is skipped: a user merely named system:apiserver is
// someone else.
var apiserverGroups = []string{"system:authenticated", "system:masters"}

// notTheAPIServer is the match condition that skips the apiserver's own writes.
func notTheAPIServer() admissionregistrationv1.MatchCondition {
	return admissionregistrationv1.MatchCondition{Name: "not-the-apiserver", Expression: "!(request.userInfo.username == 'system:apiserver'" +
		" && request.userInfo.?groups.orValue([]).size() == " + strconv.Itoa(len(apiserverGroups)) +
		" && " + celList(apiserverGroups) + ".all(g, g in request.userInfo.?groups.orValue([])))"}
}

// commonVariables are the first variables of both policies; each may use those before it.
func commonVariables() []admissionregistrationv1.Variable {
	return []admissionregistrationv1.Variable{
		{Name: "user", Expression: "request.userInfo.username"},
		{Name: "groups", Expression: "request.userInfo.?groups.orValue([])"},
		// A kubelet: named system:node:<name> and in system:nodes (what NodeRestriction restricts).
		{Name: "isNode", Expression: "variables.user.startsWith('system:node:') && variables.user.size() > 12 && 'system:nodes' in variables.groups"},
		{Name: "ns", Expression: "request.?namespace.orValue('')"},
		// A delete by collection reaches admission once per object, without its name in the request.
		{Name: "name", Expression: "request.?name.orValue('') != '' ? request.name : oldObject != null ? oldObject.metadata.?name.orValue('') : ''"},
		{Name: "group", Expression: "request.resource.?group.orValue('')"},
		{Name: "resource", Expression: "request.resource.resource"},
		{Name: "subresource", Expression: "request.?subResource.orValue('')"},
		{Name: "ref", Expression: "variables.resource + (variables.group == '' ? '' : '.' + variables.group) + (variables.subresource == '' ? '' : '/' + variables.subresource)"},
		{Name: "writNamespace", Expression: "params.metadata.namespace"},
		{Name: "writAccounts", Expression: celList(wellknown.ServiceAccounts) + ".map(n, 'system:serviceaccount:' + variables.writNamespace + ':' + n)"},
		{Name: "isWrit", Expression: "variables.user in variables.writAccounts"},
		{Name: "isController", Expression: "variables.user == 'system:serviceaccount:' + variables.writNamespace + ':" + wellknown.ControllerServiceAccount + "'"},
		{Name: "agents", Expression: lines(FallbackAgentsKey)},
		{Name: "isAgent", Expression: "variables.user in variables.agents"},
		// Each exemption line as {id, targets: [{target, constraint}]}.
		{Name: "exempt", Expression: lines(FallbackExemptKey) + ".map(l, l.split(' ').filter(t, t != ''))" +
			".map(p, {'id': dyn(p[0]), 'targets': dyn(p.filter(t, t != p[0]).map(t, {'target': t.indexOf('@') < 0 ? t : t.substring(0, t.indexOf('@')), 'constraint': t.indexOf('@') < 0 ? '' : t.substring(t.indexOf('@') + 1)}))})"},
		// The service accounts nobody but Kubernetes and the agents may act as: Writ's, the
		// agents' and the exempt controllers'.
		{Name: "guardedAccounts", Expression: "variables.writAccounts + variables.agents.filter(a, a.startsWith('system:serviceaccount:'))" +
			" + variables.exempt.map(e, e.id).filter(a, a.startsWith('system:serviceaccount:'))"},
		{Name: "who", Expression: `request.operation.lowerAscii() + ' of ' + variables.ref + ' ' + (variables.ns == '' || (variables.group == '' && variables.resource == 'namespaces') ? '' : variables.ns + '/')` +
			` + (variables.name != '' ? variables.name : request.operation == 'CREATE' ? '(new object)' : '(collection)') + ' by "' + variables.user + '"'`},
	}
}

// lines is the expression for a parameter key's entries.
func lines(key string) string {
	return "params.?data.?" + key + ".orValue('').split('\\n').map(l, l.trim()).filter(l, l != '' && !l.startsWith('#'))"
}

// celList is a CEL list literal of strings.
func celList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// sameExcept is a CEL expression that holds when the maps after and before are equal but for the
// keys in ignore.
func sameExcept(after, before string, ignore ...string) string {
	keys := celList(ignore)
	return after + ".all(k, k in " + keys + " || (k in " + before + " && " + before + "[k] == " + after + "[k]))" +
		" && " + before + ".all(k, k in " + keys + " || k in " + after + ")"
}

// bookkeeping are the metadata keys the apiserver itself changes on a write.
var bookkeeping = []string{"resourceVersion", "managedFields", "generation"}

func withBookkeeping(keys ...string) []string {
	return append(append([]string{}, bookkeeping...), keys...)
}
