package cli

import (
	"context"
	"encoding/json"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func init() { register(batchCmd) }

var batchAccountColumns = []column{col("Name", "name"), groupColumn, col("Location", "location"),
	col("AccountEndpoint", "properties.accountEndpoint"), col("Status", "properties.provisioningState")}

// batchCmd holds Batch accounts and pools (management plane) and nodes, jobs
// and tasks (Batch data plane).
func batchCmd(g *globals) *cobra.Command {
	return withQuery(group("batch", "Manage Batch accounts, pools, nodes, jobs and tasks",
		batchAccountCmd(g), batchPoolCmd(g), batchNodeCmd(g), batchJobCmd(g), batchTaskCmd(g)))
}

// batchFlags adds the account-selection flags of pool, node, job and task
// commands. As in az, $AZURE_BATCH_ACCOUNT and $AZURE_BATCH_ENDPOINT give
// their defaults.
func batchFlags(g *globals, cmd *cobra.Command, t *batchTarget) *cobra.Command {
	f := cmd.Flags()
	acct := g.Getenv("AZURE_BATCH_ACCOUNT")
	f.StringVar(&t.account, "account-name", acct, "Batch account name (default $AZURE_BATCH_ACCOUNT)")
	f.StringVarP(&t.group, "resource-group", "g", "", "resource group of the account (default: search the subscription)")
	f.StringVar(&t.endpoint, "account-endpoint", g.Getenv("AZURE_BATCH_ENDPOINT"), "Batch service URL (default $AZURE_BATCH_ENDPOINT, else the account's accountEndpoint)")
	if acct != "" {
		return cmd
	}
	return required(cmd, "account-name")
}

// batchAccountCmd manages Microsoft.Batch/batchAccounts.
func batchAccountCmd(g *globals) *cobra.Command {
	var rg, name, loc, storage string
	var tags []string
	path := func(c *client) string { return c.resourceID(rg, providerBatch, typeBatch, name) }
	named := func(cmd *cobra.Command) *cobra.Command {
		cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group")
		cmd.Flags().StringVarP(&name, "name", "n", "", "Batch account name")
		return required(cmd, "resource-group", "name")
	}

	create := named(leaf("create", "Create a Batch account (waits for the long-running operation)", action(g, batchAccountColumns, func(ctx context.Context, c *client) (any, error) {
		t, err := parseTags(tags)
		if err != nil {
			return nil, err
		}
		props := map[string]any{}
		if storage != "" {
			id := storage
			if !strings.HasPrefix(id, "/") {
				id = c.resourceID(rg, providerStorage, typeStorage, storage)
			}
			props["autoStorage"] = map[string]any{"storageAccountId": id}
		}
		return c.armWrite(ctx, "PUT", path(c), apiBatchMgmt, withTags(map[string]any{"location": c.location(loc), "properties": props}, t))
	})))
	create.Flags().StringVarP(&loc, "location", "l", "", "location (default: the installation's)")
	create.Flags().StringVar(&storage, "storage-account", "", "auto-storage account (name in the same group, or resource ID)")
	create.Flags().StringSliceVar(&tags, "tags", nil, "tags as KEY=VALUE")

	show := named(leaf("show", "Show a Batch account", action(g, batchAccountColumns, func(ctx context.Context, c *client) (any, error) {
		return c.armGet(ctx, path(c), apiBatchMgmt)
	})))

	list := leaf("list", "List Batch accounts of a group or the subscription", action(g, batchAccountColumns, func(ctx context.Context, c *client) (any, error) {
		scope := c.sub()
		if rg != "" {
			scope = c.rgPath(rg)
		}
		return c.armList(ctx, scope+"/providers/"+providerBatch+"/"+typeBatch, apiBatchMgmt)
	}))
	list.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group (default: the whole subscription)")

	del := named(leaf("delete", "Delete a Batch account (waits for the long-running operation)", action(g, nil, func(ctx context.Context, c *client) (any, error) {
		return nil, c.armDelete(ctx, path(c), apiBatchMgmt, false)
	})))
	del.Flags().BoolP("yes", "y", false, "do not prompt for confirmation (there is no prompt)")

	keys := named(leaf("list", "List a Batch account's shared keys", action(g, []column{col("AccountName", "accountName"), col("Primary", "primary"), col("Secondary", "secondary")},
		func(ctx context.Context, c *client) (any, error) {
			return c.armPost(ctx, path(c)+"/listKeys", apiBatchMgmt)
		})))

	return group("account", "Manage Batch accounts", create, show, list, del, group("keys", "Manage Batch account keys", keys))
}

// readJSONFile reads a --json FILE request body.
func readJSONFile(name string) (map[string]any, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, invalidArg("--json", name, err.Error())
	}
	return m, nil
}
