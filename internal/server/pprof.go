package server

import (
	"net/http"
	"net/http/pprof"
	"os"
)

// handlePprof adds Go's profiler under /debug/pprof/ to mux (the metrics
// listener, never forwarded into nodes) when COBALT_PPROF=1: `cobalt bench
// --cpuprofile` sets it on the child it measures. Off by default: profiles
// and goroutine dumps reveal the program's internals.
func handlePprof(mux *http.ServeMux) {
	if os.Getenv("COBALT_PPROF") != "1" {
		return
	}
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
