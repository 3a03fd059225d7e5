//go:build linux

package sandbox

import (
	"os/exec"
	"testing"
	"time"
)

// TestExitedChildPeeksWithoutReaping: exitedChild names an exited child
// and leaves it to its own Wait.
func TestExitedChildPeeksWithoutReaping(t *testing.T) {
	cmd := exec.Command("/bin/true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	pid := exitedChild()
	for pid == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		pid = exitedChild()
	}
	if pid != cmd.Process.Pid {
		t.Errorf("exitedChild = %d, the child is %d", pid, cmd.Process.Pid)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the child was reaped by the peek: %v", err)
	}
	if pid := exitedChild(); pid != 0 {
		t.Errorf("after Wait, exitedChild = %d", pid)
	}
}
