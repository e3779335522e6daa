// Package kuberecorder is the audit Recorder that components running in the cluster (every webhook
// replica, the reconciler) use: it hands each event to the audit controller as an AuditEvent
// object through the Kubernetes API.
//
// Why the API server and not a direct connection to the store: it is durable (etcd) once the
// create returns, guarded by RBAC (only Writ's service accounts may create AuditEvents), highly
// available like the cluster itself, and it needs no new endpoint, certificate or credential.
// The admission path never waits on it: Record queues the event (audit.Buffered) and returns.
//
// Identical repeated events (a script retrying a denied edit) aggregate into one object with a
// count: the object's name is a digest of the event's identity and a time bucket, so a retry
// within the bucket finds the object and increments spec.count instead of creating another one.
// The admission response's auditAnnotations put every single attempt in the Kubernetes audit log
// as well.
package kuberecorder
