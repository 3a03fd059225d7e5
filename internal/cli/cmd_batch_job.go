package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

var jobColumns = []column{col("Id", "id"), col("State", "state"), col("PoolId", "poolInfo.poolId"), col("Created", "creationTime")}

var taskColumns = []column{col("Id", "id"), col("State", "state"), col("ExitCode", "executionInfo.exitCode"),
	col("Result", "executionInfo.result"), col("NodeId", "nodeInfo.nodeId"), col("CommandLine", "commandLine")}

// batchJobCmd manages jobs on the data plane.
func batchJobCmd(g *globals) *cobra.Command {
	var t batchTarget
	var id, pool, jsonFile string
	jobPath := func() string { return "/jobs/" + url.PathEscape(id) }
	withData := func(fn func(ctx context.Context, bd *batchData) (any, error)) func(*cobra.Command, []string) error {
		return action(g, jobColumns, func(ctx context.Context, c *client) (any, error) {
			bd, err := c.batch(ctx, t)
			if err != nil {
				return nil, err
			}
			return fn(ctx, bd)
		})
	}
	named := func(cmd *cobra.Command, flag string) *cobra.Command {
		cmd.Flags().StringVar(&id, flag, "", "job ID")
		return required(batchFlags(g, cmd, &t), flag)
	}

	create := batchFlags(g, leaf("create", "Create a job on a pool", withData(func(ctx context.Context, bd *batchData) (any, error) {
		body := map[string]any{"id": id, "poolInfo": map[string]any{"poolId": pool}}
		if jsonFile != "" {
			var err error
			if body, err = readJSONFile(jsonFile); err != nil {
				return nil, err
			}
			if s, _ := body["id"].(string); s != "" {
				id = s
			}
		} else if id == "" || pool == "" {
			return nil, &apiError{Code: "MissingArgument", Message: "--id and --pool-id are required (or --json FILE)."}
		}
		if err := bd.call(ctx, http.MethodPost, "/jobs", nil, body, nil, http.StatusCreated); err != nil {
			return nil, err
		}
		return bd.get(ctx, jobPath())
	})), &t)
	create.Flags().StringVar(&id, "id", "", "job ID")
	create.Flags().StringVar(&pool, "pool-id", "", "pool the job's tasks run on")
	create.Flags().StringVar(&jsonFile, "json", "", "file with the full job body (instead of --id and --pool-id)")

	show := named(leaf("show", "Show a job", withData(func(ctx context.Context, bd *batchData) (any, error) {
		return bd.get(ctx, jobPath())
	})), "job-id")

	list := batchFlags(g, leaf("list", "List jobs", withData(func(ctx context.Context, bd *batchData) (any, error) {
		return bd.list(ctx, "/jobs", nil)
	})), &t)

	del := named(leaf("delete", "Delete a job and its tasks", withData(func(ctx context.Context, bd *batchData) (any, error) {
		return nil, bd.call(ctx, http.MethodDelete, jobPath(), nil, nil, nil, http.StatusAccepted)
	})), "job-id")
	del.Flags().BoolP("yes", "y", false, "do not prompt for confirmation (there is no prompt)")

	return group("job", "Manage Batch jobs", create, show, list, del)
}

// taskSpec holds the flags that build a task body.
type taskSpec struct {
	id, cmdLine, jsonFile string
	resourceFiles, env    []string
	retries               int
}

func (s *taskSpec) body(c *client, t batchTarget, ctx context.Context) (map[string]any, error) {
	if s.jsonFile != "" {
		body, err := readJSONFile(s.jsonFile)
		if id, _ := body["id"].(string); err == nil && id != "" {
			s.id = id
		}
		return body, err
	}
	if s.id == "" || s.cmdLine == "" {
		return nil, &apiError{Code: "MissingArgument", Message: "--task-id and --command-line are required (or --json FILE)."}
	}
	body := map[string]any{"id": s.id, "commandLine": s.cmdLine}
	if s.retries != 0 {
		body["constraints"] = map[string]any{"maxTaskRetryCount": s.retries}
	}
	if len(s.env) > 0 {
		var env []any
		for _, kv := range s.env {
			k, v, _ := strings.Cut(kv, "=")
			if k == "" {
				return nil, invalidArg("--env", kv, "want NAME=VALUE")
			}
			env = append(env, map[string]any{"name": k, "value": v})
		}
		body["environmentSettings"] = env
	}
	if len(s.resourceFiles) > 0 {
		// A name is an identity in the account's resource group.
		group := t.group
		if group == "" {
			id, err := c.batchAccountID(ctx, t)
			if err != nil {
				return nil, err
			}
			group = idSegment(id, "resourceGroups")
		}
		rfs, err := parseResourceFiles(s.resourceFiles, func(id string) string { return c.identityID(group, id) })
		if err != nil {
			return nil, err
		}
		body["resourceFiles"] = rfs
	}
	return body, nil
}

// batchTaskCmd manages tasks and their files on the data plane.
func batchTaskCmd(g *globals) *cobra.Command {
	var t batchTarget
	var job, filePath, dest string
	var spec taskSpec
	var wait, recursive bool
	var timeout time.Duration
	taskPath := func() string { return "/jobs/" + url.PathEscape(job) + "/tasks/" + url.PathEscape(spec.id) }
	withData := func(cols []column, fn func(ctx context.Context, c *client, bd *batchData) (any, error)) func(*cobra.Command, []string) error {
		return action(g, cols, func(ctx context.Context, c *client) (any, error) {
			bd, err := c.batch(ctx, t)
			if err != nil {
				return nil, err
			}
			return fn(ctx, c, bd)
		})
	}
	jobFlag := func(cmd *cobra.Command, withTask bool) *cobra.Command {
		cmd.Flags().StringVar(&job, "job-id", "", "job ID")
		required(batchFlags(g, cmd, &t), "job-id")
		if withTask {
			cmd.Flags().StringVar(&spec.id, "task-id", "", "task ID")
			required(cmd, "task-id")
		}
		return cmd
	}

	create := jobFlag(leaf("create", "Add a task to a job", withData(taskColumns, func(ctx context.Context, c *client, bd *batchData) (any, error) {
		body, err := spec.body(c, t, ctx)
		if err != nil {
			return nil, err
		}
		if err := bd.call(ctx, http.MethodPost, "/jobs/"+url.PathEscape(job)+"/tasks", nil, body, nil, http.StatusCreated); err != nil {
			return nil, err
		}
		if wait {
			return waitTask(ctx, g, bd, job, spec.id, timeout)
		}
		return bd.get(ctx, taskPath())
	})), false)
	f := create.Flags()
	f.StringVar(&spec.id, "task-id", "", "task ID")
	f.StringVar(&spec.cmdLine, "command-line", "", "command line (not run under a shell: use /bin/sh -c '...')")
	f.StringArrayVar(&spec.resourceFiles, "resource-file", nil, "resource file, e.g. httpUrl=URL,filePath=NAME,identity=ID (repeatable; see `batch pool create`)")
	f.StringArrayVar(&spec.env, "env", nil, "environment variable NAME=VALUE (repeatable)")
	f.IntVar(&spec.retries, "max-task-retry-count", 0, "retries after a failure (-1: unlimited)")
	f.StringVar(&spec.jsonFile, "json", "", "file with the full task body")
	f.BoolVar(&wait, "wait", false, "wait for the task to complete (live state on a terminal); fails if the task fails")
	f.DurationVar(&timeout, "timeout", 30*time.Minute, "how long --wait waits")

	show := jobFlag(leaf("show", "Show a task", withData(taskColumns, func(ctx context.Context, c *client, bd *batchData) (any, error) {
		return bd.get(ctx, taskPath())
	})), true)

	list := jobFlag(leaf("list", "List the tasks of a job", withData(taskColumns, func(ctx context.Context, c *client, bd *batchData) (any, error) {
		return bd.list(ctx, "/jobs/"+url.PathEscape(job)+"/tasks", nil)
	})), false)

	fileColumns := []column{col("Name", "name"), col("IsDirectory", "isDirectory"), col("Length", "properties.contentLength"), col("LastModified", "properties.lastModified")}
	fileList := jobFlag(leaf("list", "List the files of a task", withData(fileColumns, func(ctx context.Context, c *client, bd *batchData) (any, error) {
		return bd.list(ctx, taskPath()+"/files", url.Values{"recursive": {fmt.Sprint(recursive)}})
	})), true)
	fileList.Flags().BoolVar(&recursive, "recursive", true, "include files in subdirectories")

	fileGet := jobFlag(leaf("download", "Download a task file (to stdout without --destination)", withData(nil, func(ctx context.Context, c *client, bd *batchData) (any, error) {
		p := taskPath() + "/files/" + url.PathEscape(filePath)
		if dest == "" || dest == "-" {
			_, err := bd.download(ctx, p, g.Stdout)
			return nil, err
		}
		out, err := os.Create(dest)
		if err != nil {
			return nil, err
		}
		n, err := bd.download(ctx, p, out)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		return map[string]any{"filePath": filePath, "destination": dest, "contentLength": n}, nil
	})), true)
	fileGet.Flags().StringVar(&filePath, "file-path", "", "file path in the task directory, e.g. stdout.txt or wd/out.txt")
	fileGet.Flags().StringVar(&dest, "destination", "", "local file (default: stdout)")
	required(fileGet, "file-path")

	return group("task", "Manage Batch tasks", create, show, list, group("file", "Read task files", fileList, fileGet))
}

// waitTask polls a task until it completes, showing its state on a terminal.
// A failed task prints its JSON and then is an error that carries the exit
// code and failure message, so scripts see a non-zero exit.
func waitTask(ctx context.Context, g *globals, bd *batchData, job, task string, timeout time.Duration) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pr := newProgress(g)
	defer pr.done()
	start := time.Now()
	poll := newPoller(bd.c.poll)
	path := "/jobs/" + url.PathEscape(job) + "/tasks/" + url.PathEscape(task)
	for {
		raw, err := bd.get(ctx, path)
		if err != nil {
			return nil, err
		}
		var st struct {
			State         string
			NodeInfo      struct{ NodeID string }
			ExecutionInfo struct {
				ExitCode    *int
				Result      string
				FailureInfo struct{ Code, Message string }
			}
		}
		_ = json.Unmarshal(raw, &st)
		line := fmt.Sprintf("task %s/%s: %s", job, task, st.State)
		if st.NodeInfo.NodeID != "" {
			line += " on " + st.NodeInfo.NodeID
		}
		pr.update(fmt.Sprintf("%s (%s)", line, time.Since(start).Round(time.Second)))
		if st.State == "completed" {
			if st.ExecutionInfo.Result == "failure" {
				pr.done()
				_ = printResult(g, raw, taskColumns)
				msg := st.ExecutionInfo.FailureInfo.Message
				if st.ExecutionInfo.ExitCode != nil {
					msg = fmt.Sprintf("exit code %d. %s", *st.ExecutionInfo.ExitCode, msg)
				}
				return nil, &apiError{Code: "TaskFailed", Message: strings.TrimSpace("Task " + task + " failed: " + msg)}
			}
			return raw, nil
		}
		if err := poll.wait(ctx); err != nil {
			return nil, fmt.Errorf("waiting for task %s: %w", task, err)
		}
	}
}
