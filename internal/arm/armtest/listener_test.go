package armtest

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// TestUnencodedFilter sends a $filter with raw spaces, as the Go SDK does,
// over HTTP/1.1 and over HTTP/2: both reach the front door.
func TestUnencodedFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok, err := e.credential(t, e.admin.ClientID, e.secret).GetToken(context.Background(),
		policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: e.ca.ClientTLSConfig(), ForceAttemptHTTP2: h2}
		req, _ := http.NewRequest("GET", e.armURL+"/subscriptions/"+e.sub+"/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01", nil)
		req.URL.RawQuery += "&$filter=principalId eq '" + e.admin.ObjectID + "'"
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatalf("h2 %v: %v", h2, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantProto := map[bool]int{false: 1, true: 2}[h2]
		if resp.StatusCode != 200 || resp.ProtoMajor != wantProto {
			t.Fatalf("h2 %v: %s %d %s", h2, resp.Proto, resp.StatusCode, body)
		}
	}
}
