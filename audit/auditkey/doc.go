// Package auditkey reads and writes the audit signing key: an ed25519 key as PEM (PKCS#8
// "PRIVATE KEY" for the private half, kept in a Secret in the cluster; PKIX "PUBLIC KEY" for the
// public half, published in a ConfigMap and inside every evidence bundle).
package auditkey
