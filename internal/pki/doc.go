// Package pki keeps an installation's local certificate authority and the
// server certificate every Cobalt HTTPS listener presents (SANs 127.0.0.1, ::1,
// localhost and the public address). Clients trust the CA through
// SSL_CERT_FILE (Go) or NODE_EXTRA_CA_CERTS (Node).
package pki
