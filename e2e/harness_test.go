package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/sandbox"
	"github.com/cobaltbatch/cobalt/internal/sdkharness"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestMain(m *testing.M) {
	sandbox.Main()
	runTaskMode() // when a node started this binary as a task
	testenv.LoopbackOnly(m)
}

// env is one running Cobalt and the clients' view of it (the shared SDK
// harness), with this suite's helpers.
type env struct{ *sdkharness.Env }

func startWith(t testing.TB, opts server.Options) *env {
	t.Helper()
	return &env{sdkharness.Start(t, opts)}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return c
}

// node runs a script from test/node/e2e with the Node SDK clients and returns
// its stdout decoded as JSON into out (when out is not nil).
func (e *env) node(script string, input any, out any) {
	e.T.Helper()
	r := testenv.NodeRun{Script: "e2e/" + script, Input: input}
	if out == nil {
		e.Node(context.Background(), r)
		return
	}
	e.NodeJSON(context.Background(), r, out)
}
