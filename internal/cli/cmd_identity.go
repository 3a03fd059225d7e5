package cli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
)

func init() { register(identityCmd) }

const (
	providerMSI  = "Microsoft.ManagedIdentity"
	typeIdentity = "userAssignedIdentities"
)

var identityColumns = []column{col("Name", "name"), groupColumn, col("Location", "location"),
	col("ClientId", "properties.clientId"), col("PrincipalId", "properties.principalId")}

// identityCmd manages user-assigned managed identities (Microsoft.ManagedIdentity).
func identityCmd(g *globals) *cobra.Command {
	var rg, name, loc string
	var tags []string
	path := func(c *client) string { return c.resourceID(rg, providerMSI, typeIdentity, name) }
	named := func(cmd *cobra.Command) *cobra.Command {
		cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group")
		cmd.Flags().StringVarP(&name, "name", "n", "", "identity name")
		return required(cmd, "resource-group", "name")
	}

	create := named(leaf("create", "Create or update a user-assigned identity", action(g, identityColumns, func(ctx context.Context, c *client) (any, error) {
		t, err := parseTags(tags)
		if err != nil {
			return nil, err
		}
		return c.armWrite(ctx, "PUT", path(c), apiMSI, withTags(map[string]any{"location": c.location(loc)}, t))
	})))
	create.Flags().StringVarP(&loc, "location", "l", "", "location (default: the installation's)")
	create.Flags().StringSliceVar(&tags, "tags", nil, "tags as KEY=VALUE")

	show := named(leaf("show", "Show a user-assigned identity", action(g, identityColumns, func(ctx context.Context, c *client) (any, error) {
		return c.armGet(ctx, path(c), apiMSI)
	})))

	list := leaf("list", "List user-assigned identities of a group or the subscription", action(g, identityColumns, func(ctx context.Context, c *client) (any, error) {
		scope := c.sub()
		if rg != "" {
			scope = c.rgPath(rg)
		}
		return c.armList(ctx, scope+"/providers/"+providerMSI+"/"+typeIdentity, apiMSI)
	}))
	list.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group (default: the whole subscription)")

	del := named(leaf("delete", "Delete a user-assigned identity", action(g, nil, func(ctx context.Context, c *client) (any, error) {
		return nil, c.armDelete(ctx, path(c), apiMSI, false)
	})))

	return withQuery(group("identity", "Manage user-assigned managed identities", create, show, list, del))
}

// identityID turns an --identity value into an ARM resource ID: a full ID is
// kept, a name is an identity in the given resource group.
func (c *client) identityID(group, v string) string {
	if strings.HasPrefix(v, "/") {
		return v
	}
	return c.resourceID(group, providerMSI, typeIdentity, v)
}
