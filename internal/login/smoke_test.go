package login

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/bearer"
)

func TestSmokeTokenAndValidate(t *testing.T) {
	ts := newTestService(t, nil)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.clientID}, "client_secret": {ts.secret},
		"scope": {"https://management.azure.com/.default openid offline_access profile"}}
	resp, err := http.Post(ts.srv.URL+"/"+ts.tenant+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, body)
	}
	v := bearer.New(bearer.Config{Keys: ts.Service, TenantID: ts.tenant, Issuers: []string{ts.IssuerV1(ts.tenant)}, Now: ts.clk.Now})
	c, err := v.Validate(context.Background(), body["access_token"].(string), "https://management.azure.com/")
	if err != nil {
		t.Fatal(err)
	}
	if c.ObjectID != ts.objectID || c.ClientID != ts.clientID || c.TenantID != ts.tenant {
		t.Fatalf("caller %+v", c)
	}
}
