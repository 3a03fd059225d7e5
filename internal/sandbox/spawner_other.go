//go:build !linux

package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
)

// SpawnerName is argv[0] of a spawner, and envSpawner the marker in its
// environment.
const (
	SpawnerName = "cobalt-spawner"
	envSpawner  = "COBALT_SPAWNER"
)

// Spawner starts node inits on Linux; elsewhere there are none to start.
type Spawner struct{}

// StartSpawner fails where node sandboxes do not exist.
func StartSpawner(*slog.Logger) (*Spawner, error) {
	return nil, errors.New("sandbox: node sandboxes need Linux")
}

// Alive is false: there is no spawner.
func (s *Spawner) Alive() bool { return false }

// Close does nothing.
func (s *Spawner) Close() error { return nil }

func runSpawner() int {
	fmt.Fprintln(os.Stderr, "cobalt-spawner: node sandboxes need Linux")
	return 1
}
