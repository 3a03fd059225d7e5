package login

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt"
)

// FuzzTokenRequest feeds arbitrary token requests (body, Authorization,
// Content-Type, endpoint version) to the parser and to the whole handler. The
// parser must return a usable request or an AADSTS error from the table; the
// handler must answer 200 with a token or Entra's JSON error, never 5xx.
func FuzzTokenRequest(f *testing.F) {
	ts := newTestService(f, nil)
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.clientID}, "client_secret": {ts.secret},
		"scope": {"https://management.azure.com/.default openid"}}
	const form = "application/x-www-form-urlencoded"
	f.Add(good.Encode(), "", form, true)
	f.Add("grant_type=client_credentials&scope=api%3A%2F%2Fx%2F.default", basic(ts.clientID, ts.secret).Get("Authorization"), form, true)
	f.Add("grant_type=client_credentials&client_id="+ts.clientID+"&client_secret=x&resource=https%3A%2F%2Fstorage.azure.com%2F", "", form, false)
	f.Add("grant_type=password&username=a&password=b", "", form, true)
	f.Add("grant_type=client_credentials&client_id=a&client_assertion=x", "", form, true)
	f.Add("grant_type=client_credentials&client_id=a&client_secret=b&scope=%2F.default+%2F.default", "Basic Og==", form, true)
	f.Add("a=%zz&&;=", "Basic !!", "multipart/form-data; boundary=x", false)
	f.Add(`{"grant_type":"client_credentials"}`, "Bearer x", "application/json", true)
	f.Add("", "", "", false)

	h := ts.Handler()
	f.Fuzz(func(t *testing.T, body, auth, contentType string, v2 bool) {
		newReq := func() *http.Request {
			path := "/" + ts.tenant + "/oauth2/token"
			if v2 {
				path = "/" + ts.tenant + "/oauth2/v2.0/token"
			}
			r := httptest.NewRequest("POST", path, strings.NewReader(body))
			r.Header.Set("Content-Type", contentType)
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			return r
		}

		r := newReq()
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, maxBodyBytes)
		tr, err := parseTokenRequest(r, v2)
		if err == nil {
			if tr.clientID == "" || tr.resource == "" {
				t.Fatalf("parsed a request without client or resource: %+v", tr)
			}
		} else {
			var ce *cobalt.Error
			if !errors.As(err, &ce) {
				t.Fatalf("parse error %v is not a *cobalt.Error", err)
			}
			n, perr := strconv.Atoi(strings.TrimPrefix(ce.Reason, "AADSTS"))
			if _, ok := aadTable[n]; perr != nil || !ok {
				t.Fatalf("parse error reason %q is not in the AADSTS table", ce.Reason)
			}
		}

		w := httptest.NewRecorder()
		h.ServeHTTP(w, newReq())
		var resp map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("status %d, body %q is not JSON", w.Code, w.Body.String())
		}
		switch {
		case w.Code == http.StatusOK:
			if tok, _ := resp["access_token"].(string); tok == "" {
				t.Fatalf("200 without a token: %v", resp)
			}
		case w.Code >= 500:
			t.Fatalf("status %d for bad input: %v", w.Code, resp)
		default:
			if s, _ := resp["error"].(string); s == "" {
				t.Fatalf("status %d without an OAuth error: %v", w.Code, resp)
			}
			if d, _ := resp["error_description"].(string); strings.Contains(d, ts.secret) {
				t.Fatal("an error description echoes the secret")
			}
		}
	})
}
