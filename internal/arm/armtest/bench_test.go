package armtest

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	armfd "github.com/cobaltbatch/cobalt/internal/arm"
)

// BenchmarkGetIdentity measures GET of a user-assigned identity through the
// front door over TLS (token validation, RBAC, store read, rendering) beside
// a bare net/http TLS handler returning the same bytes, in the same run.
func BenchmarkGetIdentity(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	cred := e.credential(b, e.admin.ClientID, e.secret)
	groups, _ := armresources.NewResourceGroupsClient(e.sub, cred, e.options())
	if _, err := groups.CreateOrUpdate(ctx, "rg1", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		b.Fatal(err)
	}
	ids, _ := armmsi.NewUserAssignedIdentitiesClient(e.sub, cred, e.options())
	if _, err := ids.CreateOrUpdate(ctx, "rg1", "uami1", armmsi.Identity{Location: to.Ptr("eastus")}, nil); err != nil {
		b.Fatal(err)
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		b.Fatal(err)
	}
	url := e.armURL + "/subscriptions/" + e.sub + "/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami1?api-version=2024-11-30"
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: e.ca.ClientTLSConfig(), MaxIdleConnsPerHost: 64}}
	get := func(url string) []byte {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		return body
	}
	same := get(url)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(same)
	}), ReadHeaderTimeout: 10 * time.Second, TLSConfig: e.ca.ServerTLSConfig()}
	go func() { _ = bare.ServeTLS(ln, "", "") }()
	defer bare.Close()
	bareURL := "https://" + ln.Addr().String() + "/x"
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare2 := &http.Server{Handler: bare.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = bare2.Serve(armfd.NewListener(ln2, e.ca.ServerTLSConfig())) }()
	defer bare2.Close()
	run := func(name, url string) {
		b.Run(name, func(b *testing.B) {
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(url)
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
	run("baseline-bare-tls", bareURL)
	run("bare-on-arm-listener", "https://"+ln2.Addr().String()+"/x")
	run("arm-front-door", url)
}
