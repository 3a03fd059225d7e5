package cli

import (
	"context"
	"net/url"

	"github.com/spf13/cobra"
)

func init() { register(groupCmd) }

var groupColumns = []column{col("Name", "name"), col("Location", "location"), col("Status", "properties.provisioningState")}

// groupCmd manages resource groups (Microsoft.Resources).
func groupCmd(g *globals) *cobra.Command {
	var name, loc string
	var tags []string
	var noWait bool
	path := func(c *client) string { return c.sub() + "/resourcegroups/" + url.PathEscape(name) }

	create := leaf("create", "Create or update a resource group", action(g, groupColumns, func(ctx context.Context, c *client) (any, error) {
		t, err := parseTags(tags)
		if err != nil {
			return nil, err
		}
		return c.armWrite(ctx, "PUT", path(c), apiResources, withTags(map[string]any{"location": c.location(loc)}, t))
	}))
	create.Flags().StringVarP(&name, "name", "n", "", "resource group name")
	create.Flags().StringVarP(&loc, "location", "l", "", "location (default: the installation's)")
	create.Flags().StringSliceVar(&tags, "tags", nil, "tags as KEY=VALUE")
	required(create, "name")

	show := leaf("show", "Show a resource group", action(g, groupColumns, func(ctx context.Context, c *client) (any, error) {
		return c.armGet(ctx, path(c), apiResources)
	}))
	show.Flags().StringVarP(&name, "name", "n", "", "resource group name")
	required(show, "name")

	list := leaf("list", "List resource groups", action(g, groupColumns, func(ctx context.Context, c *client) (any, error) {
		return c.armList(ctx, c.sub()+"/resourcegroups", apiResources)
	}))

	del := leaf("delete", "Delete a resource group and everything in it", action(g, nil, func(ctx context.Context, c *client) (any, error) {
		return nil, c.armDelete(ctx, path(c), apiResources, noWait)
	}))
	del.Flags().StringVarP(&name, "name", "n", "", "resource group name")
	del.Flags().BoolVar(&noWait, "no-wait", false, "do not wait for the deletion to finish")
	del.Flags().BoolP("yes", "y", false, "do not prompt for confirmation (there is no prompt)")
	required(del, "name")

	return withQuery(group("group", "Manage resource groups", create, show, list, del))
}
