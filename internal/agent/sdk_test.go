package agent

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// envHelper makes the test binary act as a Go azidentity client instead of
// running tests: COBALT_AGENT_HELPER=azidentity, with COBALT_MI_KIND
// (none|client|object|resource), COBALT_MI_ID and COBALT_MI_SCOPE. It prints
// the token on stdout.
const envHelper = "COBALT_AGENT_HELPER"

// helperMain runs the helper when asked and reports whether it did.
func helperMain() bool {
	if os.Getenv(envHelper) != "azidentity" {
		return false
	}
	opts := &azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 1, RetryDelay: 10 * time.Millisecond}},
	}
	id := os.Getenv("COBALT_MI_ID")
	switch os.Getenv("COBALT_MI_KIND") {
	case "client":
		opts.ID = azidentity.ClientID(id)
	case "object":
		opts.ID = azidentity.ObjectID(id)
	case "resource":
		opts.ID = azidentity.ResourceID(id)
	}
	cred, err := azidentity.NewManagedIdentityCredential(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "credential:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{os.Getenv("COBALT_MI_SCOPE")}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "GetToken:", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(3)
	}
	fmt.Println(tok.Token)
	os.Exit(0)
	return true
}
