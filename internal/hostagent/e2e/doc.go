// Package e2e holds end-to-end tests of compute nodes under the whole
// control plane (internal/server): pools made through the management plane,
// tasks run by node agents, tokens from the nodes' IMDS checked by a
// third-party verifier. It has no non-test code.
package e2e
