// Package cobalt holds the domain types shared by every Cobalt service: the error
// type and its codes, Azure resource IDs, and principals. It performs no I/O.
//
// Cobalt is a self-hosted implementation of Azure Batch pools with user-assigned
// managed identities; see DESIGN in the README for the components.
package cobalt
