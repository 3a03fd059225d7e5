package store

// BlobStore keeps the blob service's containers, blob index and blocks. The blob
// service owns this slice of the interface.
type BlobStore interface{}
