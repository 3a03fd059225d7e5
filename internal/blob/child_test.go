package blob

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

// envCrashChild, when set to a directory, makes the test binary run a blob
// server on that directory (store, CA, data) instead of the tests; it writes
// its address to DIR/addr and serves until killed.
const envCrashChild = "COBALT_BLOB_TEST_SERVER_DIR"

func crashChild() {
	dir := os.Getenv(envCrashChild)
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "blob test server:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "cobalt.db"), nil)
	if err != nil {
		fail(err)
	}
	ca, err := pki.LoadOrCreate(filepath.Join(dir, "pki"))
	if err != nil {
		fail(err)
	}
	svc, err := New(Config{Store: st, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		DataDir: dir, Accounts: fixedAccounts{}, TenantID: "tenant1", AuthorityURL: "https://127.0.0.1:1"})
	if err != nil {
		fail(err)
	}
	go func() { _ = svc.Run(ctx) }()
	if p := os.Getenv("COBALT_BLOB_CHILD_CPUPROFILE"); p != "" {
		// Profile the server until SIGTERM (the benchmark's cleanup sends SIGKILL; use -cpuprofile runs by hand).
		f, err := os.Create(p)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		go func() {
			<-sig
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(0)
		}()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	if err := pki.WriteFileAtomic(filepath.Join(dir, "addr"), []byte(ln.Addr().String()), 0o600); err != nil {
		fail(err)
	}
	srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second,
		// Larger HTTP/2 receive windows than the 1 MiB default let one connection carry uploads at disk speed.
		HTTP2: &http.HTTP2Config{MaxReceiveBufferPerConnection: 32 << 20, MaxReceiveBufferPerStream: 16 << 20}}
	fail(srv.Serve(tls.NewListener(ln, ca.ServerTLSConfig())))
}

// childServer is a blob server in a child process.
type childServer struct {
	cmd        *exec.Cmd
	dir        string
	AccountURL string
	ca         *pki.CA
}

func startChild(t testing.TB, dir string) *childServer {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "addr"))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashChild+"="+dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childServer{cmd: cmd, dir: dir}
	t.Cleanup(func() { c.kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "addr"))
		if err == nil && len(b) > 0 {
			c.AccountURL = "https://" + strings.TrimSpace(string(b)) + "/" + testAccount
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child blob server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ca, err := pki.LoadOrCreate(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	c.ca = ca
	return c
}

// kill sends SIGKILL (SIGTERM first when the child profiles) and waits for the process.
func (c *childServer) kill() {
	if c.cmd.ProcessState == nil {
		if os.Getenv("COBALT_BLOB_CHILD_CPUPROFILE") != "" {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			time.Sleep(time.Second)
		}
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		_ = c.cmd.Wait()
	}
}

func (c *childServer) env(t testing.TB) *env {
	return &env{t: t, ca: c.ca, dataDir: c.dir, AccountURL: c.AccountURL}
}

// peakRSS returns the child's peak resident set size (VmHWM) in bytes.
func (c *childServer) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			_, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc status")
}

// startPartialPut starts a request whose body sends sent bytes of a longer
// body and then stalls; it returns when those bytes have been handed to the connection.
func startPartialPut(t testing.TB, client *http.Client, req *http.Request, sent int64) {
	t.Helper()
	pr, pw := io.Pipe()
	req.Body = pr
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := io.Copy(pw, detReader(9, sent)); err != nil {
		t.Fatal(err)
	}
}
