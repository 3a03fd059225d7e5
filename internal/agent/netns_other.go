//go:build !linux

package agent

import (
	"errors"
	"log/slog"
)

func netnsSupported() bool { return false }

// SweepNamespaces does nothing where network namespaces do not exist.
func SweepNamespaces(*slog.Logger) ([]string, error) { return nil, nil }

// InNodeNamespace is false where network namespaces do not exist.
func InNodeNamespace(string) bool { return false }

// NamespaceName is meaningful only on Linux.
func NamespaceName(pid int, nodeID string) string { return "" }

func newNetnsIsolation(string, handlers, forwards, *slog.Logger, int) (isolation, error) {
	return nil, errors.New("netns isolation needs Linux")
}

// forwards are the control plane's ports a netns node reaches (Linux only).
type forwards struct {
	ports     []int
	azurePort int
	public    string
	target    string
	replicas  []string
}

// processConnLimit is the process-wide bound on node-facing connections.
func processConnLimit() int { return 4096 }
