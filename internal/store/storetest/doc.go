// Package storetest is the conformance suite for store.Store. Run executes
// every behaviour against a backend; each slice of the store registers its
// behaviours from its own file with register.
package storetest
