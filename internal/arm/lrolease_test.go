package arm

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
)

// Operations a dead replica left in progress are taken over by another:
// finished with the provider's resume function when it declared one, failed
// otherwise; one whose owner still renews its lease is left alone.
func TestAbandonedOperationsAreTakenOver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	const guid3 = "31111111-2222-3333-4444-555555555555"
	past, future := "2020-01-01T00:00:00Z", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	// Started after the fixture's own front door, which on SQLite fails
	// at its start the operations begun before it.
	started := time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)
	target := "/subscriptions/" + testSub + "/resourceGroups/rg1"
	put := func(name, kind, lease string) cobalt.ResourceID {
		id := operationID(testSub, name)
		body := `{"status":"InProgress","startTime":"` + started + `","caller":"` + adminOID + `","resourceId":"` + target +
			`","kind":"` + kind + `","owner":"dead","leaseUntil":"` + lease + `"}`
		if _, err := f.s.ResourceCreate(ctx, NewResource(id, []byte(body))); err != nil {
			t.Fatal(err)
		}
		return id
	}
	resumable, plain, live := put(guid1, "test/resume", past), put(guid2, "", past), put(guid3, "test/resume", future)

	resumed := make(chan string, 4)
	cfg := f.srv.cfg
	cfg.OperationPoll, cfg.OperationLease = 5*time.Millisecond, time.Minute
	cfg.Providers = []Provider{ProviderFunc(func(g *Registrar) error {
		g.Resume("test/resume", func(_ context.Context, id cobalt.ResourceID) (any, error) {
			resumed <- id.String()
			return map[string]string{"done": id.Name()}, nil
		})
		return nil
	})}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = srv.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()

	status := func(id cobalt.ResourceID) operationRecord {
		r, err := f.s.ResourceGet(ctx, id.Key())
		if err != nil {
			t.Fatal(err)
		}
		var rec operationRecord
		if err := json.Unmarshal(r.Body, &rec); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	for i := 0; ; i++ {
		a, b := status(resumable), status(plain)
		if a.Status != OpInProgress && b.Status != OpInProgress {
			if a.Status != OpSucceeded || string(a.Result) != `{"done":"rg1"}` {
				t.Errorf("the resumable operation: %s %s", a.Status, a.Result)
			}
			if b.Status != OpFailed || b.Error == nil || b.Error.Code != "OperationInterrupted" {
				t.Errorf("the operation without a resume function: %s %+v", b.Status, b.Error)
			}
			break
		}
		if i == 2000 {
			t.Fatalf("abandoned operations stayed in progress: %s, %s", a.Status, b.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case got := <-resumed:
		if got != target {
			t.Errorf("resumed on %s, want %s", got, target)
		}
	default:
		t.Error("the resume function was not called")
	}
	if rec := status(live); rec.Status != OpInProgress || rec.Owner != "dead" {
		t.Errorf("an operation under a live lease was taken: %s owned by %s", rec.Status, rec.Owner)
	}
	select {
	case id := <-resumed:
		t.Errorf("resumed twice (or the live one): %s", id)
	default:
	}
}

// The process that started an operation and lost it to another replica
// cannot overwrite the end the other recorded.
func TestFinishKeepsTheFirstEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	id := operationID(testSub, guid1)
	body := `{"status":"Succeeded","startTime":"2020-01-01T00:00:00Z","caller":"` + adminOID + `","result":{"a":1}}`
	if _, err := f.s.ResourceCreate(ctx, NewResource(id, []byte(body))); err != nil {
		t.Fatal(err)
	}
	f.srv.ops.finish(id, nil, cobalt.Errorf(cobalt.EInternal, "late"))
	r, err := f.s.ResourceGet(ctx, id.Key())
	if err != nil {
		t.Fatal(err)
	}
	var rec operationRecord
	_ = json.Unmarshal(r.Body, &rec)
	if rec.Status != OpSucceeded || string(rec.Result) != `{"a":1}` {
		t.Fatalf("a late finish overwrote the end: %s %s", rec.Status, rec.Result)
	}
}
