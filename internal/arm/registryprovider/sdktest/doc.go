// Package sdktest drives the Microsoft.ContainerRegistry provider end to end
// over HTTPS with the official Go client armcontainerregistry v1.2.0
// (api-version 2023-07-01) and tokens from the real login service, against a
// whole Cobalt started by sdkharness, inside a loopback-only network namespace.
package sdktest
