package benchrun

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerregistry/armcontainerregistry"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// containerRows are the rows of the container group.
var containerRows = []string{"containers"}

func init() { Rows = append(Rows, containerRows...) }

const (
	// containerSlices × containerSliceTasks tasks of each kind run, the
	// kinds alternating slice by slice so that a busy machine's drift lands
	// on both.
	containerSlices     = 3
	containerSliceTasks = 10
	containerTarget     = 150 * time.Millisecond
)

// containers times the same command (/bin/true) as plain tasks on a
// one-node, one-slot pool and as container tasks (a busybox image built
// here from the host's /bin/busybox and pushed to a registry of the child)
// on a one-node, one-slot container pool whose registry is reached with its
// admin user: the tasks of a slice are added in one call and run one at a
// time, and the figure is a slice's first add to its last completion,
// divided by its tasks. The row reports the container task's extra time
// beside the plain task's (the baseline), and the mean of the nodes' own
// start-to-end times of each kind.
func (b *bench) containers(ctx context.Context) []Result {
	n := containerSlices * containerSliceTasks
	r := Result{Row: "containers", Work: fmt.Sprintf("%d /bin/true tasks one at a time on a 1-slot node: container (runc, busybox image) beside plain", n),
		Target: "< 150 ms extra per task"}
	fail := func(err error) []Result { r.Err = err; return []Result{r} }
	if unprivileged() {
		return fail(fmt.Errorf("container tasks need sandboxed nodes: run the bench as root"))
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return fail(fmt.Errorf("container tasks need runc (Debian package runc): %w", err))
	}
	img, err := busyboxImage("/bin/busybox")
	if err != nil {
		return fail(err)
	}
	login, user, password, err := b.d.createAdminRegistry(ctx, "benchctr")
	if err != nil {
		return fail(err)
	}
	refresh, err := b.d.acrExchange(ctx, login)
	if err != nil {
		return fail(err)
	}
	image := login + "/bench/busybox:v1"
	ref, err := name.ParseReference(image)
	if err != nil {
		return fail(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithTransport(newTransport(b.d.roots, 1)),
		remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: nullGUID, IdentityToken: refresh}))); err != nil {
		return fail(fmt.Errorf("push %s: %w", image, err))
	}

	plainBody := poolBody(b.d.ep, 1, 1, "")
	ctrBody := poolBody(b.d.ep, 1, 1, "")
	vmc := ctrBody["properties"].(map[string]any)["deploymentConfiguration"].(map[string]any)["virtualMachineConfiguration"].(map[string]any)
	vmc["containerConfiguration"] = map[string]any{"type": "DockerCompatible", "containerImageNames": []string{image},
		"containerRegistries": []any{map[string]any{"registryServer": login, "username": user, "password": password}}}
	for pool, body := range map[string]map[string]any{"plain": plainBody, "ctr": ctrBody} {
		if _, err := b.d.armDo(ctx, http.MethodPut, b.d.poolPath(pool), body); err != nil {
			return fail(fmt.Errorf("pool %s PUT: %w", pool, err))
		}
	}
	defer func() {
		for _, pool := range []string{"plain", "ctr"} {
			if err := b.d.deletePool(ctx, pool); err != nil {
				b.logf("containers: delete pool %s: %v", pool, err)
			}
		}
	}()
	for _, pool := range []string{"plain", "ctr"} {
		if _, err := b.d.waitIdle(ctx, pool, 1, 3*time.Minute); err != nil {
			return fail(err)
		}
		if _, err := b.d.batch.CreateJob(ctx, azbatch.CreateJobContent{ID: to.Ptr(pool), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr(pool)}}, nil); err != nil {
			return fail(err)
		}
	}

	stop := b.profile(ctx, "containers", b.opts.Duration)
	defer stop()
	var plain, ctr time.Duration
	for s := range containerSlices {
		p, err := b.taskSlice(ctx, "plain", s, nil)
		if err != nil {
			return fail(err)
		}
		c, err := b.taskSlice(ctx, "ctr", s, &azbatch.TaskContainerSettings{ImageName: to.Ptr(image)})
		if err != nil {
			return fail(err)
		}
		plain, ctr = plain+p, ctr+c
		b.logf("containers slice %d: plain %s, container %s per task", s+1, ms(p/containerSliceTasks), ms(c/containerSliceTasks))
	}
	plainPer, ctrPer := plain/time.Duration(n), ctr/time.Duration(n)
	plainNode, err := b.nodeTaskTime(ctx, "plain")
	if err != nil {
		return fail(err)
	}
	ctrNode, err := b.nodeTaskTime(ctx, "ctr")
	if err != nil {
		return fail(err)
	}
	extra := ctrPer - plainPer
	r.Figure = fmt.Sprintf("container %s per task (node's start to end %s)", ms(ctrPer), ms(ctrNode))
	r.Baseline = fmt.Sprintf("plain %s per task (node's start to end %s)", ms(plainPer), ms(plainNode))
	r.Ratio = fmt.Sprintf("+%s per task (node: +%s)", ms(extra), ms(ctrNode-plainNode))
	r.OK = extra < containerTarget
	return []Result{r}
}

// taskSlice adds containerSliceTasks /bin/true tasks to job in one call
// (in container cs when it is not nil) and returns the time from the add to
// the last completion; the job's one-slot node runs them one at a time.
func (b *bench) taskSlice(ctx context.Context, job string, slice int, cs *azbatch.TaskContainerSettings) (time.Duration, error) {
	group := azbatch.TaskGroup{Value: make([]azbatch.CreateTaskContent, containerSliceTasks)}
	for i := range group.Value {
		group.Value[i] = azbatch.CreateTaskContent{ID: to.Ptr(fmt.Sprintf("s%d-t%03d", slice, i)), CommandLine: to.Ptr("/bin/true"), ContainerSettings: cs}
	}
	want := int32((slice + 1) * containerSliceTasks)
	start := time.Now()
	resp, err := b.d.batch.CreateTaskCollection(ctx, job, group, nil)
	if err != nil {
		return 0, err
	}
	for _, r := range resp.Value {
		if r.Status != nil && *r.Status != azbatch.TaskAddStatusSuccess {
			return 0, fmt.Errorf("task %s: %s", deref(r.TaskID), *r.Status)
		}
	}
	for {
		c, err := b.d.batch.GetJobTaskCounts(ctx, job, nil)
		if err != nil {
			return 0, err
		}
		if tc := c.TaskCounts; tc != nil && *tc.Completed >= want {
			if *tc.Failed > 0 {
				return 0, fmt.Errorf("job %s: %d tasks failed: %s", job, *tc.Failed, b.firstFailure(ctx, job))
			}
			return time.Since(start), nil
		}
		if time.Since(start) > 5*time.Minute {
			return 0, fmt.Errorf("job %s: slice %d not done after 5 minutes", job, slice+1)
		}
		// 10 ms in a slice of 10 tasks is at most 1 ms per task.
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// nodeTaskTime is the mean of job's tasks' start-to-end times as their
// node reported them.
func (b *bench) nodeTaskTime(ctx context.Context, job string) (time.Duration, error) {
	var sum time.Duration
	n := 0
	pager := b.d.batch.NewListTasksPager(job, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		for _, t := range page.Value {
			if e := t.ExecutionInfo; e != nil && e.StartTime != nil && e.EndTime != nil {
				sum += e.EndTime.Sub(*e.StartTime)
				n++
			}
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("job %s: no task has a start and end time", job)
	}
	return sum / time.Duration(n), nil
}

// createAdminRegistry creates a Basic registry with its admin user in the
// bench's group and returns its login server and admin credentials.
func (d *driver) createAdminRegistry(ctx context.Context, reg string) (login, user, password string, err error) {
	regs, err := armcontainerregistry.NewRegistriesClient(d.ep.SubscriptionID, d.cred, &arm.ClientOptions{ClientOptions: d.opts})
	if err != nil {
		return "", "", "", err
	}
	poller, err := regs.BeginCreate(ctx, group, reg, armcontainerregistry.Registry{Location: to.Ptr(d.ep.Location),
		SKU:        &armcontainerregistry.SKU{Name: to.Ptr(armcontainerregistry.SKUNameBasic)},
		Properties: &armcontainerregistry.RegistryProperties{AdminUserEnabled: to.Ptr(true)}}, nil)
	if err != nil {
		return "", "", "", fmt.Errorf("create registry: %w", err)
	}
	r, err := poller.PollUntilDone(ctx, nil)
	if err != nil {
		return "", "", "", fmt.Errorf("create registry: %w", err)
	}
	if r.Properties == nil || r.Properties.LoginServer == nil {
		return "", "", "", fmt.Errorf("the registry has no login server")
	}
	creds, err := regs.ListCredentials(ctx, group, reg, nil)
	if err != nil {
		return "", "", "", fmt.Errorf("registry credentials: %w", err)
	}
	if creds.Username == nil || len(creds.Passwords) == 0 || creds.Passwords[0].Value == nil {
		return "", "", "", fmt.Errorf("the registry's credentials have no user or password")
	}
	return *r.Properties.LoginServer, *creds.Username, *creds.Passwords[0].Value, nil
}
