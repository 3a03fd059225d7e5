package imds

import (
	"encoding/json"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"net/url"
	"testing"
	"time"
)

func newAppService(ids ...*fakeTokens) *AppService {
	return NewAppService(AppServiceConfig{
		Now:    func() time.Time { return testNow },
		Tokens: ids[0],
		Secret: "node-secret",
		TaskSecret: func(h string) (string, bool) {
			if h == "task-secret" {
				return "job1/task1", true
			}
			return "", false
		},
	})
}

func TestAppService(t *testing.T) {
	t.Parallel()
	const base = "/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net"
	sec := map[string]string{"X-IDENTITY-HEADER": "node-secret"}
	for _, tc := range []struct {
		name   string
		ids    []string // "a", "b"
		method string
		target string
		hdr    map[string]string
		status int
		client string
	}{
		{"single identity", []string{"a"}, "GET", base, sec, 200, idA.ClientID},
		{"client_id", []string{"a", "b"}, "GET", base + "&client_id=" + idB.ClientID, sec, 200, idB.ClientID},
		{"principal_id", []string{"a", "b"}, "GET", base + "&principal_id=" + idB.PrincipalID, sec, 200, idB.ClientID},
		{"object_id", []string{"a", "b"}, "GET", base + "&object_id=" + idB.PrincipalID, sec, 200, idB.ClientID},
		{"mi_res_id", []string{"a", "b"}, "GET", base + "&mi_res_id=" + url.QueryEscape(idB.ResourceID), sec, 200, idB.ClientID},
		{"task secret", []string{"a"}, "GET", base, map[string]string{"X-IDENTITY-HEADER": "task-secret"}, 200, idA.ClientID},
		{"multiple", []string{"a", "b"}, "GET", base, sec, 400, ""},
		{"not found", []string{"a"}, "GET", base + "&client_id=x", sec, 400, ""},
		{"two selectors", []string{"a", "b"}, "GET", base + "&client_id=x&mi_res_id=y", sec, 400, ""},
		{"no header", []string{"a"}, "GET", base, nil, 401, ""},
		{"wrong header", []string{"a"}, "GET", base, map[string]string{"X-IDENTITY-HEADER": "node-secreT"}, 401, ""},
		{"old api-version", []string{"a"}, "GET", "/msi/token?api-version=2017-09-01&resource=x", sec, 400, ""},
		{"no resource", []string{"a"}, "GET", "/msi/token?api-version=2019-08-01", sec, 400, ""},
		{"duplicate", []string{"a"}, "GET", base + "&resource=y", sec, 400, ""},
		{"POST", []string{"a"}, "POST", base, sec, 405, ""},
		{"other path", []string{"a"}, "GET", "/other?api-version=2019-08-01&resource=x", sec, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fakeTokens{}
			for _, n := range tc.ids {
				ft.ids = append(ft.ids, map[string]nodeproto.Identity{"a": idA, "b": idB}[n])
			}
			w := do(newAppService(ft), tc.method, tc.target, tc.hdr)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("not JSON: %s", w.Body)
			}
			if tc.status != 200 {
				if body["statusCode"] != float64(tc.status) || body["message"] == "" {
					t.Errorf("error body %s", w.Body)
				}
				return
			}
			want := map[string]any{
				"access_token": "tok:" + tc.client + ":https://vault.azure.net",
				"expires_on":   "1800003599", "resource": "https://vault.azure.net",
				"token_type": "Bearer", "client_id": tc.client,
			}
			if len(body) != len(want) {
				t.Errorf("body %s", w.Body)
			}
			for k, v := range want {
				if body[k] != v {
					t.Errorf("%s = %#v, want %#v", k, body[k], v)
				}
			}
			if tc.name == "task secret" && ft.reqs[0].TaskID != "job1/task1" {
				t.Errorf("task attribution %q", ft.reqs[0].TaskID)
			}
		})
	}
}
