package benchrun

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

// pool10 times a 10-node pool PUT to 10 idle nodes, sandboxed.
func (b *bench) pool10(ctx context.Context) []Result {
	r := Result{Row: "pool10", Work: "10-node pool PUT to 10 idle", Target: "< 0.5 s"}
	stop := b.profile(ctx, "pool10", 5*time.Second)
	el, err := b.d.createPool(ctx, "ten", 10, 1, "")
	stop()
	if err != nil {
		r.Err = err
		return []Result{r}
	}
	r.Figure = fmt.Sprintf("%.2f s", el.Seconds())
	r.OK = el < 500*time.Millisecond
	// Not a target, a yardstick for a busy machine: the bare operating
	// system work of ten sandboxes' network namespaces.
	if base, err := tenNamespaces(ctx); err == nil {
		r.Baseline = fmt.Sprintf("10 × unshare --net + lo up, concurrently: %.2f s", base.Seconds())
		r.Ratio = fmt.Sprintf("%.1f× its time", el.Seconds()/base.Seconds())
	}
	if err := b.d.deletePool(ctx, "ten"); err != nil {
		b.logf("pool10: delete: %v", err)
	}
	return []Result{r}
}

// pool100 times a 100-node pool PUT to 100 idle nodes with the child's
// default capacity, and measures the memory of an idle node: the child's
// process tree (control plane, node inits; PSS) and the machine's kernel
// memory, before the PUT and with 100 idle nodes, divided by 100.
func (b *bench) pool100(ctx context.Context) []Result {
	const n = 100
	r := Result{Row: "pool100", Work: "100-node pool PUT to 100 idle, default capacity", Target: "< 5 s"}
	m := Result{Row: "memory", Work: "memory per idle node (control plane + node)", Target: "< 15 MiB"}
	time.Sleep(time.Second) // let what earlier rows left settle
	pss0, procs0 := treePSS(b.child.pid())
	k0 := kernelMem()
	stop := b.profile(ctx, "pool100", 20*time.Second)
	el, err := b.d.createPool(ctx, "hundred", n, 1, "")
	stop()
	if err != nil {
		r.Err, m.Err = err, err
		return []Result{r, m}
	}
	r.Figure = fmt.Sprintf("%.2f s", el.Seconds())
	r.OK = el < 5*time.Second
	time.Sleep(time.Second)
	pss1, procs1 := treePSS(b.child.pid())
	k1 := kernelMem()
	per := float64(pss1-pss0) / n / (1 << 20)
	kper := float64(k1-k0) / n / (1 << 20)
	m.Figure = fmt.Sprintf("%.2f MiB PSS + %.2f MiB kernel", per, kper)
	m.Baseline = fmt.Sprintf("tree PSS %.0f → %.0f MiB (%d → %d processes); kernel is machine-wide", float64(pss0)/(1<<20), float64(pss1)/(1<<20), procs0, procs1)
	m.OK = per+max(kper, 0) < 15
	if err := b.d.deletePool(ctx, "hundred"); err != nil {
		b.logf("pool100: delete: %v", err)
	}
	return []Result{r, m}
}

// tenNamespaces times ten concurrent `unshare --net sh -c 'ip link set lo
// up'`: a network namespace with loopback, the least a node sandbox does.
func tenNamespaces(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	errs := make(chan error, 10)
	for range 10 {
		go func() {
			errs <- exec.CommandContext(ctx, "unshare", "--net", "sh", "-c", "ip link set lo up").Run()
		}()
	}
	for range 10 {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
