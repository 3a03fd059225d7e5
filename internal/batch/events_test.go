package batch

import (
	"context"
	"errors"
	"testing"

	"github.com/cobaltbatch/cobalt"
)

// TestNodeLostSubscribers: every subscriber hears of a lost node, in the
// order they subscribed, and their errors come back joined.
func TestNodeLostSubscribers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var heard []string
	errA, errB := errors.New("a failed"), errors.New("b failed")
	e.svc.SubscribeNodeLost(func(_ context.Context, n cobalt.NodeRef) error {
		heard = append(heard, "a:"+n.NodeID)
		return errA
	})
	e.svc.SubscribeNodeLost(func(_ context.Context, n cobalt.NodeRef) error {
		heard = append(heard, "b:"+n.NodeID)
		return nil
	})
	e.svc.SubscribeNodeLost(func(_ context.Context, n cobalt.NodeRef) error {
		heard = append(heard, "c:"+n.NodeID)
		return errB
	})
	err := e.svc.publishNodeLost(context.Background(), cobalt.NodeRef{AccountID: "acct", PoolID: "p", NodeID: "n1"})
	if len(heard) != 3 || heard[0] != "a:n1" || heard[1] != "b:n1" || heard[2] != "c:n1" {
		t.Fatalf("heard %v", heard)
	}
	if !errors.Is(err, errA) || !errors.Is(err, errB) {
		t.Fatalf("error %v, want both subscribers' errors", err)
	}
}
