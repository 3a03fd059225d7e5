package benchrun

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"
)

// profile starts a CPU profile of the child for d, the length of a row,
// when opts.Profile is set (the child serves /debug/pprof on its metrics
// listener when COBALT_PPROF=1) and returns a function that waits for it and
// writes it to the run's directory as ROW.pprof.
func (b *bench) profile(ctx context.Context, row string, d time.Duration) (wait func()) {
	if !b.opts.Profile {
		return func() {}
	}
	port := b.child.ports()["metrics"]
	done := make(chan struct{})
	go func() {
		defer close(done)
		u := fmt.Sprintf("https://127.0.0.1:%d/debug/pprof/profile?seconds=%d", port, max(1, int(d.Seconds())))
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := (&http.Client{Transport: newTransport(b.d.roots, 1)}).Do(req)
		if err != nil {
			b.logf("profile %s: %v", row, err)
			return
		}
		defer resp.Body.Close()
		name := filepath.Join(b.dir, row+".pprof")
		f, err := os.Create(name)
		if err == nil {
			_, err = io.Copy(f, resp.Body)
			f.Close()
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			b.logf("profile %s: %v (status %d)", row, err, resp.StatusCode)
			return
		}
		b.logf("profile %s: %s", row, name)
	}()
	return func() { <-done }
}

// selfProfile starts a CPU profile of the bench process itself (the client
// side of a row) when opts.Profile is set, and returns the function that
// stops it and writes NAME.pprof to the run's directory.
func (b *bench) selfProfile(name string) (stop func()) {
	if !b.opts.Profile {
		return func() {}
	}
	p := filepath.Join(b.dir, name+".pprof")
	f, err := os.Create(p)
	if err != nil {
		b.logf("profile %s: %v", name, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.logf("profile %s: %v", name, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.logf("profile %s: %v", name, err)
			return
		}
		b.logf("profile %s: %s", name, p)
	}
}
