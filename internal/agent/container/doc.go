// Package container runs Batch container tasks on a Linux node: it pulls
// OCI images with go-containerregistry (Basic auth, or ACR's exchange of a
// node identity's Entra token for a registry refresh token), unpacks each
// image once per digest with a hardened untar, and builds and runs a runc
// bundle per task (an overlay of the image with a per-task upper
// directory, Batch's directories at their Azure paths, the node's network
// namespace) from a config.json made with the runtime-spec types.
//
// It runs inside a node sandbox's init (internal/sandbox), as the node's
// root in the node's user namespace: runc there is rootless-style and every
// path it touches is the node's own.
package container
