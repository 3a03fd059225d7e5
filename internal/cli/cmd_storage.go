package cli

import (
	"context"
	"encoding/json"

	"github.com/spf13/cobra"
)

func init() { register(storageCmd) }

const (
	providerStorage = "Microsoft.Storage"
	typeStorage     = "storageAccounts"
)

var storageColumns = []column{col("Name", "name"), groupColumn, col("Location", "location"),
	col("Kind", "kind"), col("Sku", "sku.name"), col("Status", "properties.provisioningState"),
	col("BlobEndpoint", "properties.primaryEndpoints.blob")}

// storageCmd holds storage accounts (management plane) and containers and
// blobs (Blob data plane).
func storageCmd(g *globals) *cobra.Command {
	return withQuery(group("storage", "Manage storage accounts, containers and blobs",
		storageAccountCmd(g), storageContainerCmd(g), storageBlobCmd(g)))
}

// storageAccountCmd manages Microsoft.Storage/storageAccounts.
func storageAccountCmd(g *globals) *cobra.Command {
	var rg, name, loc, sku, kind string
	var tags []string
	path := func(c *client) string { return c.resourceID(rg, providerStorage, typeStorage, name) }
	named := func(cmd *cobra.Command) *cobra.Command {
		cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group")
		cmd.Flags().StringVarP(&name, "name", "n", "", "storage account name")
		return required(cmd, "resource-group", "name")
	}

	create := named(leaf("create", "Create a storage account", action(g, storageColumns, func(ctx context.Context, c *client) (any, error) {
		t, err := parseTags(tags)
		if err != nil {
			return nil, err
		}
		body := withTags(map[string]any{"location": c.location(loc), "kind": kind,
			"sku": map[string]any{"name": sku}, "properties": map[string]any{}}, t)
		return c.armWrite(ctx, "PUT", path(c), apiStorage, body)
	})))
	create.Flags().StringVarP(&loc, "location", "l", "", "location (default: the installation's)")
	create.Flags().StringVar(&sku, "sku", "Standard_LRS", "SKU name")
	create.Flags().StringVar(&kind, "kind", "StorageV2", "account kind")
	create.Flags().StringSliceVar(&tags, "tags", nil, "tags as KEY=VALUE")

	show := named(leaf("show", "Show a storage account", action(g, storageColumns, func(ctx context.Context, c *client) (any, error) {
		return c.armGet(ctx, path(c), apiStorage)
	})))

	list := leaf("list", "List storage accounts of a group or the subscription", action(g, storageColumns, func(ctx context.Context, c *client) (any, error) {
		scope := c.sub()
		if rg != "" {
			scope = c.rgPath(rg)
		}
		return c.armList(ctx, scope+"/providers/"+providerStorage+"/"+typeStorage, apiStorage)
	}))
	list.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group (default: the whole subscription)")

	del := named(leaf("delete", "Delete a storage account", action(g, nil, func(ctx context.Context, c *client) (any, error) {
		return nil, c.armDelete(ctx, path(c), apiStorage, false)
	})))
	del.Flags().BoolP("yes", "y", false, "do not prompt for confirmation (there is no prompt)")

	keys := leaf("list", "List a storage account's access keys", action(g, []column{col("KeyName", "keyName"), col("Value", "value"), col("Permissions", "permissions")},
		func(ctx context.Context, c *client) (any, error) {
			out, err := c.armPost(ctx, path(c)+"/listKeys", apiStorage)
			if err != nil {
				return nil, err
			}
			var r struct {
				Keys json.RawMessage `json:"keys"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				return nil, err
			}
			return r.Keys, nil
		}))
	keys.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group")
	keys.Flags().StringVarP(&name, "account-name", "n", "", "storage account name")
	required(keys, "resource-group", "account-name")

	return group("account", "Manage storage accounts", create, show, list, del, group("keys", "Manage storage account keys", keys))
}

// storageAccount finds a storage account by name: in group if given, else by
// listing the subscription's accounts (as az does for data-plane commands).
func (c *client) storageAccount(ctx context.Context, group, name string) (json.RawMessage, error) {
	if group != "" {
		return c.armGet(ctx, c.resourceID(group, providerStorage, typeStorage, name), apiStorage)
	}
	all, err := c.armList(ctx, c.sub()+"/providers/"+providerStorage+"/"+typeStorage, apiStorage)
	if err != nil {
		return nil, err
	}
	for _, a := range all {
		var r struct{ Name string }
		if json.Unmarshal(a, &r) == nil && r.Name == name {
			return a, nil
		}
	}
	return nil, &apiError{Status: 404, Code: "StorageAccountNotFound", Message: "The storage account '" + name + "' was not found."}
}
