package jobs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/postgres"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
	"github.com/cobaltbatch/cobalt/internal/store/storetest"
)

func dur(d time.Duration) *cobalt.Duration { v := cobalt.Duration(d); return &v }

func scheduleSpec(id string, c cobalt.JobScheduleConfiguration) cobalt.JobScheduleSpec {
	return cobalt.JobScheduleSpec{ID: id, Schedule: c,
		JobSpecification: cobalt.JobSpec{PoolInfo: &cobalt.PoolInformation{PoolID: "pool1"}, Priority: ptr(7)}}
}

// scheduleJobs lists the IDs of the schedule's jobs and how many are not completed.
func scheduleJobs(t *testing.T, s *Service, id string) (ids []string, active int) {
	t.Helper()
	js, _, err := s.ListJobScheduleJobs(t.Context(), acct, id, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range js {
		ids = append(ids, j.ID)
		if j.State != cobalt.JobCompleted {
			active++
		}
	}
	return ids, active
}

func completeJob(t *testing.T, s *Service, id string) {
	t.Helper()
	if err := s.TerminateJob(t.Context(), acct, id, "", Conditions{}); err != nil {
		t.Fatal(err)
	}
}

func fire(t *testing.T, s *Service) {
	t.Helper()
	if err := s.FireDueSchedules(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestScheduleRecursAcrossRestart drives a one-minute schedule with the
// service clock: a job per minute, none while the previous one is active,
// and after a downtime of several minutes one job on start, not one per
// minute missed.
func TestScheduleRecursAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cobalt.db")
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	open := func() (*Service, func()) {
		st, err := sqlite.Open(t.Context(), path, clk.Now)
		if err != nil {
			t.Fatal(err)
		}
		return newService(t, st, Config{Now: clk.Now}), func() { st.Close() }
	}
	s, closeStore := open()
	t0 := clk.Now().Add(time.Minute)
	if _, err := s.AddJobSchedule(t.Context(), acct, scheduleSpec("every-minute",
		cobalt.JobScheduleConfiguration{DoNotRunUntil: &t0, RecurrenceInterval: dur(time.Minute)})); err != nil {
		t.Fatal(err)
	}
	want := func(s *Service, ids []string, next time.Time) {
		t.Helper()
		got, _ := scheduleJobs(t, s, "every-minute")
		if !slices.Equal(got, ids) {
			t.Fatalf("at %s jobs = %v, want %v", clk.Now().Format(time.TimeOnly), got, ids)
		}
		sc, err := s.GetJobSchedule(t.Context(), acct, "every-minute")
		if err != nil {
			t.Fatal(err)
		}
		if nr := sc.ExecutionInfo.NextRunTime; nr == nil || !nr.Equal(next) {
			t.Fatalf("nextRunTime = %v, want %s", nr, next)
		}
	}
	fire(t, s)
	want(s, nil, t0)
	clk.Add(time.Minute)
	fire(t, s)
	fire(t, s)
	want(s, []string{"every-minute:job-1"}, t0.Add(time.Minute))
	j, err := s.GetJob(t.Context(), acct, "every-minute:job-1")
	if err != nil || *j.Priority != 7 || j.PoolInfo.PoolID != "pool1" {
		t.Fatalf("job from the schedule = %+v, %v", j, err)
	}
	// The previous job is active: the next recurrence waits for it.
	clk.Add(time.Minute)
	fire(t, s)
	want(s, []string{"every-minute:job-1"}, t0.Add(time.Minute))
	clk.Add(30 * time.Second)
	completeJob(t, s, "every-minute:job-1")
	fire(t, s)
	want(s, []string{"every-minute:job-1", "every-minute:job-2"}, t0.Add(2*time.Minute))
	completeJob(t, s, "every-minute:job-2")

	// Down for five minutes and a half: one job on start, for the latest recurrence.
	closeStore()
	clk.Add(5*time.Minute + 30*time.Second)
	s, closeStore = open()
	defer closeStore()
	fire(t, s)
	fire(t, s)
	want(s, []string{"every-minute:job-1", "every-minute:job-2", "every-minute:job-3"}, t0.Add(8*time.Minute))
	sc, _ := s.GetJobSchedule(t.Context(), acct, "every-minute")
	if sc.ExecutionInfo.RecentJob == nil || sc.ExecutionInfo.RecentJob.ID != "every-minute:job-3" {
		t.Fatalf("recentJob = %+v", sc.ExecutionInfo.RecentJob)
	}
}

// TestScheduleStartWindowAndEnd: a missed start window loses the
// opportunity; doNotRunAfter ends the schedule once its job completes.
func TestScheduleStartWindowAndEnd(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	s := newService(t, newSQLiteAt(t, clk.Now), Config{Now: clk.Now})
	after := clk.Now().Add(150 * time.Second)
	if _, err := s.AddJobSchedule(t.Context(), acct, scheduleSpec("win", cobalt.JobScheduleConfiguration{
		RecurrenceInterval: dur(time.Minute), StartWindow: dur(time.Minute), DoNotRunAfter: &after})); err != nil {
		t.Fatal(err)
	}
	fire(t, s) // job-1 at 12:00
	clk.Add(time.Minute)
	fire(t, s) // job-1 still active at 12:01
	clk.Add(time.Minute + 10*time.Second)
	completeJob(t, s, "win:job-1")
	fire(t, s) // 12:02:10, inside the 12:02 window
	ids, _ := scheduleJobs(t, s, "win")
	if !slices.Equal(ids, []string{"win:job-1", "win:job-2"}) {
		t.Fatalf("jobs = %v", ids)
	}
	sc, _ := s.GetJobSchedule(t.Context(), acct, "win")
	if sc.State != cobalt.JobScheduleActive || sc.ExecutionInfo.NextRunTime != nil {
		t.Fatalf("after the last recurrence before doNotRunAfter: %s %v", sc.State, sc.ExecutionInfo.NextRunTime)
	}
	completeJob(t, s, "win:job-2")
	fire(t, s)
	sc, _ = s.GetJobSchedule(t.Context(), acct, "win")
	if sc.State != cobalt.JobScheduleCompleted || sc.ExecutionInfo.EndTime == nil {
		t.Fatalf("schedule = %s, endTime %v; want completed", sc.State, sc.ExecutionInfo.EndTime)
	}

	// One job, due now, with a one-minute window that passes while disabled.
	if _, err := s.AddJobSchedule(t.Context(), acct, scheduleSpec("once", cobalt.JobScheduleConfiguration{StartWindow: dur(time.Minute)})); err != nil {
		t.Fatal(err)
	}
	if err := s.DisableJobSchedule(t.Context(), acct, "once", Conditions{}); err != nil {
		t.Fatal(err)
	}
	fire(t, s)
	clk.Add(2 * time.Minute)
	if err := s.EnableJobSchedule(t.Context(), acct, "once", Conditions{}); err != nil {
		t.Fatal(err)
	}
	fire(t, s)
	if ids, _ := scheduleJobs(t, s, "once"); len(ids) != 0 {
		t.Fatalf("a job was created after its window: %v", ids)
	}
	if sc, _ := s.GetJobSchedule(t.Context(), acct, "once"); sc.State != cobalt.JobScheduleCompleted {
		t.Fatalf("state %s, want completed", sc.State)
	}
}

func TestScheduleOperations(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	s := newService(t, newSQLiteAt(t, clk.Now), Config{Now: clk.Now})
	ctx := t.Context()
	spec := scheduleSpec("ops", cobalt.JobScheduleConfiguration{RecurrenceInterval: dur(time.Hour)})
	if _, err := s.AddJobSchedule(ctx, acct, spec); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		spec cobalt.JobScheduleSpec
		want string
	}{
		"exists":        {spec, "JobScheduleExists"},
		"bad id":        {scheduleSpec("a:b", cobalt.JobScheduleConfiguration{}), "Invalid"},
		"short":         {scheduleSpec("x", cobalt.JobScheduleConfiguration{RecurrenceInterval: dur(30 * time.Second)}), "Invalid"},
		"short window":  {scheduleSpec("x", cobalt.JobScheduleConfiguration{StartWindow: dur(time.Second)}), "Invalid"},
		"no pool":       {cobalt.JobScheduleSpec{ID: "x"}, "MissingProperty"},
		"bad priority":  {cobalt.JobScheduleSpec{ID: "x", JobSpecification: cobalt.JobSpec{PoolInfo: &cobalt.PoolInformation{PoolID: "p"}, Priority: ptr(5000)}}, "Invalid"},
		"bad onFailure": {cobalt.JobScheduleSpec{ID: "x", JobSpecification: cobalt.JobSpec{PoolInfo: &cobalt.PoolInformation{PoolID: "p"}, OnTaskFailure: "x"}}, "Invalid"},
	} {
		if _, err := s.AddJobSchedule(ctx, acct, tc.spec); sreason(err) != tc.want {
			t.Errorf("%s: %v (%s), want %s", name, err, sreason(err), tc.want)
		}
	}
	fire(t, s)
	if _, err := s.PatchJobSchedule(ctx, acct, "ops", JobSchedulePatch{Metadata: &[]cobalt.NameValue{{Name: "k", Value: "v"}}}, Conditions{IfMatch: "0x8D000000000000"}); reason(err) != "PreconditionFailed" {
		t.Fatalf("patch with a stale If-Match: %v", err)
	}
	sc, err := s.PatchJobSchedule(ctx, acct, "ops", JobSchedulePatch{Metadata: &[]cobalt.NameValue{{Name: "k", Value: "v"}}}, Conditions{})
	if err != nil || len(sc.Metadata) != 1 || sc.JobSpecification.PoolInfo.PoolID != "pool1" {
		t.Fatalf("patch: %+v, %v", sc, err)
	}
	sc, err = s.ReplaceJobSchedule(ctx, acct, "ops", cobalt.JobScheduleConfiguration{RecurrenceInterval: dur(2 * time.Hour)},
		cobalt.JobSpec{PoolInfo: &cobalt.PoolInformation{PoolID: "pool2"}}, nil, Conditions{})
	if err != nil || len(sc.Metadata) != 0 || sc.JobSpecification.PoolInfo.PoolID != "pool2" ||
		!sc.ExecutionInfo.NextRunTime.Equal(clk.Now().Add(2*time.Hour)) {
		t.Fatalf("replace: %+v, %v", sc, err)
	}
	if err := s.TerminateJobSchedule(ctx, acct, "ops", Conditions{}); err != nil {
		t.Fatal(err)
	}
	sc, _ = s.GetJobSchedule(ctx, acct, "ops")
	if sc.State != cobalt.JobScheduleCompleted || sc.PreviousState != cobalt.JobScheduleTerminating {
		t.Fatalf("terminated: %s (previous %s)", sc.State, sc.PreviousState)
	}
	if j, _ := s.GetJob(ctx, acct, "ops:job-1"); j.State != cobalt.JobCompleted {
		t.Fatalf("the schedule's active job was not terminated: %s", j.State)
	}
	for name, err := range map[string]error{
		"terminate": s.TerminateJobSchedule(ctx, acct, "ops", Conditions{}),
		"disable":   s.DisableJobSchedule(ctx, acct, "ops", Conditions{}),
		"enable":    s.EnableJobSchedule(ctx, acct, "ops", Conditions{}),
	} {
		if sreason(err) != "JobScheduleCompleted" {
			t.Errorf("%s a completed schedule: %v", name, err)
		}
	}
	if err := s.DeleteJobSchedule(ctx, acct, "ops", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetJob(ctx, acct, "ops:job-1"); reason(err) != "JobNotFound" {
		t.Fatalf("the schedule's job survived its deletion: %v", err)
	}
	if _, err := s.GetJobSchedule(ctx, acct, "ops"); sreason(err) != "JobScheduleNotFound" {
		t.Fatalf("get deleted: %v", err)
	}
	if err := s.DeleteJobSchedule(ctx, acct, "ops", Conditions{}); sreason(err) != "JobScheduleNotFound" {
		t.Fatalf("delete deleted: %v", err)
	}
}

// scheduleScenario is a random schedule and a random sequence of clock
// steps and job completions.
type scheduleScenario struct {
	config cobalt.JobScheduleConfiguration
	steps  []time.Duration
	finish []bool // complete the schedule's active jobs before step i
}

func newScenario(r *rand.Rand, start time.Time) scheduleScenario {
	var sc scheduleScenario
	sc.config.RecurrenceInterval = dur(time.Duration(1+r.IntN(4)) * time.Minute)
	if r.IntN(2) == 0 {
		sc.config.StartWindow = dur(time.Duration(1+r.IntN(3)) * time.Minute)
	}
	if r.IntN(3) == 0 {
		u := start.Add(time.Duration(r.IntN(5)) * time.Minute)
		sc.config.DoNotRunUntil = &u
	}
	if r.IntN(3) == 0 {
		a := start.Add(time.Duration(5+r.IntN(30)) * time.Minute)
		sc.config.DoNotRunAfter = &a
	}
	for range 40 {
		sc.steps = append(sc.steps, time.Duration(r.IntN(300))*time.Second)
		sc.finish = append(sc.finish, r.IntN(3) == 0)
	}
	return sc
}

// runScenario plays sc on replicas services sharing one clock and store,
// firing them concurrently, and returns the schedule's jobs.
func runScenario(t *testing.T, svcs []*Service, clk *clock, sc scheduleScenario) []string {
	ctx := t.Context()
	if _, err := svcs[0].AddJobSchedule(ctx, acct, scheduleSpec("prop", sc.config)); err != nil {
		t.Fatal(err)
	}
	for i, d := range sc.steps {
		if sc.finish[i] {
			ids, _ := scheduleJobs(t, svcs[0], "prop")
			for _, id := range ids {
				if err := svcs[0].TerminateJob(ctx, acct, id, "", Conditions{}); err != nil && reason(err) != "JobCompleted" {
					t.Fatal(err)
				}
			}
		}
		clk.Add(d)
		var wg sync.WaitGroup
		for _, s := range svcs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.FireDueSchedules(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if _, active := scheduleJobs(t, svcs[0], "prop"); active > 1 {
			t.Fatalf("step %d: %d active jobs under one schedule", i, active)
		}
	}
	ids, _ := scheduleJobs(t, svcs[0], "prop")
	return ids
}

// TestScheduleReplicasProperty: for random schedules and histories, two
// replicas firing at the same moments create exactly the jobs one replica
// creates: never one job twice, never a second job for one recurrence.
func TestScheduleReplicasProperty(t *testing.T) {
	backends := map[string]func(t *testing.T, now func() time.Time) []store.JobStore{
		"sqlite": func(t *testing.T, now func() time.Time) []store.JobStore {
			st := newSQLiteAt(t, now)
			return []store.JobStore{st, st}
		},
	}
	if base := os.Getenv("TEST_POSTGRES_URL"); base != "" {
		backends["postgres"] = func(t *testing.T, now func() time.Time) []store.JobStore {
			url := storetest.NewPostgresSchema(t, base)
			var out []store.JobStore
			for range 2 {
				st, err := postgres.Open(t.Context(), url, now)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				out = append(out, st)
			}
			return out
		}
	}
	for name, mk := range backends {
		t.Run(name, func(t *testing.T) {
			seeds := 12
			if name == "postgres" {
				seeds = 4
			}
			total := 0
			for seed := range seeds {
				start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
				sc := newScenario(rand.New(rand.NewPCG(uint64(seed), 7)), start)
				var got [2][]string
				for n := 1; n <= 2; n++ {
					clk := &clock{t: start}
					sts := mk(t, clk.Now)
					var svcs []*Service
					for i := range n {
						svcs = append(svcs, newService(t, sts[i], Config{Now: clk.Now}))
					}
					got[n-1] = runScenario(t, svcs, clk, sc)
				}
				total += len(got[1])
				if !slices.Equal(got[0], got[1]) {
					t.Fatalf("seed %d: one replica created %v, two created %v", seed, got[0], got[1])
				}
				for i, id := range got[1] {
					if want := fmt.Sprintf("prop:job-%d", i+1); id != want && !slices.Contains(got[1], want) {
						t.Fatalf("seed %d: jobs %v skip %s", seed, got[1], want)
					}
				}
			}
			if total < 2*seeds {
				t.Fatalf("the scenarios created %d jobs in all: too few to test anything", total)
			}
			t.Logf("%d jobs over %d scenarios", total, seeds)
		})
	}
}

// sreason is reason with the job schedule conditions.
func sreason(err error) string {
	for name, c := range map[string]error{"JobScheduleNotFound": ErrJobScheduleNotFound, "JobScheduleExists": ErrJobScheduleExists,
		"JobScheduleCompleted": ErrJobScheduleCompleted, "JobScheduleBeingDeleted": ErrJobScheduleBeingDeleted,
		"JobScheduleBeingTerminated": ErrJobScheduleBeingTerminated} {
		if errors.Is(err, c) {
			return name
		}
	}
	return reason(err)
}

// TestScheduleWaitingDoNotStarveDueOnes: more schedules than one firing
// pass reads wait for their active jobs; a schedule due later still fires,
// and a waiting one wakes as soon as its job ends.
func TestScheduleWaitingDoNotStarveDueOnes(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	s := newService(t, newSQLiteAt(t, clk.Now), Config{Now: clk.Now})
	ctx := t.Context()
	n := fireBatch + 20
	for i := range n {
		if _, err := s.AddJobSchedule(ctx, acct, scheduleSpec(fmt.Sprintf("w%03d", i), cobalt.JobScheduleConfiguration{RecurrenceInterval: dur(time.Minute)})); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		fire(t, s)
	}
	clk.Add(time.Minute)
	for range 3 {
		fire(t, s) // every schedule is due and waits for its job-1
	}
	clk.Add(10 * time.Second) // due after every waiting one
	if _, err := s.AddJobSchedule(ctx, acct, scheduleSpec("late", cobalt.JobScheduleConfiguration{})); err != nil {
		t.Fatal(err)
	}
	fire(t, s)
	if ids, _ := scheduleJobs(t, s, "late"); len(ids) != 1 {
		t.Fatalf("a due schedule behind %d waiting ones created %v", n, ids)
	}
	completeJob(t, s, "w007:job-1")
	fire(t, s)
	if ids, _ := scheduleJobs(t, s, "w007"); len(ids) != 2 {
		t.Fatalf("a schedule whose job ended created %v", ids)
	}
	if ids, _ := scheduleJobs(t, s, "w008"); len(ids) != 1 {
		t.Fatalf("a schedule whose job is active created %v", ids)
	}
}
