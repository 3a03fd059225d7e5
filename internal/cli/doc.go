// Package cli implements the cobalt command: `cobalt up` runs every service in
// one process, `cobalt env` prints the settings SDKs need, and the az-style
// verbs (group, identity, role, storage, batch, node, ...) call Cobalt's public
// APIs exactly as an Azure SDK would.
package cli
