package uptest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/sdkharness"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestMain(m *testing.M) { testenv.LoopbackOnly(m) }

// TestCobaltUpManagementPlane uses only what endpoints.json gives a user.
func TestCobaltUpManagementPlane(t *testing.T) {
	e := sdkharness.Start(t, server.Options{})
	ep := e.EP
	// As azcore's default transport: HTTP/2 when offered.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: e.HTTP.Transport.(*http.Transport).TLSClientConfig, ForceAttemptHTTP2: true}}
	cfg := e.Cloud
	cred, err := azidentity.NewClientSecretCredential(ep.TenantID, ep.AdminClientID, ep.AdminClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cfg, Transport: client}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := &arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: cfg, Transport: client,
		Retry: policy.RetryOptions{MaxRetries: -1}}}
	ctx := context.Background()

	groups, err := armresources.NewResourceGroupsClient(ep.SubscriptionID, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := groups.CreateOrUpdate(ctx, "uprg", armresources.ResourceGroup{Location: to.Ptr(ep.Location)}, nil); err != nil {
		t.Fatal(err)
	}
	ids, err := armmsi.NewUserAssignedIdentitiesClient(ep.SubscriptionID, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	mi, err := ids.CreateOrUpdate(ctx, "uprg", "upuami", armmsi.Identity{Location: to.Ptr(ep.Location)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ras, err := armauthorization.NewRoleAssignmentsClient(ep.SubscriptionID, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	scope := "/subscriptions/" + ep.SubscriptionID + "/resourceGroups/uprg"
	if _, err := ras.Create(ctx, scope, "6c3d1f2e-4b5a-4c7d-8e9f-0a1b2c3d4e5f", armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr("/subscriptions/" + ep.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.RoleStorageBlobDataReader),
			PrincipalID:      mi.Properties.PrincipalID, PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil); err != nil {
		t.Fatal(err)
	}
	page, err := ras.NewListForResourceGroupPager("uprg", &armauthorization.RoleAssignmentsClientListForResourceGroupOptions{
		Filter: to.Ptr("principalId eq '" + *mi.Properties.PrincipalID + "'")}).NextPage(ctx)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("list by principal: %d, %v", len(page.Value), err)
	}
	poller, err := groups.BeginDelete(ctx, "uprg", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	_, err = ids.Get(ctx, "uprg", "upuami", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 404 {
		t.Fatalf("identity after its group was deleted: %v", err)
	}
}
