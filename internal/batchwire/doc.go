// Package batchwire holds the JSON shapes that the Batch data plane and the
// Microsoft.Batch management plane write alike — name/value pairs, identity
// references, resource files, user accounts — with their conversions from
// the root package's domain types. The two codecs (internal/batchapi and
// internal/arm/batchprovider) build their own pool and node documents from
// these parts; where the planes spell an enumeration differently, the
// caller passes its spelling function.
//
// The shapes are response shapes: secrets (a user account's password) are
// never written.
package batchwire
