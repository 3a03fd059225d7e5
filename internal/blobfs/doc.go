// Package blobfs serves a blob container as a FUSE file system, as
// blobfuse does for a Batch pool's azureBlobFileSystemConfiguration: blob
// names with "/" are directories, reads stream ranges of a blob, and a file
// written through the mount becomes a block blob when it is closed. Every
// request carries a bearer token from the caller's token source (a pool
// identity's, refreshed by that source) or the container URL's SAS.
package blobfs
