package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
)

func init() { register(roleCmd) }

const providerAuthz = "/providers/Microsoft.Authorization"

// builtinRoles are Azure's built-in role definitions (name, GUID): the
// fallback when the role definitions list is unavailable, and the names that
// `role assignment list` shows.
var builtinRoles = [][2]string{
	{"Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"},
	{"Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"},
	{"Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7"},
	{"Storage Blob Data Reader", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"},
	{"Storage Blob Data Contributor", "ba92f5b4-2d11-453d-a403-e96b0029c9fe"},
	{"Storage Blob Data Owner", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"},
	{"AcrPull", "7f951dda-4ed3-4680-a7ca-43fe172d538d"},
	{"AcrPush", "8311e382-0749-4cb8-b61a-304f252e45ec"},
	{"Managed Identity Operator", "f1a07417-d97a-45cb-824c-7a7467783830"},
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

var roleColumns = []column{col("Principal", "properties.principalId"), col("PrincipalType", "properties.principalType"),
	{header: "Role", get: func(o map[string]any) string { return roleName(lookupString(o, "properties.roleDefinitionId")) }},
	col("Scope", "properties.scope"), col("Name", "name")}

// roleName shows a built-in role's name for its definition ID, else the GUID.
func roleName(defID string) string {
	guid := defID[strings.LastIndex(defID, "/")+1:]
	for _, r := range builtinRoles {
		if strings.EqualFold(r[1], guid) {
			return r[0]
		}
	}
	return guid
}

// roleCmd manages role assignments (Microsoft.Authorization).
func roleCmd(g *globals) *cobra.Command {
	var assignee, objectID, role, scope, rg, principalType string
	var ids []string
	scopeFlags := func(cmd *cobra.Command) {
		cmd.Flags().StringVar(&scope, "scope", "", "scope: an ARM ID (subscription, group or resource)")
		cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "use the resource group as the scope")
		cmd.Flags().StringVar(&assignee, "assignee", "", "principal: a client ID or a principal (object) ID")
		cmd.Flags().StringVar(&role, "role", "", "role name (e.g. \"Storage Blob Data Reader\") or definition GUID")
	}
	resolveScope := func(c *client, needed bool) (string, error) {
		switch {
		case scope != "":
			return strings.TrimSuffix(scope, "/"), nil
		case rg != "":
			return c.rgPath(rg), nil
		case needed:
			return "", &apiError{Code: "MissingArgument", Message: "--scope or --resource-group is required."}
		}
		return c.sub(), nil
	}

	create := leaf("create", "Assign a role to a principal at a scope", action(g, roleColumns, func(ctx context.Context, c *client) (any, error) {
		s, err := resolveScope(c, true)
		if err != nil {
			return nil, err
		}
		defID, err := c.roleDefinitionID(ctx, role)
		if err != nil {
			return nil, err
		}
		pid := objectID
		if pid == "" {
			if assignee == "" {
				return nil, &apiError{Code: "MissingArgument", Message: "--assignee or --assignee-object-id is required."}
			}
			if pid, err = c.principalID(ctx, assignee); err != nil {
				return nil, err
			}
		}
		body := map[string]any{"properties": map[string]any{"roleDefinitionId": defID, "principalId": pid, "principalType": principalType}}
		return c.armWrite(ctx, "PUT", s+providerAuthz+"/roleAssignments/"+uuid.NewString(), apiAuthz, body)
	}))
	scopeFlags(create)
	create.Flags().StringVar(&principalType, "assignee-principal-type", "ServicePrincipal", "User, Group or ServicePrincipal")
	create.Flags().StringVar(&objectID, "assignee-object-id", "", "principal (object) ID, used as given")
	required(create, "role")

	list := leaf("list", "List role assignments at a scope", action(g, roleColumns, func(ctx context.Context, c *client) (any, error) {
		s, _ := resolveScope(c, false)
		return c.roleAssignments(ctx, s, assignee, role)
	}))
	scopeFlags(list)

	del := leaf("delete", "Delete role assignments by ID or by assignee, role and scope", action(g, nil, func(ctx context.Context, c *client) (any, error) {
		targets := ids
		if len(targets) == 0 {
			if assignee == "" && role == "" {
				return nil, &apiError{Code: "MissingArgument", Message: "--ids, or --assignee and/or --role, is required."}
			}
			s, _ := resolveScope(c, false)
			found, err := c.roleAssignments(ctx, s, assignee, role)
			if err != nil {
				return nil, err
			}
			for _, ra := range found {
				var r struct{ ID string }
				_ = json.Unmarshal(ra, &r)
				targets = append(targets, r.ID)
			}
			if len(targets) == 0 {
				return nil, &apiError{Code: "RoleAssignmentNotFound", Message: "No matched assignments were found to delete."}
			}
		}
		for _, id := range targets {
			if _, _, err := c.arm(ctx, "DELETE", id, apiAuthz, nil); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}))
	scopeFlags(del)
	del.Flags().StringSliceVar(&ids, "ids", nil, "role assignment IDs")

	return withQuery(group("role", "Manage role-based access control", group("assignment", "Manage role assignments", create, list, del)))
}

// roleAssignments lists the assignments at scope (and, as the service
// returns them, above it), keeping those of the assignee and role if given.
func (c *client) roleAssignments(ctx context.Context, scope, assignee, role string) ([]json.RawMessage, error) {
	var pid, defGUID string
	var err error
	if assignee != "" {
		if pid, err = c.principalID(ctx, assignee); err != nil {
			return nil, err
		}
	}
	if role != "" {
		def, err := c.roleDefinitionID(ctx, role)
		if err != nil {
			return nil, err
		}
		defGUID = def[strings.LastIndex(def, "/")+1:]
	}
	all, err := c.armList(ctx, scope+providerAuthz+"/roleAssignments", apiAuthz)
	if err != nil {
		return nil, err
	}
	out := []json.RawMessage{}
	for _, ra := range all {
		var r struct {
			Properties struct{ PrincipalID, RoleDefinitionID string }
		}
		_ = json.Unmarshal(ra, &r)
		if pid != "" && !strings.EqualFold(r.Properties.PrincipalID, pid) {
			continue
		}
		if defGUID != "" && !strings.HasSuffix(strings.ToLower(r.Properties.RoleDefinitionID), strings.ToLower(defGUID)) {
			continue
		}
		out = append(out, ra)
	}
	return out, nil
}

// roleDefinitionID resolves --role: a GUID or full definition ID is used as
// given; a name is looked up as az does, with
// GET /subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName eq '{name}',
// falling back to the built-in roles when that list is unavailable.
func (c *client) roleDefinitionID(ctx context.Context, role string) (string, error) {
	prefix := c.sub() + providerAuthz + "/roleDefinitions/"
	switch {
	case strings.Contains(role, "/roleDefinitions/"):
		return role, nil
	case guidRE.MatchString(role):
		return prefix + role, nil
	}
	filter := "$filter=" + url.QueryEscape("roleName eq '"+strings.ReplaceAll(role, "'", "''")+"'")
	defs, err := c.armList(ctx, c.sub()+providerAuthz+"/roleDefinitions?"+filter, apiAuthz)
	if err == nil {
		for _, d := range defs {
			var r struct {
				Name       string
				Properties struct{ RoleName string }
			}
			if json.Unmarshal(d, &r) == nil && strings.EqualFold(r.Properties.RoleName, role) && r.Name != "" {
				return prefix + r.Name, nil
			}
		}
	}
	for _, r := range builtinRoles {
		if strings.EqualFold(r[0], role) {
			return prefix + r[1], nil
		}
	}
	return "", &apiError{Code: "RoleDefinitionNotFound", Message: "Role '" + role + "' doesn't exist."}
}

// principalID resolves --assignee to the principal (object) ID that role
// assignments name. Managed identities are found by listing the
// subscription's user-assigned identities and matching clientId or
// principalId; the signed-in principal's client ID maps to the oid of its own
// token; any other GUID is taken as an object ID.
func (c *client) principalID(ctx context.Context, assignee string) (string, error) {
	// A principal that may not read identities still resolves GUIDs.
	ids, err := c.armList(ctx, c.sub()+"/providers/"+providerMSI+"/"+typeIdentity, apiMSI)
	var ae *apiError
	if err != nil && !(errors.As(err, &ae) && ae.Status == http.StatusForbidden) {
		return "", err
	}
	for _, raw := range ids {
		var id struct {
			Properties struct{ ClientID, PrincipalID string }
		}
		_ = json.Unmarshal(raw, &id)
		if strings.EqualFold(id.Properties.ClientID, assignee) || strings.EqualFold(id.Properties.PrincipalID, assignee) {
			return id.Properties.PrincipalID, nil
		}
	}
	if strings.EqualFold(assignee, c.profile.ClientID) {
		tok, err := c.tokens.token(ctx, c.profile.armScope())
		if err != nil {
			return "", err
		}
		claims, err := tokenClaims(tok.AccessToken)
		if err != nil {
			return "", err
		}
		if oid, _ := claims["oid"].(string); oid != "" {
			return oid, nil
		}
	}
	if guidRE.MatchString(assignee) {
		return assignee, nil
	}
	return "", &apiError{Code: "PrincipalNotFound", Message: "Cannot find a managed identity or service principal for '" + assignee + "'."}
}
