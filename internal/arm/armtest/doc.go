// Package armtest drives the ARM front door end to end over HTTPS with the
// official Azure SDK clients (Go armresources, armmsi, armauthorization/v2 and
// Node @azure/arm-msi), with tokens from the real login service, against a
// whole Cobalt started by sdkharness, inside a loopback-only network
// namespace.
package armtest
