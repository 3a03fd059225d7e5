package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeBatch serves the documented Batch data-plane responses for one pool,
// one job and one task, and records what the client sent.
func fakeBatch(t *testing.T, taskResult string) (*httptest.Server, *[]string) {
	var seen []string
	var taskGets, poolGets atomic.Int32
	mux := http.NewServeMux()
	check := func(w http.ResponseWriter, r *http.Request) bool {
		seen = append(seen, r.Method+" "+r.URL.EscapedPath())
		if r.URL.Query().Get("api-version") != apiBatchData || r.Header.Get("Authorization") == "" {
			w.WriteHeader(400)
			io.WriteString(w, `{"code":"MissingRequiredQueryParameter","message":{"lang":"en-US","value":"api-version"}}`)
			return false
		}
		if r.Body != nil && r.ContentLength > 0 && r.Header.Get("Content-Type") != batchContentType {
			t.Errorf("%s %s: Content-Type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		return true
	}
	mux.HandleFunc("POST /jobs/{job}/tasks", func(w http.ResponseWriter, r *http.Request) {
		if check(w, r) {
			w.WriteHeader(http.StatusCreated)
		}
	})
	mux.HandleFunc("GET /jobs/{job}/tasks/{task}", func(w http.ResponseWriter, r *http.Request) {
		if !check(w, r) {
			return
		}
		if r.PathValue("task") != "t1" {
			w.WriteHeader(404)
			io.WriteString(w, `{"code":"TaskNotFound","message":{"lang":"en-US","value":"The specified task does not exist.\nRequestId:x"}}`)
			return
		}
		if taskGets.Add(1) < 3 {
			io.WriteString(w, `{"id":"t1","state":"running","nodeInfo":{"nodeId":"tvm-1"}}`)
			return
		}
		io.WriteString(w, `{"id":"t1","state":"completed","executionInfo":{"exitCode":`+map[string]string{"success": "0", "failure": "3"}[taskResult]+
			`,"result":"`+taskResult+`","failureInfo":{"category":"usererror","code":"FailureExitCode","message":"The task exited with an exit code representing a failure"}}}`)
	})
	mux.HandleFunc("GET /jobs/{job}/tasks/{task}/files/{path}", func(w http.ResponseWriter, r *http.Request) {
		if check(w, r) {
			io.WriteString(w, "hello from "+r.PathValue("path"))
		}
	})
	mux.HandleFunc("GET /pools/{pool}", func(w http.ResponseWriter, r *http.Request) {
		if !check(w, r) {
			return
		}
		state := "resizing"
		if poolGets.Add(1) > 1 {
			state = "steady"
		}
		io.WriteString(w, `{"id":"p1","allocationState":"`+state+`","targetDedicatedNodes":2}`)
	})
	mux.HandleFunc("GET /pools/{pool}/nodes", func(w http.ResponseWriter, r *http.Request) {
		if !check(w, r) {
			return
		}
		if r.URL.Query().Get("page") == "" {
			json.NewEncoder(w).Encode(map[string]any{"value": []any{map[string]string{"id": "tvm-1", "state": "idle"}},
				"odata.nextLink": "https://" + r.Host + r.URL.Path + "?page=2&api-version=" + apiBatchData})
			return
		}
		state := "starting"
		if poolGets.Load() > 1 {
			state = "idle"
		}
		io.WriteString(w, `{"value":[{"id":"tvm-2","state":"`+state+`"}]}`)
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestBatchTaskWait(t *testing.T) {
	t.Parallel()
	for _, result := range []string{"success", "failure"} {
		t.Run(result, func(t *testing.T) {
			t.Parallel()
			srv, seen := fakeBatch(t, result)
			c := testClient(t, srv, nil)
			bd := &batchData{c: c, base: srv.URL}
			var out bytes.Buffer
			g := &globals{Output: "json", Stdout: &out, Stderr: io.Discard}
			ctx := context.Background()
			if err := bd.call(ctx, http.MethodPost, "/jobs/j1/tasks", nil, map[string]any{"id": "t1", "commandLine": "true"}, nil, http.StatusCreated); err != nil {
				t.Fatal(err)
			}
			raw, err := waitTask(ctx, g, bd, "j1", "t1", timeoutForTest)
			if result == "success" {
				if err != nil || !strings.Contains(string(raw), `"state":"completed"`) {
					t.Fatalf("got %s %v", raw, err)
				}
			} else {
				e, ok := err.(*apiError)
				if !ok || e.Code != "TaskFailed" || !strings.Contains(e.Message, "exit code 3") || !strings.Contains(out.String(), `"result": "failure"`) {
					t.Fatalf("got %v, printed %s", err, out.String())
				}
			}
			if (*seen)[0] != "POST /jobs/j1/tasks" {
				t.Fatalf("requests %v", *seen)
			}
		})
	}
}

func TestBatchErrorsAndFiles(t *testing.T) {
	t.Parallel()
	srv, seen := fakeBatch(t, "success")
	c := testClient(t, srv, nil)
	bd := &batchData{c: c, base: srv.URL}
	ctx := context.Background()
	_, err := bd.get(ctx, "/jobs/j1/tasks/nope")
	if e, ok := err.(*apiError); !ok || e.Code != "TaskNotFound" || e.Message != "The specified task does not exist." || !isNotFound(err) {
		t.Fatalf("got %v", err)
	}
	var out bytes.Buffer
	if _, err := bd.download(ctx, "/jobs/j1/tasks/t1/files/wd%2Fout.txt", &out); err != nil || out.String() != "hello from wd/out.txt" {
		t.Fatalf("got %q %v", out.String(), err)
	}
	if last := (*seen)[len(*seen)-1]; last != "GET /jobs/j1/tasks/t1/files/wd%2Fout.txt" {
		t.Fatalf("file path not escaped: %s", last)
	}
}

func TestWaitPool(t *testing.T) {
	t.Parallel()
	srv, _ := fakeBatch(t, "success")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /arm/pools/p1", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"name":"p1","properties":{"allocationState":"Steady"}}`)
	})
	arm := httptest.NewTLSServer(mux)
	defer arm.Close()
	c := testClient(t, arm, nil)
	c.http = srv.Client() // both test servers share httptest's CA
	out, err := c.waitPool(context.Background(), &globals{Stderr: io.Discard}, batchTarget{account: "a", endpoint: srv.URL}, "/arm/pools/p1", "p1", timeoutForTest)
	if err != nil || !strings.Contains(string(out), `"name":"p1"`) {
		t.Fatalf("got %s %v", out, err)
	}
}
