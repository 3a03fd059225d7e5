package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/pki"
)

// envCrashChild names the data directory of a child registry server.
const envCrashChild = "COBALT_REGISTRY_TEST_SERVER_DIR"

// crashSeal is the child's seal key: the parent signs tokens with it.
var crashSeal = []byte("cobalt registry crash test seal key, 32+ bytes")

const crashRegistry = "crashreg"

// crashChild serves one registry on DIR until killed, and writes its
// address to DIR/addr.
func crashChild() {
	dir := os.Getenv(envCrashChild)
	ca, err := pki.LoadOrCreate(filepath.Join(dir, "pki"))
	if err != nil {
		panic(err)
	}
	regs := &testRegistries{m: map[string]cobalt.Registry{}}
	regs.put(cobalt.Registry{ID: registryID(crashRegistry), Name: crashRegistry})
	svc, err := New(Config{Registries: regs, TLS: ca.ServerTLSConfig(), DataDir: dir, SealKey: crashSeal,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		panic(err)
	}
	hp, err := svc.AllocateRegistryEndpoint(context.Background(), crashRegistry)
	if err != nil {
		panic(err)
	}
	regs.put(cobalt.Registry{ID: registryID(crashRegistry), Name: crashRegistry, LoginServer: hp})
	if err := os.WriteFile(filepath.Join(dir, "addr.tmp"), []byte(hp), 0o600); err != nil {
		panic(err)
	}
	if err := os.Rename(filepath.Join(dir, "addr.tmp"), filepath.Join(dir, "addr")); err != nil {
		panic(err)
	}
	_ = svc.Run(context.Background())
}

type childServer struct {
	cmd  *exec.Cmd
	dir  string
	host string
	ca   *pki.CA
}

func startChild(t testing.TB, dir string) *childServer {
	t.Helper()
	os.Remove(filepath.Join(dir, "addr"))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashChild+"="+dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childServer{cmd: cmd, dir: dir}
	t.Cleanup(c.kill)
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "addr"))
		if err == nil && len(b) > 0 {
			c.host = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child registry did not start")
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

func (c *childServer) kill() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		_ = c.cmd.Wait()
	}
}

// token signs an access token for the child's registry (same seal key).
func (c *childServer) token(t testing.TB, repo string) string {
	t.Helper()
	s := &Service{cfg: Config{SealKey: crashSeal}, now: time.Now}
	reg := cobalt.Registry{ID: registryID(crashRegistry), Name: crashRegistry}
	cl := s.newClaims(c.host, "tester", accessTTL)
	cl.Admin = true
	cl.Access = []Access{{Type: "repository", Name: repo, Actions: []string{actPull, actPush, actDelete}}}
	tok, err := s.sign(kindAccess, reg, cl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (c *childServer) client() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: c.ca.ClientTLSConfig()}}
}

func (c *childServer) req(t testing.TB, method, path string, body io.Reader, length int64, hdr map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+c.host+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	req.Header.Set("Authorization", "Bearer "+c.token(t, "crash/repo"))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return req
}

func (c *childServer) do(t testing.TB, req *http.Request) *http.Response {
	t.Helper()
	resp, err := c.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func detBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), 1})
	_, _ = r.Read(b)
	return b
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// startPartial sends sent bytes of a longer body and leaves the request
// hanging; it returns once those bytes are handed to the connection.
func startPartial(t testing.TB, client *http.Client, req *http.Request, sent int) {
	t.Helper()
	pr, pw := io.Pipe()
	req.Body = pr
	go func() {
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := pw.Write(detBytes(9, sent)); err != nil {
		t.Fatal(err)
	}
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// TestCrashMidUpload kills the registry (SIGKILL) during a monolithic
// upload and during a chunk of a chunked upload, restarts it on the same
// directory, and checks that no partial blob is visible, committed content
// is intact, the upload session resumes, and abandoned files are swept.
func TestCrashMidUpload(t *testing.T) {
	dir := t.TempDir()
	c := startChild(t, dir)
	good := detBytes(1, 3<<20+7)
	gd := digestOf(good)
	if r := c.do(t, c.req(t, http.MethodPost, "/v2/crash/repo/blobs/uploads/?digest="+gd, strings.NewReader(string(good)), int64(len(good)), nil)); r.StatusCode != http.StatusCreated {
		t.Fatalf("good upload: %d", r.StatusCode)
	}
	// A chunked upload with one whole chunk.
	r := c.do(t, c.req(t, http.MethodPost, "/v2/crash/repo/blobs/uploads/", nil, 0, nil))
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("start upload: %d", r.StatusCode)
	}
	chunk1 := detBytes(2, 1<<20)
	if r := c.do(t, c.req(t, http.MethodPatch, loc, strings.NewReader(string(chunk1)), int64(len(chunk1)),
		map[string]string{"Content-Range": fmt.Sprintf("0-%d", len(chunk1)-1)})); r.StatusCode != http.StatusAccepted {
		t.Fatalf("chunk 1: %d", r.StatusCode)
	}
	// Both hang part-way: a monolithic blob of 64 MiB and a chunk of 32 MiB.
	big := "sha256:" + strings.Repeat("ab", 32)
	startPartial(t, c.client(), c.req(t, http.MethodPost, "/v2/crash/repo/blobs/uploads/?digest="+big, nil, 64<<20, nil), 8<<20)
	startPartial(t, c.client(), c.req(t, http.MethodPatch, loc, nil, 32<<20,
		map[string]string{"Content-Range": fmt.Sprintf("%d-%d", len(chunk1), len(chunk1)+32<<20-1)}), 4<<20)
	tmp := filepath.Join(dir, "registries", crashRegistry, "tmp")
	// The upload's copy writes whole batches: up to one batch of what was
	// sent may still be in memory.
	const held = hashBatch + hashSlack
	waitFor(t, func() bool {
		return dirBytes(tmp) >= 8<<20-held && dirBytes(filepath.Join(dir, "registries", crashRegistry, "uploads")) >= 5<<20-held
	})
	c.kill()

	c = startChild(t, dir)
	if r := c.do(t, c.req(t, http.MethodHead, "/v2/crash/repo/blobs/"+big, nil, 0, nil)); r.StatusCode != http.StatusNotFound {
		t.Fatalf("partial blob after restart: %d", r.StatusCode)
	}
	resp, err := c.client().Do(c.req(t, http.MethodGet, "/v2/crash/repo/blobs/"+gd, nil, 0, nil))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || digestOf(got) != gd {
		t.Fatalf("committed blob after restart: %d, %d bytes", resp.StatusCode, len(got))
	}
	// The session resumes: its status counts whole chunks only (the torn
	// chunk was synced only in part and is cut off or must be resent).
	r = c.do(t, c.req(t, http.MethodGet, loc, nil, 0, nil))
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("upload status after restart: %d", r.StatusCode)
	}
	if got := r.Header.Get("Range"); got != fmt.Sprintf("0-%d", len(chunk1)-1) {
		t.Fatalf("upload status after restart: Range %q, want the whole first chunk only", got)
	}
	partial := chunk1
	rest := detBytes(3, 12345)
	all := append(partial, rest...)
	if r := c.do(t, c.req(t, http.MethodPut, loc+"?digest="+digestOf(all), strings.NewReader(string(rest)), int64(len(rest)), nil)); r.StatusCode != http.StatusCreated {
		t.Fatalf("finish the resumed upload: %d", r.StatusCode)
	}
	resp, err = c.client().Do(c.req(t, http.MethodGet, "/v2/crash/repo/blobs/"+digestOf(all), nil, 0, nil))
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if digestOf(got) != digestOf(all) {
		t.Fatal("the resumed upload's blob differs")
	}
	if n := dirBytes(tmp); n == 0 {
		t.Fatal("no temporary data after the crash: the test did not crash mid-upload")
	}
	// Sweeping (as Run does at start for old files) removes the abandoned file.
	svc := &Service{cfg: Config{DataDir: dir}, now: func() time.Time { return time.Now().Add(48 * time.Hour) }, log: slog.New(slog.DiscardHandler)}
	svc.Sweep(24 * time.Hour)
	if n := dirBytes(tmp); n != 0 {
		t.Fatalf("%d temporary bytes left after the sweep", n)
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func chachaStream(seed uint64) io.Reader { return rand.NewChaCha8([32]byte{byte(seed), 1}) }
