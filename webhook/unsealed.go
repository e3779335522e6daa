package webhook

// The unsealer's Secrets (issue #14, sealed secrets): writ-controller's service account writes the
// Secrets it unseals from SealedSecrets, in every namespace. A stolen writ-controller token, or a
// cluster-admin impersonating it, could otherwise write any Secret it likes there: the chain's
// sealing exemption (policies/guard-writ.yaml, writ-sealing-secrets) only checks, in protected
// namespaces, that the Secret is owned by a SealedSecret in the cluster of its name and type, and
// whoever holds the token can make that SealedSecret too. So every write of a core Secret by the
// unsealer is judged by the witness against the SealedSecret a verified commit declares
// (Witness.CheckUnsealed: the template's metadata and type, the data keys, the owner reference;
// never the values, which the witness cannot open), before the chain, in the same modes and with
// the same UnverifiedAgentWrite records as the agent's writes. The unsealer's other writes
// (SealedSecret status, events) are not judged.

// judges reports whether the witness judges r: a write by an identity the Witness witnesses,
// other than its bookkeeping, or a Secret written by the unsealer.
func (g *Guard) judges(r *Request) bool {
	return g.unsealerWrite(r) || (g.Witness.Witnessed(r.User) && !Bookkeeping(r))
}

// unsealerWrite reports whether r writes a core Secret (CREATE or UPDATE, and DELETE, which the
// unsealer never makes and its RBAC does not grant: CheckUnsealed denies it) as the unsealer.
func (g *Guard) unsealerWrite(r *Request) bool {
	return r.Group == "" && r.Resource == "secrets" && r.Subresource == "" && r.Operation != "CONNECT" && g.Witness.Unsealer(r.User)
}
