package cli

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func init() { register(acrCmd) }

const (
	providerACR = "Microsoft.ContainerRegistry"
	typeACR     = "registries"
	apiACR      = "2023-07-01" // armcontainerregistry v1.2.0
)

var acrColumns = []column{col("Name", "name"), groupColumn, col("Location", "location"), col("Sku", "sku.name"),
	col("LoginServer", "properties.loginServer"), col("CreationDate", "properties.creationDate"),
	col("AdminEnabled", "properties.adminUserEnabled")}

// acrCmd manages container registries (Microsoft.ContainerRegistry) and puts
// images into them, as `az acr` does.
func acrCmd(g *globals) *cobra.Command {
	var rg, name, loc, sku, newSku, adminFlag, pwName string
	var admin, yes bool
	var tags []string
	path := func(ctx context.Context, c *client) (string, error) {
		id, _, err := c.registry(ctx, rg, name)
		return id, err
	}
	named := func(cmd *cobra.Command, needGroup bool) *cobra.Command {
		cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group (default: found by the registry's name)")
		cmd.Flags().StringVarP(&name, "name", "n", "", "registry name")
		if needGroup {
			return required(cmd, "resource-group", "name")
		}
		return required(cmd, "name")
	}

	create := named(leaf("create", "Create a container registry", action(g, acrColumns, func(ctx context.Context, c *client) (any, error) {
		t, err := parseTags(tags)
		if err != nil {
			return nil, err
		}
		body := withTags(map[string]any{"location": c.location(loc), "sku": map[string]any{"name": sku},
			"properties": map[string]any{"adminUserEnabled": admin}}, t)
		return c.armWrite(ctx, "PUT", c.resourceID(rg, providerACR, typeACR, name), apiACR, body)
	})), true)
	create.Flags().StringVarP(&loc, "location", "l", "", "location (default: the installation's)")
	create.Flags().StringVar(&sku, "sku", "Basic", "SKU: Basic, Standard or Premium")
	create.Flags().BoolVar(&admin, "admin-enabled", false, "enable the admin user")
	create.Flags().StringSliceVar(&tags, "tags", nil, "tags as KEY=VALUE")

	show := named(leaf("show", "Show a container registry", action(g, acrColumns, func(ctx context.Context, c *client) (any, error) {
		_, reg, err := c.registry(ctx, rg, name)
		return reg, err
	})), false)

	list := leaf("list", "List container registries of a group or the subscription", action(g, acrColumns, func(ctx context.Context, c *client) (any, error) {
		scope := c.sub()
		if rg != "" {
			scope = c.rgPath(rg)
		}
		return c.armList(ctx, scope+"/providers/"+providerACR+"/"+typeACR, apiACR)
	}))
	list.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group (default: the whole subscription)")

	update := named(leaf("update", "Update a container registry", action(g, acrColumns, func(ctx context.Context, c *client) (any, error) {
		p, err := path(ctx, c)
		if err != nil {
			return nil, err
		}
		props := map[string]any{}
		if adminFlag != "" {
			v, err := strconv.ParseBool(adminFlag)
			if err != nil {
				return nil, invalidArg("--admin-enabled", adminFlag, "want true or false")
			}
			props["adminUserEnabled"] = v
		}
		body := map[string]any{"properties": props}
		if newSku != "" {
			body["sku"] = map[string]any{"name": newSku}
		}
		return c.armWrite(ctx, "PATCH", p, apiACR, body)
	})), false)
	update.Flags().StringVar(&adminFlag, "admin-enabled", "", "enable (true) or disable (false) the admin user")
	update.Flags().StringVar(&newSku, "sku", "", "SKU: Basic, Standard or Premium")

	del := named(leaf("delete", "Delete a container registry and its content", action(g, nil, func(ctx context.Context, c *client) (any, error) {
		p, err := path(ctx, c)
		if err != nil {
			return nil, err
		}
		return nil, c.armDelete(ctx, p, apiACR, false)
	})), false)
	del.Flags().BoolVarP(&yes, "yes", "y", false, "do not prompt for confirmation (there is no prompt)")

	credCols := []column{col("Username", "username"), col("Password", "passwords.0.value"), col("Password2", "passwords.1.value")}
	credShow := named(leaf("show", "Show the admin user's credentials", action(g, credCols, func(ctx context.Context, c *client) (any, error) {
		p, err := path(ctx, c)
		if err != nil {
			return nil, err
		}
		return c.armPost(ctx, p+"/listCredentials", apiACR)
	})), false)
	credRenew := named(leaf("renew", "Regenerate one of the admin user's passwords", action(g, credCols, func(ctx context.Context, c *client) (any, error) {
		p, err := path(ctx, c)
		if err != nil {
			return nil, err
		}
		out, _, err := c.arm(ctx, "POST", p+"/regenerateCredential", apiACR, map[string]any{"name": pwName})
		return out, err
	})), false)
	credRenew.Flags().StringVar(&pwName, "password-name", "", "the password to regenerate: password or password2")
	required(credRenew, "password-name")

	return withQuery(group("acr", "Manage container registries and their images",
		create, show, list, update, del,
		group("credential", "Manage the admin user's credentials", credShow, credRenew),
		acrLoginCmd(g), acrImportCmd(g)))
}

// registry finds a registry by name: in group if given, else by listing the
// subscription's registries (as az does). It returns its ID and JSON.
func (c *client) registry(ctx context.Context, group, name string) (string, json.RawMessage, error) {
	if group != "" {
		id := c.resourceID(group, providerACR, typeACR, name)
		reg, err := c.armGet(ctx, id, apiACR)
		return id, reg, err
	}
	all, err := c.armList(ctx, c.sub()+"/providers/"+providerACR+"/"+typeACR, apiACR)
	if err != nil {
		return "", nil, err
	}
	for _, a := range all {
		var r struct{ ID, Name string }
		if json.Unmarshal(a, &r) == nil && strings.EqualFold(r.Name, name) {
			return r.ID, a, nil
		}
	}
	return "", nil, &apiError{Status: 404, Code: "ResourceNotFound", Message: "The registry '" + name + "' was not found in the subscription."}
}
