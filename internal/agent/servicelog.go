package agent

import (
	"context"
	"log/slog"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// The agent's service log: what the agent did, as JSON lines, one file per
// UTC hour in serviceLogDir under the node's directory (outside every task
// directory). The agent's logger never carries a secret, key or token.
const (
	serviceLogDir    = "cobalt-agent"
	serviceLogPrefix = "agent-"
	serviceLogSuffix = ".log"
	serviceLogLayout = "2006010215" // the UTC hour a file covers
)

// serviceLog appends to the file of the current hour. Each write opens the
// file afresh through an os.Root of the node's directory, so the file comes
// back after a reimage emptied the directory and a link planted by the
// node's root never leads the agent outside it.
type serviceLog struct {
	root string
	now  func() time.Time
	mu   sync.Mutex
}

func (l *serviceLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, err := os.OpenRoot(l.root)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	if err := r.MkdirAll(serviceLogDir, 0o755); err != nil {
		return 0, err
	}
	f, err := r.OpenFile(path.Join(serviceLogDir, serviceLogName(l.now())), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := f.Write(p)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// serviceLogName is the name of the file of the hour of t.
func serviceLogName(t time.Time) string {
	return serviceLogPrefix + t.UTC().Format(serviceLogLayout) + serviceLogSuffix
}

// serviceLogFiles returns the service-log files of dir (an os.Root of the
// node's directory) whose hour overlaps [start, end], oldest first.
func serviceLogFiles(root *os.Root, start, end time.Time) ([]string, error) {
	d, err := root.Open(serviceLogDir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		h, ok := strings.CutPrefix(n, serviceLogPrefix)
		if !ok {
			continue
		}
		h, ok = strings.CutSuffix(h, serviceLogSuffix)
		if !ok {
			continue
		}
		t, err := time.Parse(serviceLogLayout, h)
		if err != nil || !t.Add(time.Hour).After(start) || t.After(end) {
			continue
		}
		out = append(out, path.Join(serviceLogDir, n))
	}
	sort.Strings(out)
	return out, nil
}

// teeHandler sends each record to two handlers.
type teeHandler struct{ a, b slog.Handler }

func (t teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return t.a.Enabled(ctx, l) || t.b.Enabled(ctx, l)
}

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var errA, errB error
	if t.a.Enabled(ctx, r.Level) {
		errA = t.a.Handle(ctx, r.Clone())
	}
	if t.b.Enabled(ctx, r.Level) {
		errB = t.b.Handle(ctx, r)
	}
	if errA != nil {
		return errA
	}
	return errB
}

func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{t.a.WithAttrs(as), t.b.WithAttrs(as)}
}

func (t teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{t.a.WithGroup(name), t.b.WithGroup(name)}
}
