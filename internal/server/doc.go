// Package server assembles every Cobalt service into one process: it owns the
// data directory (lock, CA, seal key, store), bootstraps the installation
// (tenant, subscription, admin service principal with Owner), opens one HTTPS
// listener per service, runs the long-running parts under one runner, and
// publishes endpoints.json once everything serves. `cobalt up` and the
// end-to-end tests both start Cobalt through Start.
package server
