package arm

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/rbac"
)

// widgetProvider is a provider written on the plug-in API, as Microsoft.Batch is.
type widgetProvider struct{ cascaded atomic.Int32 }

const widgetType = "Contoso.Test/widgets"

func (p *widgetProvider) Register(g *Registrar) error {
	g.APIVersions(widgetType, "2024-01-01")
	base := "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Contoso.Test/widgets"
	g.Handle(Route{Pattern: "PUT " + base + "/{widgetName}", Type: widgetType, Action: "Contoso.Test/widgets/write",
		Handler: func(w http.ResponseWriter, r *Request) error {
			var body struct {
				Properties struct {
					Size int `json:"size"`
				} `json:"properties"`
			}
			if err := r.Decode(&body); err != nil {
				return err
			}
			if err := r.RequireResourceGroup(r.ID); err != nil {
				return err
			}
			cur := ""
			if res, err := r.Store().ResourceGet(r.Context(), r.ID.Key()); err == nil {
				cur = ETag(res.Version)
			}
			if err := CheckPreconditions(r.Request, cur); err != nil {
				return err
			}
			if linked := r.URL.Query().Get("identity"); linked != "" {
				id, err := cobalt.ParseResourceID(linked)
				if err != nil {
					return err
				}
				if err := r.CheckLinked("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", id); err != nil {
					return err
				}
			}
			res := NewResource(r.ID, []byte(`{}`))
			if cur == "" {
				res, _ = r.Store().ResourceCreate(r.Context(), res)
			} else {
				res, _ = r.Store().ResourceGet(r.Context(), r.ID.Key())
			}
			WriteJSON(w, http.StatusOK, ETag(res.Version), map[string]any{"id": r.ID.String(), "name": r.PathValue("widgetName")})
			return nil
		}})
	g.Handle(Route{Pattern: "DELETE " + base + "/{widgetName}", Type: widgetType, Action: "Contoso.Test/widgets/delete",
		Handler: func(w http.ResponseWriter, r *Request) error {
			return r.Accepted(w, LRO{}, func(ctx context.Context) (any, error) {
				return nil, r.Store().ResourceDelete(ctx, r.ID.Key())
			})
		}})
	// A literal spelled like the front door's own operation endpoints must not shadow them.
	g.Handle(Route{Pattern: "GET " + base + "/{widgetName}/operationResults/{operationId}", Type: widgetType,
		Action: "Contoso.Test/widgets/read", Handler: func(w http.ResponseWriter, r *Request) error { return NotFound(r.ID) }})
	// A pattern spelling a shared literal in another case still matches.
	g.Handle(Route{Pattern: "GET /subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}/providers/Contoso.Test/widgets", Type: widgetType,
		Action: "Contoso.Test/widgets/read", Handler: func(w http.ResponseWriter, r *Request) error { r.WriteList(w, nil, ""); return nil }})
	g.OnDelete(func(ctx context.Context, scope cobalt.ResourceID) error {
		p.cascaded.Add(1)
		return nil
	})
	return nil
}

func TestProviderPlugin(t *testing.T) {
	t.Parallel()
	wp := &widgetProvider{}
	f := newFixture(t, wp)
	rg := "/subscriptions/" + testSub + "/resourceGroups/rg1"
	if r := f.do(adminOID, "PUT", rg+"?api-version=2021-04-01", map[string]any{"location": "eastus"}); r.Code != 201 {
		t.Fatalf("create rg: %d %s", r.Code, r.Body)
	}
	w1 := rg + "/providers/Contoso.Test/widgets/w1"
	// Case-insensitive literal segments reach the route; the name keeps its case.
	r := f.do(adminOID, "PUT", strings.ToLower(rg)+"/PROVIDERS/contoso.test/WIDGETS/W1?api-version=2024-01-01", `{"properties":{"size":1}}`)
	if r.Code != 200 || !strings.Contains(string(r.Body), `"name":"W1"`) {
		t.Fatalf("put widget: %d %s", r.Code, r.Body)
	}
	etag := r.Header.Get("ETag")
	if l := f.do(adminOID, "GET", rg+"/providers/Contoso.Test/widgets?api-version=2024-01-01", nil); l.Code != 200 {
		t.Fatalf("list widgets: %d %s", l.Code, l.Body)
	}
	if g := f.do(adminOID, "GET", rg+"?api-version=2021-04-01", nil); g.Code != 200 {
		t.Fatalf("get group after a provider spelled resourcegroups: %d %s", g.Code, g.Body)
	}
	for _, c := range []struct {
		name, oid, path string
		body            any
		hdr             []string
		code            int
		errCode         string
	}{
		{"no token", "", w1 + "?api-version=2024-01-01", `{}`, nil, 401, "AuthenticationFailed"},
		{"no api-version", adminOID, w1, `{}`, nil, 400, "MissingApiVersionParameter"},
		{"bad api-version", adminOID, w1 + "?api-version=2099-01-01", `{}`, nil, 400, "NoRegisteredProviderFound"},
		{"not authorized", "b0000000-0000-0000-0000-000000000002", w1 + "?api-version=2024-01-01", `{}`, nil, 403, "AuthorizationFailed"},
		{"wrong type", adminOID, w1 + "?api-version=2024-01-01", `{"properties":{"size":"big"}}`, nil, 400, "InvalidRequestContent"},
		{"bad json", adminOID, w1 + "?api-version=2024-01-01", `{"properties":`, nil, 400, "InvalidRequestContent"},
		{"too large", adminOID, w1 + "?api-version=2024-01-01", `{"x":"` + strings.Repeat("a", 70<<10) + `"}`, nil, 400, "RequestContentTooLarge"},
		{"if-match stale", adminOID, w1 + "?api-version=2024-01-01", `{}`, []string{"If-Match", `W/"0x99"`}, 412, "PreconditionFailed"},
		{"if-none-match star", adminOID, w1 + "?api-version=2024-01-01", `{}`, []string{"If-None-Match", "*"}, 412, "PreconditionFailed"},
		{"if-match current", adminOID, w1 + "?api-version=2024-01-01", `{}`, []string{"If-Match", etag}, 200, ""},
		{"no resource group", adminOID, "/subscriptions/" + testSub + "/resourceGroups/nope/providers/Contoso.Test/widgets/w?api-version=2024-01-01", `{}`, nil, 404, "ResourceGroupNotFound"},
		{"unknown type", adminOID, rg + "/providers/Contoso.Test/gadgets/g?api-version=2024-01-01", `{}`, nil, 404, "InvalidResourceType"},
		{"unknown namespace", adminOID, rg + "/providers/Nope.Nope/gadgets/g?api-version=2024-01-01", `{}`, nil, 404, "InvalidResourceNamespace"},
	} {
		r := f.do(c.oid, "PUT", c.path, c.body, c.hdr...)
		if r.Code != c.code {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.Code, c.code, r.Body)
			continue
		}
		if c.errCode != "" {
			if got := r.errCode(t); got != c.errCode {
				t.Errorf("%s: code %q, want %q: %s", c.name, got, c.errCode, r.Body)
			}
		}
		if r.Header.Get("x-ms-request-id") == "" || r.Header.Get("x-ms-correlation-request-id") == "" {
			t.Errorf("%s: request ID headers missing", c.name)
		}
	}
	// A Contributor at the resource group may write widgets but not assign an
	// identity without the identity's assign action.
	const contrib = "c0000000-0000-0000-0000-000000000003"
	f.assign(rg, rbac.RoleContributor, contrib)
	mi := "/subscriptions/" + testSub + "/resourceGroups/other/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi"
	r = f.do(contrib, "PUT", w1+"?api-version=2024-01-01&identity="+mi, `{}`)
	if r.Code != 403 || r.errCode(t) != "LinkedAuthorizationFailed" {
		t.Fatalf("linked: %d %s", r.Code, r.Body)
	}
	f.assign(mi, rbac.RoleManagedIdentityOperator, contrib)
	if r = f.do(contrib, "PUT", w1+"?api-version=2024-01-01&identity="+mi, `{}`); r.Code != 200 {
		t.Fatalf("linked after grant: %d %s", r.Code, r.Body)
	}
	// DELETE is a long-running operation.
	r = f.do(adminOID, "DELETE", w1+"?api-version=2024-01-01", nil)
	if r.Code != 202 || r.Header.Get("Location") == "" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("delete: %d %v", r.Code, r.Header)
	}
	if fin := f.waitOp(adminOID, r.Header.Get("Location")); fin.Code != 204 {
		t.Fatalf("delete result: %d %s", fin.Code, fin.Body)
	}
	if other := f.do(contrib, "GET", strings.TrimPrefix(r.Header.Get("Location"), "https://127.0.0.1:4443"), nil); other.Code != 404 {
		t.Fatalf("another caller's operation: %d", other.Code)
	}
	// Deleting the resource group runs the cascade hook.
	r = f.do(adminOID, "DELETE", rg+"?api-version=2021-04-01", nil)
	if r.Code != 202 {
		t.Fatalf("delete rg: %d %s", r.Code, r.Body)
	}
	if fin := f.waitOp(adminOID, r.Header.Get("Location")); fin.Code != 200 && fin.Code != 204 {
		t.Fatalf("delete rg result: %d %s", fin.Code, fin.Body)
	}
	if wp.cascaded.Load() == 0 {
		t.Fatal("the cascade hook did not run")
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var buf strings.Builder
	f.srv.log = slog.New(slog.NewTextHandler(&syncWriter{w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.do(adminOID, "GET", "/subscriptions/"+testSub+"?api-version=2021-04-01", nil, "Authorization", "Bearer tok-"+adminOID)
	out := buf.String()
	if !strings.Contains(out, "status=200") || !strings.Contains(out, "caller="+adminOID) || strings.Contains(out, "tok-") {
		t.Fatalf("access log %q", out)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
