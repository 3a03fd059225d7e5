package store

// ResourceStore keeps management-plane (ARM) resources. The management plane
// owns this slice of the interface.
type ResourceStore interface{}
