// Package store defines Cobalt's one storage interface and the records it keeps.
//
// Implementations live in sqlite (the embedded default) and postgres (shared by
// several control-plane replicas); both are built on sqlstore. The conformance
// suite in storetest runs every behaviour against each of them.
//
// Contract for every method: errors are *cobalt.Error values with code
// ENotFound (no such record), EConflict (a record with that key exists) or
// EPreconditionFailed (a compare-and-swap lost), or wrap an internal error.
// All methods are safe for concurrent use. Updates are compare-and-swap
// closures: the closure receives the current record inside a transaction and
// may be called more than once; it must not have side effects. Every record
// carries a Version that increases on each write and serves as its ETag.
package store
