// Package sdktest drives the Microsoft.Batch provider end to end over HTTPS
// with the official Node client @azure/arm-batch 9.1.0 and tokens from the
// real login service, against a whole Cobalt started by sdkharness, inside a
// loopback-only network namespace.
package sdktest
