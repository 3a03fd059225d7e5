package batch

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// nodeContainers is a pool's container configuration as its nodes get it,
// registry passwords included (a node needs them to pull).
func nodeContainers(p *Pool) *nodeproto.ContainerConfiguration {
	vc := p.VirtualMachineConfiguration
	if vc == nil || vc.ContainerConfiguration == nil {
		return nil
	}
	cc := vc.ContainerConfiguration
	out := &nodeproto.ContainerConfiguration{Type: cc.Type, ImageNames: slices.Clone(cc.ContainerImageNames)}
	for _, r := range cc.ContainerRegistries {
		out.Registries = append(out.Registries, nodeRegistry(r))
	}
	return out
}

func nodeRegistry(r cobalt.ContainerRegistry) nodeproto.ContainerRegistry {
	out := nodeproto.ContainerRegistry{Server: r.RegistryServer, Username: r.Username, Password: r.Password}
	if r.IdentityReference != nil {
		out.IdentityResourceID = r.IdentityReference.ResourceID
	}
	return out
}

// startTaskContainerWire is a start task's containerSettings as stored
// (raw JSON, ARM or data-plane spelling; field names match either way).
type startTaskContainerWire struct {
	ImageName           string `json:"imageName"`
	ContainerRunOptions string `json:"containerRunOptions"`
	Registry            *struct {
		RegistryServer    string `json:"registryServer"`
		Username          string `json:"username"`
		Password          string `json:"password"`
		IdentityReference *struct {
			ResourceID string `json:"resourceId"`
		} `json:"identityReference"`
	} `json:"registry"`
	WorkingDirectory string `json:"workingDirectory"`
	BindMounts       []struct {
		Source     string `json:"source"`
		IsReadOnly bool   `json:"isReadOnly"`
	} `json:"containerHostBatchBindMounts"`
}

// startTaskContainer decodes a start task's raw containerSettings; nil when
// there are none. Enum values are given in Batch's data-plane spelling
// ("taskWorkingDirectory"); bind mount sources keep theirs ("Shared").
func startTaskContainer(raw []byte) (*nodeproto.ContainerSettings, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var w startTaskContainerWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, err
	}
	out := &nodeproto.ContainerSettings{ImageName: w.ImageName, RunOptions: w.ContainerRunOptions}
	switch strings.ToLower(w.WorkingDirectory) {
	case "containerimagedefault":
		out.WorkingDirectory = "containerImageDefault"
	case "taskworkingdirectory":
		out.WorkingDirectory = "taskWorkingDirectory"
	}
	if r := w.Registry; r != nil {
		out.Registry = &nodeproto.ContainerRegistry{Server: r.RegistryServer, Username: r.Username, Password: r.Password}
		if r.IdentityReference != nil {
			out.Registry.IdentityResourceID = r.IdentityReference.ResourceID
		}
	}
	for _, m := range w.BindMounts {
		out.BindMounts = append(out.BindMounts, nodeproto.BindMount{Source: m.Source, ReadOnly: m.IsReadOnly})
	}
	return out, nil
}

// validateContainers checks a pool's container settings: a start task may
// run in a container only on a pool with a container configuration (Batch:
// "If the Pool that will run this Task doesn't have containerConfiguration
// set, this must not be set"), and then must name its image.
func validateContainers(p *Pool, ps paths) error {
	st := p.StartTask
	if st == nil || len(st.ContainerSettings) == 0 || string(st.ContainerSettings) == "null" {
		return nil
	}
	target := ps.of("properties.startTask.containerSettings", "startTask.containerSettings")
	cs, err := startTaskContainer(st.ContainerSettings)
	if err != nil {
		return invalidValue(target, "The start task's containerSettings are not valid.")
	}
	if vc := p.VirtualMachineConfiguration; vc == nil || vc.ContainerConfiguration == nil {
		return invalidValue(target, "The start task specifies containerSettings but the pool has no containerConfiguration: a start task on a pool without a container configuration cannot run in a container.")
	}
	if cs.ImageName == "" {
		return missing(target + ".imageName")
	}
	return nil
}

// registryPorts are the ports of the registries a pool's nodes pull from
// that listen on this machine's loopback (127.0.0.1:PORT, localhost:PORT,
// [::1]:PORT) or on its public address: a netns node reaches them only
// through a forwarded port.
func registryPorts(cc *nodeproto.ContainerConfiguration, st *nodeproto.StartTask, public string) []int {
	var servers []string
	if cc != nil {
		for _, r := range cc.Registries {
			servers = append(servers, r.Server)
		}
		for _, img := range cc.ImageNames {
			servers = append(servers, imageHost(img))
		}
	}
	if st != nil && st.Container != nil {
		if st.Container.Registry != nil {
			servers = append(servers, st.Container.Registry.Server)
		}
		servers = append(servers, imageHost(st.Container.ImageName))
	}
	var ports []int
	for _, s := range servers {
		if p := localPort(s, public); p > 0 && !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports
}

// imageHost is the registry host of an image reference ("" for none).
func imageHost(image string) string {
	host, _, ok := strings.Cut(image, "/")
	if !ok {
		return ""
	}
	return host
}

// localPort is the port of a loopback or public host:port (with an
// optional https:// prefix), 0 for any other server.
func localPort(server, public string) int {
	server = strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	server, _, _ = strings.Cut(server, "/")
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		return 0
	}
	if !strings.EqualFold(host, "localhost") && (public == "" || !strings.EqualFold(host, public)) {
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return 0
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 {
		return 0
	}
	return n
}

// maxAgentErrors bounds the errors a node's agent may report, and
// maxAgentErrorText each of their texts: the agent's report is untrusted.
const (
	maxAgentErrors    = 8
	maxAgentErrorText = 1024
)

// agentErrors are the errors an agent reported, bounded, as the node's errors.
func agentErrors(es []nodeproto.NodeError) []cobalt.ResizeError {
	out := make([]cobalt.ResizeError, 0, min(len(es), maxAgentErrors))
	clip := func(s string) string {
		if len(s) > maxAgentErrorText {
			return s[:maxAgentErrorText]
		}
		return s
	}
	for _, e := range es[:min(len(es), maxAgentErrors)] {
		re := cobalt.ResizeError{Code: clip(e.Code), Message: clip(e.Message)}
		for _, d := range e.Details[:min(len(e.Details), maxAgentErrors)] {
			re.Values = append(re.Values, cobalt.NameValue{Name: clip(d.Name), Value: clip(d.Value)})
		}
		out = append(out, re)
	}
	return out
}

// stripRegistryPasswords leaves registry passwords out of a node's
// configuration as the node record keeps it.
func stripRegistryPasswords(cfg *nodeproto.NodeConfig) {
	if cc := cfg.Containers; cc != nil {
		c := *cc
		c.Registries = slices.Clone(c.Registries)
		for i := range c.Registries {
			c.Registries[i].Password = ""
		}
		cfg.Containers = &c
	}
	if st := cfg.StartTask; st != nil && st.Container != nil && st.Container.Registry != nil {
		t, c, r := *st, *st.Container, *st.Container.Registry
		r.Password = ""
		c.Registry, t.Container = &r, &c
		cfg.StartTask = &t
	}
}

// registrySecrets puts the pool's current registry passwords into the
// configuration a registering node gets (registries matched by server and
// user name); a pool that is gone gives none.
func (s *Service) registrySecrets(ctx context.Context, n *Node, cfg *nodeproto.NodeConfig) {
	needs := cfg.Containers != nil || (cfg.StartTask != nil && cfg.StartTask.Container != nil && cfg.StartTask.Container.Registry != nil)
	if !needs {
		return
	}
	p, err := s.PoolGet(ctx, n.AccountKey, n.PoolID)
	if err != nil {
		return
	}
	var known []nodeproto.ContainerRegistry
	if pc := nodeContainers(p); pc != nil {
		known = append(known, pc.Registries...)
	}
	if p.StartTask != nil {
		if cs, _ := startTaskContainer(p.StartTask.ContainerSettings); cs != nil && cs.Registry != nil {
			known = append(known, *cs.Registry)
		}
	}
	fill := func(r *nodeproto.ContainerRegistry) {
		for _, k := range known {
			if r.Username != "" && strings.EqualFold(k.Server, r.Server) && k.Username == r.Username {
				r.Password = k.Password
				return
			}
		}
	}
	if cc := cfg.Containers; cc != nil {
		c := *cc
		c.Registries = slices.Clone(c.Registries)
		for i := range c.Registries {
			fill(&c.Registries[i])
		}
		cfg.Containers = &c
	}
	if st := cfg.StartTask; st != nil && st.Container != nil && st.Container.Registry != nil {
		t, c, r := *st, *st.Container, *st.Container.Registry
		fill(&r)
		c.Registry, t.Container = &r, &c
		cfg.StartTask = &t
	}
}
