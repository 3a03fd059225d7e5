package sdktest

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerregistry/armcontainerregistry"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/sdkharness"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestMain(m *testing.M) { testenv.LoopbackOnly(m) }

func wantResponseError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v, want a %d %s response error", err, status, code)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("response error %d %s, want %d %s", re.StatusCode, re.ErrorCode, status, code)
	}
}

func TestArmContainerRegistryGoSDK(t *testing.T) {
	ctx := context.Background()
	h := sdkharness.Start(t, server.Options{})
	sub := h.EP.SubscriptionID
	admin := h.Admin()

	groups, err := armresources.NewResourceGroupsClient(sub, admin, h.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := groups.CreateOrUpdate(ctx, "acrrg", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		t.Fatal(err)
	}
	regs, err := armcontainerregistry.NewRegistriesClient(sub, admin, h.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	avail, err := regs.CheckNameAvailability(ctx, armcontainerregistry.RegistryNameCheckRequest{
		Name: to.Ptr("cobaltacr1"), Type: to.Ptr("Microsoft.ContainerRegistry/registries")}, nil)
	if err != nil || !*avail.NameAvailable {
		t.Fatalf("CheckNameAvailability = %+v, %v", avail, err)
	}
	poller, err := regs.BeginCreate(ctx, "acrrg", "cobaltacr1", armcontainerregistry.Registry{
		Location: to.Ptr("eastus"), SKU: &armcontainerregistry.SKU{Name: to.Ptr(armcontainerregistry.SKUNameBasic)},
		Tags: map[string]*string{"env": to.Ptr("test")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	created, err := poller.PollUntilDone(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := created.Properties
	if *created.Name != "cobaltacr1" || *created.SKU.Tier != armcontainerregistry.SKUTierBasic || *p.ProvisioningState != armcontainerregistry.ProvisioningStateSucceeded ||
		*p.AdminUserEnabled || p.CreationDate == nil || *created.Tags["env"] != "test" {
		t.Fatalf("created %+v %+v", created, p)
	}
	// The login server is the registry's own listener, serving TLS with the installation's CA.
	host, _, err := net.SplitHostPort(*p.LoginServer)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("loginServer %q", *p.LoginServer)
	}
	conn, err := tls.Dial("tcp", *p.LoginServer, h.HTTP.Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatalf("the login server does not serve TLS: %v", err)
	}
	conn.Close()

	got, err := regs.Get(ctx, "acrrg", "cobaltacr1", nil)
	if err != nil || *got.Properties.LoginServer != *p.LoginServer {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	_, err = regs.ListCredentials(ctx, "acrrg", "cobaltacr1", nil)
	wantResponseError(t, err, 400, "UnAuthorizedForCredentialOperations")

	up, err := regs.BeginUpdate(ctx, "acrrg", "cobaltacr1", armcontainerregistry.RegistryUpdateParameters{
		Properties: &armcontainerregistry.RegistryPropertiesUpdateParameters{AdminUserEnabled: to.Ptr(true)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	updated, err := up.PollUntilDone(ctx, nil)
	if err != nil || !*updated.Properties.AdminUserEnabled {
		t.Fatalf("update = %+v, %v", updated, err)
	}
	creds, err := regs.ListCredentials(ctx, "acrrg", "cobaltacr1", nil)
	if err != nil || *creds.Username != "cobaltacr1" || len(creds.Passwords) != 2 ||
		*creds.Passwords[0].Name != armcontainerregistry.PasswordNamePassword || *creds.Passwords[1].Name != armcontainerregistry.PasswordNamePassword2 {
		t.Fatalf("ListCredentials = %+v, %v", creds, err)
	}
	regen, err := regs.RegenerateCredential(ctx, "acrrg", "cobaltacr1", armcontainerregistry.RegenerateCredentialParameters{
		Name: to.Ptr(armcontainerregistry.PasswordNamePassword)}, nil)
	if err != nil || *regen.Passwords[0].Value == *creds.Passwords[0].Value || *regen.Passwords[1].Value != *creds.Passwords[1].Value {
		t.Fatalf("RegenerateCredential = %+v, %v", regen, err)
	}
	n := 0
	for pager := regs.NewListPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	m := 0
	for pager := regs.NewListByResourceGroupPager("acrrg", nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m += len(page.Value)
	}
	if n != 1 || m != 1 {
		t.Fatalf("listed %d by subscription, %d by group", n, m)
	}
	ops := 0
	opc, err := armcontainerregistry.NewOperationsClient(admin, h.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	for pager := opc.NewListPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ops += len(page.Value)
	}
	if ops == 0 {
		t.Fatal("no operations")
	}

	// A name taken in another group, in another case.
	if _, err := groups.CreateOrUpdate(ctx, "acrrg2", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = regs.BeginCreate(ctx, "acrrg2", "CobaltACR1", armcontainerregistry.Registry{
		Location: to.Ptr("eastus"), SKU: &armcontainerregistry.SKU{Name: to.Ptr(armcontainerregistry.SKUNameBasic)}}, nil)
	wantResponseError(t, err, 409, "AlreadyInUse")

	// RBAC: a Reader reads but cannot create or list credentials; a
	// principal without a role gets ARM's 403.
	readerP, readerSecret, err := h.Server.Login().CreateServicePrincipal(ctx, h.EP.TenantID, "acr-reader")
	if err != nil {
		t.Fatal(err)
	}
	nobodyP, nobodySecret, err := h.Server.Login().CreateServicePrincipal(ctx, h.EP.TenantID, "acr-nobody")
	if err != nil {
		t.Fatal(err)
	}
	subID, _ := cobalt.ParseResourceID("/subscriptions/" + sub)
	if err := rbac.New(rbac.Config{Store: h.Server.Store()}).Assign(ctx, rbac.RoleAssignmentInput{Scope: subID, RoleDefinitionID: rbac.RoleReader, PrincipalID: readerP.ObjectID}); err != nil {
		t.Fatal(err)
	}
	asReader, _ := armcontainerregistry.NewRegistriesClient(sub, h.Credential(readerP.ClientID, readerSecret), h.ARMOptions())
	if _, err := asReader.Get(ctx, "acrrg", "cobaltacr1", nil); err != nil {
		t.Fatalf("reader Get: %v", err)
	}
	_, err = asReader.BeginCreate(ctx, "acrrg", "readersacr", armcontainerregistry.Registry{
		Location: to.Ptr("eastus"), SKU: &armcontainerregistry.SKU{Name: to.Ptr(armcontainerregistry.SKUNameBasic)}}, nil)
	wantResponseError(t, err, 403, "AuthorizationFailed")
	_, err = asReader.ListCredentials(ctx, "acrrg", "cobaltacr1", nil)
	wantResponseError(t, err, 403, "AuthorizationFailed")
	asNobody, _ := armcontainerregistry.NewRegistriesClient(sub, h.Credential(nobodyP.ClientID, nobodySecret), h.ARMOptions())
	_, err = asNobody.Get(ctx, "acrrg", "cobaltacr1", nil)
	wantResponseError(t, err, 403, "AuthorizationFailed")

	// Delete: the listener closes and the name is free again.
	del, err := regs.BeginDelete(ctx, "acrrg", "cobaltacr1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := del.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	_, err = regs.Get(ctx, "acrrg", "cobaltacr1", nil)
	wantResponseError(t, err, 404, "ResourceNotFound")
	if c, err := net.Dial("tcp", *p.LoginServer); err == nil {
		c.Close()
		t.Fatal("the deleted registry's listener still accepts connections")
	}
	avail, err = regs.CheckNameAvailability(ctx, armcontainerregistry.RegistryNameCheckRequest{
		Name: to.Ptr("cobaltacr1"), Type: to.Ptr("Microsoft.ContainerRegistry/registries")}, nil)
	if err != nil || !*avail.NameAvailable {
		t.Fatalf("CheckNameAvailability after delete = %+v, %v", avail, err)
	}
}
