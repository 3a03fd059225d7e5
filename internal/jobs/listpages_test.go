package jobs

import (
	"fmt"
	"testing"

	"github.com/cobaltbatch/cobalt"
)

// TestListTasksPagesInOrder lists pages large enough to be decoded on
// several goroutines: every task comes back once, in ID order, each with
// its own spec, and a filter still applies.
func TestListTasksPagesInOrder(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	ctx := t.Context()
	mustJob(t, s, cobalt.JobSpec{ID: "j"})
	for c := range 4 {
		specs := make([]cobalt.TaskSpec, 100)
		for i := range specs {
			n := c*100 + i
			specs[i] = cobalt.TaskSpec{ID: fmt.Sprintf("t%04d", n), CommandLine: fmt.Sprintf("echo %d", n)}
		}
		if _, err := s.AddTaskCollection(ctx, acct, "j", specs); err != nil {
			t.Fatal(err)
		}
	}
	var got []cobalt.Task
	for tok := ""; ; {
		page, next, err := s.ListTasks(ctx, acct, "j", ListOptions{MaxResults: 300, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		tok = next
	}
	if len(got) != 400 {
		t.Fatalf("listed %d tasks, want 400", len(got))
	}
	for i, task := range got {
		if task.ID != fmt.Sprintf("t%04d", i) || task.CommandLine != fmt.Sprintf("echo %d", i) || task.State != cobalt.TaskActive {
			t.Fatalf("task %d = %s %q %s", i, task.ID, task.CommandLine, task.State)
		}
	}
	l, _, err := s.ListTasks(ctx, acct, "j", ListOptions{Filter: mustFilter(t, "id eq 't0399'")})
	if err != nil || len(l) != 1 || l[0].ID != "t0399" {
		t.Fatalf("filtered list = %d tasks, %v", len(l), err)
	}
}
