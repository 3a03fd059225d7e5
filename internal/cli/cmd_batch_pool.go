package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

var poolColumns = []column{col("Name", "name"), col("VmSize", "properties.vmSize"),
	col("AllocationState", "properties.allocationState"),
	col("Dedicated", "properties.currentDedicatedNodes"),
	col("Target", "properties.scaleSettings.fixedScale.targetDedicatedNodes"),
	col("Identities", "identity.userAssignedIdentities")}

var nodeColumns = []column{col("Id", "id"), col("State", "state"), col("SchedulingState", "schedulingState"),
	col("IPAddress", "ipAddress"), col("VmSize", "vmSize"), col("RunningTasks", "runningTasksCount"),
	{header: "Identities", get: nodeIdentities}}

// nodeIdentities names the identities a node carries (Cobalt reports them
// on each node, since a pool's identity changes reach only new nodes).
func nodeIdentities(o map[string]any) string {
	list, _ := o["identities"].([]any)
	names := make([]string, 0, len(list))
	for _, it := range list {
		id := lookupString(it, "resourceId")
		names = append(names, id[strings.LastIndex(id, "/")+1:])
	}
	return strings.Join(names, ",")
}

// poolSpec holds the flags that build a pool body.
type poolSpec struct {
	vmSize, image, nodeAgent, startCmd, jsonFile string
	identities, resourceFiles                    []string
	target                                       int
	waitForSuccess                               bool
}

// body builds the Microsoft.Batch pool body from the flags. Changed reports
// which flags the user set, so update sends only those.
func (s *poolSpec) body(c *client, group string, changed func(string) bool, create bool) (map[string]any, error) {
	if s.jsonFile != "" {
		for _, f := range poolBodyFlags {
			if changed(f) {
				return nil, &apiError{Code: "InvalidArgumentValue", Message: "--json cannot be combined with --" + f + "."}
			}
		}
		return readJSONFile(s.jsonFile)
	}
	if create {
		for _, f := range []struct{ v, name string }{{s.vmSize, "vm-size"}, {s.image, "image"}, {s.nodeAgent, "node-agent-sku-id"}} {
			if f.v == "" {
				return nil, &apiError{Code: "MissingArgument", Message: "--" + f.name + " is required (or --json FILE)."}
			}
		}
	}
	props := map[string]any{}
	body := map[string]any{"properties": props}
	if s.vmSize != "" {
		props["vmSize"] = s.vmSize
	}
	if s.image != "" || s.nodeAgent != "" {
		p := strings.Split(s.image, ":")
		if len(p) != 4 {
			return nil, invalidArg("--image", s.image, "want publisher:offer:sku:version")
		}
		props["deploymentConfiguration"] = map[string]any{"virtualMachineConfiguration": map[string]any{
			"imageReference": map[string]any{"publisher": p[0], "offer": p[1], "sku": p[2], "version": p[3]},
			"nodeAgentSkuId": s.nodeAgent,
		}}
	}
	if changed("target-dedicated-nodes") {
		props["scaleSettings"] = map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": s.target}}
	}
	if changed("identity") {
		if len(s.identities) == 1 && strings.EqualFold(s.identities[0], "none") {
			body["identity"] = map[string]any{"type": "None"}
		} else {
			ids := map[string]any{}
			for _, id := range s.identities {
				ids[c.identityID(group, id)] = map[string]any{}
			}
			body["identity"] = map[string]any{"type": "UserAssigned", "userAssignedIdentities": ids}
		}
	}
	if s.startCmd != "" || len(s.resourceFiles) > 0 || changed("start-task-wait-for-success") {
		st := map[string]any{"commandLine": s.startCmd, "waitForSuccess": s.waitForSuccess}
		if len(s.resourceFiles) > 0 {
			rfs, err := parseResourceFiles(s.resourceFiles, func(id string) string { return c.identityID(group, id) })
			if err != nil {
				return nil, err
			}
			st["resourceFiles"] = rfs
		}
		props["startTask"] = st
	}
	return body, nil
}

// poolBodyFlags are the flags that --json replaces.
var poolBodyFlags = []string{"vm-size", "image", "node-agent-sku-id", "target-dedicated-nodes", "identity",
	"start-task-command-line", "start-task-resource-file", "start-task-wait-for-success"}

func (s *poolSpec) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.vmSize, "vm-size", "", "VM size, e.g. STANDARD_D2S_V3")
	f.StringVar(&s.image, "image", "", "image as publisher:offer:sku:version")
	f.StringVar(&s.nodeAgent, "node-agent-sku-id", "", "node agent SKU, e.g. \"batch.node.ubuntu 22.04\"")
	f.IntVar(&s.target, "target-dedicated-nodes", 0, "number of dedicated nodes")
	f.StringArrayVar(&s.identities, "identity", nil, "user-assigned identity (name in the account's group, or resource ID); repeatable; \"none\" removes them")
	f.StringVar(&s.startCmd, "start-task-command-line", "", "start task command line (not run under a shell)")
	f.StringArrayVar(&s.resourceFiles, "start-task-resource-file", nil, "start task resource file, e.g. containerUrl=URL,identity=NAME (repeatable; keys: containerUrl, httpUrl, autoStorageContainerName, filePath, blobPrefix, fileMode, identity)")
	f.BoolVar(&s.waitForSuccess, "start-task-wait-for-success", true, "keep nodes from taking tasks until the start task succeeds")
	f.StringVar(&s.jsonFile, "json", "", "file with the full Microsoft.Batch pool body (instead of the other flags)")
}

// resourceFileKeys maps the --resource-file keys to the wire names.
var resourceFileKeys = map[string]string{
	"containerurl": "storageContainerUrl", "storagecontainerurl": "storageContainerUrl",
	"httpurl": "httpUrl", "autostoragecontainername": "autoStorageContainerName",
	"filepath": "filePath", "blobprefix": "blobPrefix", "filemode": "fileMode",
	"identity": "identityReference", "identityreference": "identityReference",
}

// parseResourceFile reads "key=value,key=value". A segment that does not start
// with a known key continues the previous value, so URLs may contain commas.
func parseResourceFile(spec string, identityID func(string) string) (map[string]any, error) {
	rf := map[string]any{}
	var last string
	for _, seg := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(seg, "=")
		name, known := resourceFileKeys[strings.ToLower(strings.TrimSpace(k))]
		if !ok || !known {
			if last == "" || last == "identityReference" {
				return nil, invalidArg("--resource-file", spec, fmt.Sprintf("unknown key in %q", seg))
			}
			rf[last] = rf[last].(string) + "," + seg
			continue
		}
		if _, dup := rf[name]; dup {
			return nil, invalidArg("--resource-file", spec, "duplicate key "+k)
		}
		rf[name], last = v, name
	}
	sources := 0
	for _, k := range []string{"storageContainerUrl", "httpUrl", "autoStorageContainerName"} {
		if _, ok := rf[k]; ok {
			sources++
		}
	}
	if sources != 1 {
		return nil, invalidArg("--resource-file", spec, "want exactly one of containerUrl, httpUrl, autoStorageContainerName")
	}
	if id, ok := rf["identityReference"].(string); ok {
		rf["identityReference"] = map[string]any{"resourceId": identityID(id)}
	}
	return rf, nil
}

func parseResourceFiles(specs []string, identityID func(string) string) ([]any, error) {
	out := make([]any, 0, len(specs))
	for _, s := range specs {
		rf, err := parseResourceFile(s, identityID)
		if err != nil {
			return nil, err
		}
		out = append(out, rf)
	}
	return out, nil
}

// batchPoolCmd manages pools through the management plane (the only API that
// sets pool identities) and waits for them through the data plane.
func batchPoolCmd(g *globals) *cobra.Command {
	var t batchTarget
	var id string
	var spec poolSpec
	var wait bool
	var timeout time.Duration
	named := func(cmd *cobra.Command) *cobra.Command {
		cmd.Flags().StringVar(&id, "id", "", "pool name")
		return required(batchFlags(g, cmd, &t), "id")
	}
	poolPath := func(ctx context.Context, c *client) (string, error) {
		acct, err := c.batchAccountID(ctx, t)
		return acct + "/pools/" + url.PathEscape(id), err
	}
	write := func(method string) func(context.Context, *client, *cobra.Command) (any, error) {
		return func(ctx context.Context, c *client, cmd *cobra.Command) (any, error) {
			p, err := poolPath(ctx, c)
			if err != nil {
				return nil, err
			}
			body, err := spec.body(c, idSegment(p, "resourceGroups"), cmd.Flags().Changed, method == http.MethodPut)
			if err != nil {
				return nil, err
			}
			out, err := c.armWrite(ctx, method, p, apiBatchMgmt, body)
			if err != nil || !wait {
				return out, err
			}
			return c.waitPool(ctx, g, t, p, id, timeout)
		}
	}
	waitFlags := func(cmd *cobra.Command) {
		cmd.Flags().BoolVar(&wait, "wait", false, "wait until the pool is steady and its nodes are ready (live progress on a terminal)")
		cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Minute, "how long --wait waits")
	}

	create := named(&cobra.Command{Use: "create", Short: "Create a pool through the management plane", Args: cobra.NoArgs})
	create.RunE = withCmd(g, poolColumns, create, write(http.MethodPut))
	spec.flags(create)
	waitFlags(create)

	update := named(&cobra.Command{Use: "update", Short: "Update a pool's properties (only the flags given)", Args: cobra.NoArgs})
	update.RunE = withCmd(g, poolColumns, update, write(http.MethodPatch))
	spec.flags(update)

	resize := named(&cobra.Command{Use: "resize", Short: "Change a pool's target node count", Args: cobra.NoArgs})
	resize.RunE = withCmd(g, poolColumns, resize, write(http.MethodPatch))
	resize.Flags().IntVar(&spec.target, "target-dedicated-nodes", 0, "number of dedicated nodes")
	required(resize, "target-dedicated-nodes")
	waitFlags(resize)

	show := named(leaf("show", "Show a pool", action(g, poolColumns, func(ctx context.Context, c *client) (any, error) {
		p, err := poolPath(ctx, c)
		if err != nil {
			return nil, err
		}
		return c.armGet(ctx, p, apiBatchMgmt)
	})))

	list := batchFlags(g, leaf("list", "List the pools of an account", action(g, poolColumns, func(ctx context.Context, c *client) (any, error) {
		acct, err := c.batchAccountID(ctx, t)
		if err != nil {
			return nil, err
		}
		return c.armList(ctx, acct+"/pools", apiBatchMgmt)
	})), &t)

	del := named(leaf("delete", "Delete a pool (waits for the long-running operation)", action(g, nil, func(ctx context.Context, c *client) (any, error) {
		p, err := poolPath(ctx, c)
		if err != nil {
			return nil, err
		}
		return nil, c.armDelete(ctx, p, apiBatchMgmt, false)
	})))
	del.Flags().BoolP("yes", "y", false, "do not prompt for confirmation (there is no prompt)")

	return group("pool", "Manage Batch pools", create, show, list, resize, update, del)
}

// withCmd is action for handlers that read the command's flags.
func withCmd(g *globals, cols []column, cmd *cobra.Command, fn func(context.Context, *client, *cobra.Command) (any, error)) func(*cobra.Command, []string) error {
	return action(g, cols, func(ctx context.Context, c *client) (any, error) { return fn(ctx, c, cmd) })
}

// settledNode lists node states that end a --wait; failed ones make it an error.
var settledNode = map[string]bool{"idle": true, "running": true, "starttaskfailed": true, "unusable": true, "offline": true, "preempted": true}
var failedNode = map[string]bool{"starttaskfailed": true, "unusable": true}

// waitPool polls the pool on the data plane until its allocation is steady
// and every node has settled, drawing progress on a terminal; then it returns
// the pool as the management plane shows it.
func (c *client) waitPool(ctx context.Context, g *globals, t batchTarget, armPath, id string, timeout time.Duration) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	bd, err := c.batch(ctx, t)
	if err != nil {
		return nil, err
	}
	pr := newProgress(g)
	defer pr.done()
	poll := newPoller(c.poll)
	for {
		var pool struct {
			AllocationState      string `json:"allocationState"`
			TargetDedicatedNodes int    `json:"targetDedicatedNodes"`
		}
		raw, err := bd.get(ctx, "/pools/"+url.PathEscape(id))
		if err != nil {
			return nil, err
		}
		_ = json.Unmarshal(raw, &pool)
		nodes, err := bd.list(ctx, "/pools/"+url.PathEscape(id)+"/nodes", nil)
		if err != nil {
			return nil, err
		}
		var states, failed []string
		settled := true
		for _, n := range nodes {
			var node struct{ ID, State string }
			_ = json.Unmarshal(n, &node)
			states = append(states, node.State)
			settled = settled && settledNode[node.State]
			if failedNode[node.State] {
				failed = append(failed, node.ID+" is "+node.State)
			}
		}
		pr.update(fmt.Sprintf("pool %s: %s, %d/%d nodes: %s", id, pool.AllocationState, len(nodes), pool.TargetDedicatedNodes, countStates(states)))
		if pool.AllocationState == "steady" && settled && len(nodes) >= pool.TargetDedicatedNodes {
			if len(failed) > 0 {
				return nil, &apiError{Code: "NodesFailed", Message: "Pool " + id + ": " + strings.Join(failed, "; ") + "."}
			}
			return c.armGet(ctx, armPath, apiBatchMgmt)
		}
		if err := poll.wait(ctx); err != nil {
			return nil, fmt.Errorf("waiting for pool %s: %w", id, err)
		}
	}
}

// batchNodeCmd lists and shows compute nodes (data plane).
func batchNodeCmd(g *globals) *cobra.Command {
	var t batchTarget
	var pool, node string
	list := leaf("list", "List the compute nodes of a pool", action(g, nodeColumns, func(ctx context.Context, c *client) (any, error) {
		bd, err := c.batch(ctx, t)
		if err != nil {
			return nil, err
		}
		return bd.list(ctx, "/pools/"+url.PathEscape(pool)+"/nodes", nil)
	}))
	list.Flags().StringVar(&pool, "pool-id", "", "pool ID")
	required(batchFlags(g, list, &t), "pool-id")

	show := leaf("show", "Show a compute node", action(g, nodeColumns, func(ctx context.Context, c *client) (any, error) {
		bd, err := c.batch(ctx, t)
		if err != nil {
			return nil, err
		}
		return bd.get(ctx, "/pools/"+url.PathEscape(pool)+"/nodes/"+url.PathEscape(node))
	}))
	show.Flags().StringVar(&pool, "pool-id", "", "pool ID")
	show.Flags().StringVar(&node, "node-id", "", "node ID")
	required(batchFlags(g, show, &t), "pool-id", "node-id")

	return group("node", "Inspect compute nodes", list, show)
}
