// Package certs keeps the admission webhook's TLS working without cert-manager: a Rotator creates
// a certificate authority and a serving certificate for the webhook's Service, stores them in one
// Secret (ca.crt, ca.key, tls.crt, tls.key), renews each before a third of its lifetime is left,
// and keeps the caBundle of the webhook's ValidatingWebhookConfiguration equal to the Secret's
// ca.crt.
//
// The webhook pods mount only tls.crt and tls.key of that Secret; the kubelet refreshes the files
// when the Secret changes and controller-runtime's webhook server reloads them (certwatcher), so a
// rotation needs no restart. A new CA is published in the caBundle, next to the old one, before
// any certificate it signs is served, and the old CA stays there until it expires, so every
// serving certificate a pod may still hold stays trusted.
package certs
