// Package blobtest holds the blob client scenarios that Cobalt's tests run
// with the official Go SDK, against the blob service alone (internal/blob) or
// a whole installation (cobalt up): the same checks with every credential.
package blobtest
