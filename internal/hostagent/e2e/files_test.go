package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"

	"github.com/cobaltbatch/cobalt/internal/hostproto"
	"github.com/cobaltbatch/cobalt/internal/sdkharness"
)

// probeScript is a task's probe of its host's file API from inside its
// node: its curl exit status goes to probe.txt in its working directory.
func probeScript(hostAddr string) string {
	return `(curl -sk --max-time 3 "https://` + hostAddr + `:` + strconv.Itoa(hostproto.FilesPort) + `/files/v1/list?node=$AZ_BATCH_NODE_ID&recursive=true"; rc=$?; echo; echo rc=$rc) > "$AZ_BATCH_TASK_WORKING_DIR/probe.txt" 2>&1 || true
`
}

// checkJoinedNodeFiles reads a task's and its node's files on a joined host
// with azbatch, as on a local node: the file list, content, ocp-range,
// properties, and a delete; and checks that the task could not reach its
// host's file API (its probe.txt).
func checkJoinedNodeFiles(ctx context.Context, t *testing.T, data, endpoint, pool, job, remoteNode, remoteTask, localTask string) {
	t.Helper()
	env := sdkharness.FromDataDir(t, data)
	bc, err := azbatch.NewClient("https://"+endpoint, env.Admin(), &azbatch.ClientOptions{ClientOptions: env.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	names := func(task string) []string {
		var out []string
		pg := bc.NewListTaskFilesPager(job, task, &azbatch.ListTaskFilesOptions{Recursive: to.Ptr(true)})
		for pg.More() {
			p, err := pg.NextPage(ctx)
			if err != nil {
				t.Fatalf("list files of %s: %v", task, err)
			}
			for _, f := range p.Value {
				out = append(out, *f.Name)
			}
		}
		return out
	}
	remoteNames, localNames := names(remoteTask), names(localTask)
	if !slices.Equal(remoteNames, localNames) || !slices.Contains(remoteNames, "stdout.txt") || !slices.Contains(remoteNames, "wd/probe.txt") {
		t.Errorf("files of the joined node's task %v, of the local node's %v: want the same, with stdout.txt and wd/probe.txt", remoteNames, localNames)
	}
	get := func(path, rng string) string {
		opts := &azbatch.GetTaskFileOptions{}
		if rng != "" {
			opts.OCPRange = to.Ptr(rng)
		}
		r, err := bc.GetTaskFile(ctx, job, remoteTask, path, opts)
		if err != nil {
			t.Fatalf("get %s %s: %v", path, rng, err)
		}
		defer r.Body.Close()
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := get("stdout.txt", ""); got != "hello from sa1" {
		t.Errorf("stdout.txt of the joined node's task = %q", got)
	}
	if got := get("stdout.txt", "bytes=6-9"); got != "from" {
		t.Errorf("stdout.txt bytes=6-9 = %q, want from", got)
	}
	if got := get("stdout.txt", "bytes=-3"); got != "sa1" {
		t.Errorf("stdout.txt bytes=-3 = %q, want sa1", got)
	}
	// A task cannot reach its host's file API: its probe's curl failed.
	if probe := get("wd/probe.txt", ""); !strings.Contains(probe, "rc=") || strings.Contains(probe, "rc=0\n") || strings.Contains(probe, `"files"`) {
		t.Errorf("the task reached its host's file API: %q", probe)
	} else {
		t.Logf("the task's probe of its host's file API: %q", probe)
	}
	tp, err := bc.GetTaskFileProperties(ctx, job, remoteTask, "stdout.txt", nil)
	if err != nil || tp.ContentLength == nil || *tp.ContentLength != 14 || tp.OCPBatchFileIsDirectory == nil || *tp.OCPBatchFileIsDirectory {
		t.Errorf("task file properties: %+v, %v", tp, err)
	}
	// Node files: the task's stdout.txt through the node's root, and the
	// node root's listing.
	var taskRel string
	pg := bc.NewListNodeFilesPager(pool, remoteNode, &azbatch.ListNodeFilesOptions{Recursive: to.Ptr(true)})
	for pg.More() && taskRel == "" {
		p, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("list node files: %v", err)
		}
		for _, f := range p.Value {
			if strings.HasSuffix(*f.Name, "/"+remoteTask+"/stdout.txt") {
				taskRel = *f.Name
			}
		}
	}
	if taskRel == "" {
		t.Fatalf("the joined node's files list no %s/stdout.txt", remoteTask)
	}
	np, err := bc.GetNodeFileProperties(ctx, pool, remoteNode, taskRel, nil)
	if err != nil || np.ContentLength == nil || *np.ContentLength != 14 || np.OCPBatchFileMode == nil || np.OCPBatchFileURL == nil {
		t.Errorf("node file properties of %s: %+v, %v", taskRel, np, err)
	}
	nf, err := bc.GetNodeFile(ctx, pool, remoteNode, taskRel, &azbatch.GetNodeFileOptions{OCPRange: to.Ptr("bytes=0-4")})
	if err != nil {
		t.Fatalf("get node file: %v", err)
	}
	b, _ := io.ReadAll(nf.Body)
	nf.Body.Close()
	if string(b) != "hello" {
		t.Errorf("node file %s bytes=0-4 = %q", taskRel, b)
	}
	// Errors as on a local node: an escaping path, a missing file.
	var re *azcore.ResponseError
	if _, err := bc.GetNodeFile(ctx, pool, remoteNode, "../../../host.json", nil); !errors.As(err, &re) ||
		(re.StatusCode != http.StatusBadRequest && re.StatusCode != http.StatusNotFound) {
		t.Errorf("escaping node file path: %v, want 400 or 404", err)
	}
	if _, err := bc.GetTaskFile(ctx, job, remoteTask, "nope.txt", nil); !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
		t.Errorf("missing task file: %v, want 404", err)
	}
	// Delete.
	if _, err := bc.DeleteTaskFile(ctx, job, remoteTask, "wd/probe.txt", nil); err != nil {
		t.Errorf("delete task file: %v", err)
	}
	if _, err := bc.GetTaskFileProperties(ctx, job, remoteTask, "wd/probe.txt", nil); !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
		t.Errorf("deleted task file: %v, want 404", err)
	}
}
