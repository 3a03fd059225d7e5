package sdktest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"

	"github.com/cobaltbatch/cobalt/internal/rbac"
)

// TestGoSDKContainerSettingsNeedContainerPool: through azbatch, a task or
// start task with containerSettings on a pool without a container
// configuration is refused with Batch's InvalidPropertyValue (never run on
// the node outside a container), while the same task on a container pool
// is accepted and its registry password never comes back.
func TestGoSDKContainerSettingsNeedContainerPool(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, _ := e.goClient(e.newPrincipal(rbac.RoleBatchDataContributor))
	cs := &azbatch.TaskContainerSettings{ImageName: to.Ptr("127.0.0.1:5000/tasks/busybox:v1"),
		Registry: &azbatch.ContainerRegistryReference{RegistryServer: to.Ptr("127.0.0.1:5000"), Username: to.Ptr("u"), Password: to.Ptr("registry-secret")}}

	plain := testPool("plainpool", 0)
	plain.StartTask = &azbatch.StartTask{CommandLine: to.Ptr("/bin/true"), ContainerSettings: cs}
	_, err := c.CreatePool(ctx, plain, nil)
	if s, code := respCode(err); s != 400 || code != "InvalidPropertyValue" {
		t.Fatalf("start task containerSettings on a plain pool: %d %s (%v)", s, code, err)
	}
	plain.StartTask = nil
	if _, err := c.CreatePool(ctx, plain, nil); err != nil {
		t.Fatalf("CreatePool(plain): %v", err)
	}
	if _, err := c.CreateJob(ctx, azbatch.CreateJobContent{ID: to.Ptr("pj"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("plainpool")}}, nil); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	_, err = c.CreateTask(ctx, "pj", azbatch.CreateTaskContent{ID: to.Ptr("t"), CommandLine: to.Ptr("/bin/true"), ContainerSettings: cs}, nil)
	if s, code := respCode(err); s != 400 || code != "InvalidPropertyValue" {
		t.Fatalf("task containerSettings on a plain pool: %d %s (%v)", s, code, err)
	}
	col, err := c.CreateTaskCollection(ctx, "pj", azbatch.TaskGroup{Value: []azbatch.CreateTaskContent{
		{ID: to.Ptr("c1"), CommandLine: to.Ptr("/bin/true"), ContainerSettings: cs},
		{ID: to.Ptr("c2"), CommandLine: to.Ptr("/bin/true")}}}, nil)
	if err != nil || len(col.Value) != 2 {
		t.Fatalf("CreateTaskCollection: %v", err)
	}
	for _, r := range col.Value {
		want := azbatch.TaskAddStatusSuccess
		if *r.TaskID == "c1" {
			want = azbatch.TaskAddStatusClientError
		}
		if *r.Status != want {
			t.Fatalf("add %s: %s %+v", *r.TaskID, *r.Status, r.Error)
		}
	}

	cpool := testPool("cpool", 0)
	cpool.VirtualMachineConfiguration.ContainerConfiguration = &azbatch.ContainerConfiguration{Type: to.Ptr(azbatch.ContainerTypeDockerCompatible),
		ContainerImageNames: []string{"127.0.0.1:5000/tasks/busybox:v1"}, ContainerRegistries: []azbatch.ContainerRegistryReference{*cs.Registry}}
	cpool.StartTask = &azbatch.StartTask{CommandLine: to.Ptr("/bin/true"), ContainerSettings: cs}
	if _, err := c.CreatePool(ctx, cpool, nil); err != nil {
		t.Fatalf("CreatePool(container): %v", err)
	}
	if _, err := c.CreateJob(ctx, azbatch.CreateJobContent{ID: to.Ptr("cj"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("cpool")}}, nil); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	if _, err := c.CreateTask(ctx, "cj", azbatch.CreateTaskContent{ID: to.Ptr("t"), CommandLine: to.Ptr("/bin/true"), ContainerSettings: cs}, nil); err != nil {
		t.Fatalf("CreateTask on a container pool: %v", err)
	}
	got, err := c.GetTask(ctx, "cj", "t", nil)
	if err != nil || got.ContainerSettings == nil || *got.ContainerSettings.ImageName != *cs.ImageName {
		t.Fatalf("GetTask: %+v %v", got.Task, err)
	}
	if r := got.ContainerSettings.Registry; r == nil || r.Password != nil && *r.Password != "" {
		t.Fatalf("the task's registry password came back: %+v", r)
	}
	p, err := c.GetPool(ctx, "cpool", nil)
	if err != nil {
		t.Fatalf("GetPool: %v", err)
	}
	b, _ := p.MarshalJSON()
	if strings.Contains(string(b), "registry-secret") {
		t.Fatalf("the pool's registry password came back: %s", b)
	}
}
