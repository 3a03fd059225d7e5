package agent

import "testing"

// TestSlotsChangedHeartbeatsOnStateOnly: a task taking or giving back slots
// wakes the lease loop every time, and the heartbeat loop only when the
// node's state changed with it (idle to running, running to idle), so that
// a busy node does not send a heartbeat (a store write) per task start and
// end.
func TestSlotsChangedHeartbeatsOnStateOnly(t *testing.T) {
	a := &Agent{phase: phaseReady, running: map[string]*runningTask{},
		changed: make(chan struct{}, 1), wake: make(chan struct{}, 1)}
	woke := func() (heartbeat, lease bool) {
		select {
		case <-a.changed:
			heartbeat = true
		default:
		}
		select {
		case <-a.wake:
			lease = true
		default:
		}
		return
	}
	take := func(id string) {
		a.mu.Lock()
		before := a.stateLocked()
		a.running[id] = &runningTask{slots: 1}
		a.mu.Unlock()
		a.slotsChanged(before)
	}
	give := func(id string) {
		a.mu.Lock()
		before := a.stateLocked()
		delete(a.running, id)
		a.mu.Unlock()
		a.slotsChanged(before)
	}
	for _, c := range []struct {
		step      string
		do        func()
		heartbeat bool
	}{
		{"first task: idle to running", func() { take("l1") }, true},
		{"second task: still running", func() { take("l2") }, false},
		{"one ends: still running", func() { give("l1") }, false},
		{"last ends: running to idle", func() { give("l2") }, true},
	} {
		c.do()
		hb, lease := woke()
		if hb != c.heartbeat || !lease {
			t.Fatalf("%s: heartbeat woken %v (want %v), lease loop woken %v (want true)", c.step, hb, c.heartbeat, lease)
		}
	}
}
