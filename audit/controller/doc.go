// Package controller is the audit component of writ-controller. It
//
//   - ingests AuditEvent objects (written by every webhook replica and the reconciler through
//     package kuberecorder) into the hash-chained store, deleting each only after the store has
//     made it durable — at-least-once: a record is never lost, and a duplicate can only arise if
//     the controller dies between the durable append and the delete;
//   - keeps the ed25519 audit signing key in a Secret (created on first start) and publishes its
//     public half in a ConfigMap for auditors;
//   - signs a checkpoint of the chain's head periodically.
//
// It runs on the elected leader only, so one writer appends to the store.
package controller
