package azurenames

import (
	"strings"
)

// Fixed hostnames.
const (
	LoginHost      = "login.microsoftonline.com"
	ManagementHost = "management.azure.com"
	blobSuffix     = ".blob.core.windows.net"
	batchSuffix    = ".batch.azure.com"
	registrySuffix = ".azurecr.io"
)

// Kind says which service a hostname names.
type Kind int

// Kinds of hostname.
const (
	None Kind = iota
	Login
	Management
	Blob
	Batch
	Registry
)

// Name is a parsed hostname: its kind and, for per-resource names, the
// resource's name (the storage account, Batch account or registry).
type Name struct {
	Kind     Kind
	Resource string
}

// Certificate returns the DNS names a certificate for location's hostnames
// must cover: wildcards match one label, so Batch accounts need their
// location's.
func Certificate(location string) []string {
	return []string{LoginHost, ManagementHost, "*" + blobSuffix, "*." + strings.ToLower(location) + batchSuffix, "*" + registrySuffix}
}

// Parse reads a hostname (a Host header, with or without a port; any case;
// a trailing dot allowed). Batch names must be in location. It returns a
// Name of Kind None for any other name.
func Parse(host, location string) Name {
	h := strings.ToLower(host)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	switch h {
	case LoginHost:
		return Name{Kind: Login}
	case ManagementHost:
		return Name{Kind: Management}
	}
	if a, ok := strings.CutSuffix(h, blobSuffix); ok && label(a) {
		return Name{Kind: Blob, Resource: a}
	}
	if a, ok := strings.CutSuffix(h, "."+strings.ToLower(location)+batchSuffix); ok && location != "" && label(a) {
		return Name{Kind: Batch, Resource: a}
	}
	if a, ok := strings.CutSuffix(h, registrySuffix); ok && label(a) {
		return Name{Kind: Registry, Resource: a}
	}
	return Name{}
}

// Served reports whether a node's resolver answers name: any name of the
// kinds above, in any location (a Batch account elsewhere is refused by the
// router, not by DNS).
func Served(name string) bool {
	h := strings.TrimSuffix(strings.ToLower(name), ".")
	if h == LoginHost || h == ManagementHost {
		return true
	}
	for _, suf := range []string{blobSuffix, registrySuffix} {
		if a, ok := strings.CutSuffix(h, suf); ok && label(a) {
			return true
		}
	}
	if rest, ok := strings.CutSuffix(h, batchSuffix); ok {
		acct, loc, ok := strings.Cut(rest, ".")
		return ok && label(acct) && label(loc)
	}
	return false
}

// label reports whether s is one DNS label of letters, digits and hyphens.
func label(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
