package batch

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

func TestRegistryPorts(t *testing.T) {
	cc := &nodeproto.ContainerConfiguration{ImageNames: []string{"127.0.0.1:5001/a:1", "busybox", "myacr.azurecr.io/x:1"},
		Registries: []nodeproto.ContainerRegistry{{Server: "localhost:5002"}, {Server: "https://[::1]:5003"}, {Server: "10.0.0.1:5004"},
			{Server: "127.0.0.1:5001"}, {Server: "127.0.0.1:99999"}}}
	st := &nodeproto.StartTask{Container: &nodeproto.ContainerSettings{ImageName: "127.0.0.1:5005/b", Registry: &nodeproto.ContainerRegistry{Server: "example.com:5006"}}}
	got := registryPorts(cc, st, "")
	slices.Sort(got)
	if want := []int{5001, 5002, 5003, 5005}; !slices.Equal(got, want) {
		t.Fatalf("registryPorts = %v, want %v", got, want)
	}
	// The public address is this machine too; other addresses are not.
	got = registryPorts(cc, st, "10.0.0.1")
	slices.Sort(got)
	if want := []int{5001, 5002, 5003, 5004, 5005}; !slices.Equal(got, want) {
		t.Fatalf("registryPorts with public 10.0.0.1 = %v, want %v", got, want)
	}
}

func TestStartTaskContainer(t *testing.T) {
	cs, err := startTaskContainer([]byte(`{"imageName":"r/i:1","containerRunOptions":"--rm","workingDirectory":"ContainerImageDefault",
		"registry":{"registryServer":"r","identityReference":{"resourceId":"/x"}},"containerHostBatchBindMounts":[{"source":"Shared","isReadOnly":true}]}`))
	if err != nil || cs.ImageName != "r/i:1" || cs.WorkingDirectory != "containerImageDefault" || cs.Registry.IdentityResourceID != "/x" ||
		len(cs.BindMounts) != 1 || !cs.BindMounts[0].ReadOnly {
		t.Fatalf("startTaskContainer = %+v, %v", cs, err)
	}
	if cs, err := startTaskContainer(nil); cs != nil || err != nil {
		t.Fatalf("no settings: %+v %v", cs, err)
	}
	if _, err := startTaskContainer([]byte(`{"imageName":3}`)); err == nil {
		t.Fatal("a bad value decoded")
	}
}

func TestAgentErrorsBounded(t *testing.T) {
	var es []nodeproto.NodeError
	for range 20 {
		es = append(es, nodeproto.NodeError{Code: strings.Repeat("c", 5000), Message: "m"})
	}
	out := agentErrors(es)
	if len(out) != maxAgentErrors || len(out[0].Code) != maxAgentErrorText {
		t.Fatalf("agentErrors kept %d errors, code of %d bytes", len(out), len(out[0].Code))
	}
}

// FuzzStartTaskContainer: stored containerSettings of any shape decode or
// are refused, never panic; decoded enums are only Batch's.
func FuzzStartTaskContainer(f *testing.F) {
	f.Add([]byte(`{"imageName":"a","workingDirectory":"ContainerImageDefault","containerHostBatchBindMounts":[{"source":"Task"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := startTaskContainer(b)
		if err != nil || cs == nil {
			return
		}
		switch cs.WorkingDirectory {
		case "", "taskWorkingDirectory", "containerImageDefault":
		default:
			t.Fatalf("working directory %q", cs.WorkingDirectory)
		}
	})
}

// TestContainerNodeConfig: a container pool's node gets the container
// configuration, the loopback registry's port forwarded and the registry
// passwords at registration; the node record keeps no password.
func TestContainerNodeConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	spec := armPool(1)
	spec.Pool.VirtualMachineConfiguration.ContainerConfiguration = &cobalt.ContainerConfiguration{Type: "DockerCompatible",
		ContainerImageNames: []string{"127.0.0.1:5123/tasks/busybox:v1"},
		ContainerRegistries: []cobalt.ContainerRegistry{{RegistryServer: "127.0.0.1:5123", Username: "robot", Password: "pool-secret"}}}
	spec.Pool.StartTask = &cobalt.StartTask{CommandLine: "true", ContainerSettings: []byte(
		`{"imageName":"localhost:5124/x:1","registry":{"registryServer":"localhost:5124","username":"st","password":"start-secret"}}`)}
	spec.Set(FStartTask)
	e.put("p", spec)
	e.settle("p")
	n := e.nodes_("p")[0]
	if b, _ := json.Marshal(n.Config); strings.Contains(string(b), "secret") {
		t.Fatalf("the node record keeps a registry password: %s", b)
	}
	cfg, err := e.svc.NodeRegister(ctx, n, nodeproto.RegisterRequest{NodeID: n.ID})
	if err != nil {
		t.Fatal(err)
	}
	if cc := cfg.Containers; cc == nil || len(cc.ImageNames) != 1 || cc.Registries[0].Password != "pool-secret" {
		t.Fatalf("containers %+v", cfg.Containers)
	}
	if st := cfg.StartTask; st == nil || st.Container == nil || st.Container.Registry.Password != "start-secret" {
		t.Fatalf("start task %+v", cfg.StartTask)
	}
	if !slices.Contains(cfg.ForwardPorts, 5123) || !slices.Contains(cfg.ForwardPorts, 5124) {
		t.Fatalf("forward ports %v", cfg.ForwardPorts)
	}
	again, _ := e.svc.NodeGet(ctx, e.acct.Key(), "p", n.ID)
	if b, _ := json.Marshal(again.Config); strings.Contains(string(b), "secret") {
		t.Fatalf("registration stored a password: %s", b)
	}
}
