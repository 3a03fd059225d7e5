package arm

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/odata"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Microsoft.Authorization types.
const (
	typeRoleAssignment = "Microsoft.Authorization/roleAssignments"
	typeRoleDefinition = "Microsoft.Authorization/roleDefinitions"
)

// authorizationVersions are the Microsoft.Authorization api-versions
// (armauthorization/v2 sends 2022-04-01).
var (
	roleAssignmentVersions = []string{"2015-07-01", "2018-01-01-preview", "2018-09-01-preview",
		"2020-04-01-preview", "2020-08-01-preview", "2020-10-01-preview", "2022-04-01"}
	roleDefinitionVersions = []string{"2015-07-01", "2018-01-01-preview", "2022-04-01", "2022-05-01-preview"}
)

var guidPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
})

// RoleAssignmentProperties are a role assignment's properties.
type RoleAssignmentProperties struct {
	RoleDefinitionID                   string    `json:"roleDefinitionId"`
	PrincipalID                        string    `json:"principalId"`
	PrincipalType                      string    `json:"principalType"`
	Scope                              string    `json:"scope"`
	Description                        *string   `json:"description"`
	Condition                          *string   `json:"condition"`
	ConditionVersion                   *string   `json:"conditionVersion"`
	CreatedOn                          time.Time `json:"createdOn"`
	UpdatedOn                          time.Time `json:"updatedOn"`
	CreatedBy                          *string   `json:"createdBy"`
	UpdatedBy                          *string   `json:"updatedBy"`
	DelegatedManagedIdentityResourceID *string   `json:"delegatedManagedIdentityResourceId"`
}

// RoleAssignment is the JSON of a role assignment.
type RoleAssignment struct {
	ID         string                   `json:"id"`
	Name       string                   `json:"name"`
	Type       string                   `json:"type"`
	Properties RoleAssignmentProperties `json:"properties"`
}

// RoleDefinitionProperties are a role definition's properties.
type RoleDefinitionProperties struct {
	RoleName         string            `json:"roleName"`
	Type             string            `json:"type"`
	Description      string            `json:"description"`
	AssignableScopes []string          `json:"assignableScopes"`
	Permissions      []rbac.Permission `json:"permissions"`
	CreatedOn        string            `json:"createdOn"`
	UpdatedOn        string            `json:"updatedOn"`
	CreatedBy        *string           `json:"createdBy"`
	UpdatedBy        *string           `json:"updatedBy"`
}

// RoleDefinition is the JSON of a role definition.
type RoleDefinition struct {
	ID         string                   `json:"id"`
	Name       string                   `json:"name"`
	Type       string                   `json:"type"`
	Properties RoleDefinitionProperties `json:"properties"`
}

type authorizationProvider struct{ s *Server }

func (p *authorizationProvider) Register(g *Registrar) error {
	p.s = g.Server()
	g.APIVersions(typeRoleAssignment, roleAssignmentVersions...)
	g.APIVersions(typeRoleDefinition, roleDefinitionVersions...)
	for _, l := range []string{"Microsoft.Authorization", "roleAssignments", "roleDefinitions"} {
		p.s.literals[strings.ToLower(l)] = l
	}
	return nil
}

// authorizationRoute matches Microsoft.Authorization paths at any scope:
// "{scope}/providers/Microsoft.Authorization/roleAssignments[/{name}]" and
// ".../roleDefinitions[/{id}]". It sets the path values "scope" and "name".
func (s *Server) authorizationRoute(r *http.Request) (Route, bool) {
	const marker = "/providers/Microsoft.Authorization/"
	path := r.URL.Path
	i := strings.LastIndex(path, marker)
	if i < 0 {
		return Route{}, false
	}
	scope, rest := path[:i], path[i+len(marker):]
	if scope == "" {
		scope = "/"
	}
	kind, name, _ := strings.Cut(rest, "/")
	if strings.Contains(name, "/") {
		return Route{}, false
	}
	r.SetPathValue("scope", scope)
	r.SetPathValue("name", name)
	p := &authorizationProvider{s: s}
	switch {
	case kind == "roleAssignments" && name == "" && r.Method == http.MethodGet:
		return Route{Pattern: "GET {scope}/providers/Microsoft.Authorization/roleAssignments", Type: typeRoleAssignment,
			Action: typeRoleAssignment + "/read", Handler: p.handleListAssignments}, true
	case kind == "roleAssignments" && name != "" && r.Method == http.MethodGet:
		return Route{Pattern: "GET {scope}/providers/Microsoft.Authorization/roleAssignments/{name}", Type: typeRoleAssignment,
			Action: typeRoleAssignment + "/read", Handler: p.handleGetAssignment}, true
	case kind == "roleAssignments" && name != "" && r.Method == http.MethodPut:
		return Route{Pattern: "PUT {scope}/providers/Microsoft.Authorization/roleAssignments/{name}", Type: typeRoleAssignment,
			Action: typeRoleAssignment + "/write", Handler: p.handlePutAssignment}, true
	case kind == "roleAssignments" && name != "" && r.Method == http.MethodDelete:
		return Route{Pattern: "DELETE {scope}/providers/Microsoft.Authorization/roleAssignments/{name}", Type: typeRoleAssignment,
			Action: typeRoleAssignment + "/delete", Handler: p.handleDeleteAssignment}, true
	case kind == "roleDefinitions" && r.Method == http.MethodGet:
		action := typeRoleDefinition + "/read"
		if scope == "/" {
			action = "" // built-in definitions at the tenant root are readable by every caller
		}
		h := p.handleGetDefinition
		if name == "" {
			h = p.handleListDefinitions
		}
		return Route{Pattern: "GET {scope}/providers/Microsoft.Authorization/roleDefinitions", Type: typeRoleDefinition,
			Action: action, Handler: h}, true
	}
	return Route{}, false
}

func scopeID(r *Request) (cobalt.ResourceID, error) {
	return cobalt.ParseResourceID(r.PathValue("scope"))
}

// definitionID formats a role definition's ID as ARM returns it at a scope.
func definitionID(scope cobalt.ResourceID, guid string) string {
	if scope.SubscriptionID != "" {
		return "/subscriptions/" + scope.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + guid
	}
	return "/providers/Microsoft.Authorization/roleDefinitions/" + guid
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func renderAssignment(a store.RoleAssignment) (RoleAssignment, error) {
	var body rbac.AssignmentProperties
	if len(a.Body) > 0 {
		if err := json.Unmarshal(a.Body, &body); err != nil {
			return RoleAssignment{}, err
		}
	}
	scope, err := cobalt.ParseResourceID(a.Scope)
	if err != nil {
		return RoleAssignment{}, err
	}
	ra := RoleAssignment{ID: a.ID, Name: a.Name, Type: typeRoleAssignment, Properties: RoleAssignmentProperties{
		RoleDefinitionID: definitionID(scope, a.RoleDefinitionID), PrincipalID: a.PrincipalID, PrincipalType: a.PrincipalType,
		Scope: a.Scope, Description: strPtr(body.Description), CreatedOn: a.CreatedAt.UTC(), UpdatedOn: body.UpdatedOn,
		CreatedBy: strPtr(body.CreatedBy), UpdatedBy: strPtr(body.UpdatedBy)}}
	if ra.Properties.UpdatedOn.IsZero() {
		ra.Properties.UpdatedOn = ra.Properties.CreatedOn
	}
	return ra, nil
}

func assignmentNotFound(name string) error {
	return cobalt.Errorf(cobalt.ENotFound, "The role assignment '%s' is not found.", name).WithReason("RoleAssignmentNotFound")
}

var principalTypes = []string{"User", "Group", "ServicePrincipal", "ForeignGroup", "Device"}

func (p *authorizationProvider) handlePutAssignment(w http.ResponseWriter, r *Request) error {
	name := r.PathValue("name")
	if !guidPattern().MatchString(name) {
		return Invalid("InvalidRoleAssignmentId", "roleAssignmentName",
			"The role assignment ID '%s' is not valid. The role assignment ID must be a GUID.", name)
	}
	scope, err := scopeID(r)
	if err != nil {
		return err
	}
	var in struct {
		Properties *struct {
			RoleDefinitionID *string `json:"roleDefinitionId"`
			PrincipalID      *string `json:"principalId"`
			PrincipalType    string  `json:"principalType"`
			Description      string  `json:"description"`
			Condition        string  `json:"condition"`
			ConditionVersion string  `json:"conditionVersion"`
		} `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return err
	}
	if in.Properties == nil {
		return Invalid("InvalidRequestContent", "properties", "The request content was invalid: the property 'properties' is required.")
	}
	pr := in.Properties
	if pr.RoleDefinitionID == nil || *pr.RoleDefinitionID == "" {
		return Invalid("InvalidRequestContent", "properties.roleDefinitionId", "The request content was invalid: the property 'properties.roleDefinitionId' is required.")
	}
	if pr.PrincipalID == nil || *pr.PrincipalID == "" {
		return Invalid("InvalidRequestContent", "properties.principalId", "The request content was invalid: the property 'properties.principalId' is required.")
	}
	if pr.Condition != "" {
		return Invalid("InvalidRoleAssignmentCondition", "properties.condition", "Role assignment conditions are not supported.")
	}
	roleGUID := *pr.RoleDefinitionID
	if i := strings.LastIndex(roleGUID, "/"); i >= 0 {
		roleGUID = roleGUID[i+1:]
	}
	role, ok := rbac.RoleByID(roleGUID)
	if !ok {
		return Invalid("RoleDefinitionDoesNotExist", "properties.roleDefinitionId",
			"The specified role definition with ID '%s' does not exist.", roleGUID)
	}
	ptype := "User"
	if pr.PrincipalType != "" {
		ptype = ""
		for _, t := range principalTypes {
			if strings.EqualFold(t, pr.PrincipalType) {
				ptype = t
			}
		}
		if ptype == "" {
			return Invalid("InvalidPrincipalType", "properties.principalType",
				"The principal type '%s' is not valid. It must be one of 'User', 'Group', 'ServicePrincipal', 'ForeignGroup' or 'Device'.", pr.PrincipalType)
		}
	}
	principalID := strings.ToLower(*pr.PrincipalID)
	if _, err := r.Store().PrincipalGet(r.Context(), principalID); err != nil {
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return Invalid("PrincipalNotFound", "properties.principalId",
				"Principal %s does not exist in the directory %s. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay.",
				strings.ReplaceAll(principalID, "-", ""), p.s.cfg.TenantID)
		}
		return err
	}
	if err := r.RequireResourceGroup(scope); err != nil {
		return err
	}
	id := rbac.AssignmentID(scope, strings.ToLower(name))
	if existing, err := r.Store().RoleAssignmentGet(r.Context(), id); err == nil {
		if existing.RoleDefinitionID != role.ID || existing.PrincipalID != principalID {
			return cobalt.Errorf(cobalt.EConflict, "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.").
				WithReason("RoleAssignmentUpdateNotPermitted")
		}
		out, err := renderAssignment(existing)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, "", out)
		return nil
	} else if !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	created, err := p.s.cfg.Authz.Create(r.Context(), rbac.RoleAssignmentInput{Name: name, Scope: scope, RoleDefinitionID: role.ID,
		PrincipalID: principalID, PrincipalType: ptype, Description: pr.Description, Actor: r.Caller.ObjectID})
	if cobalt.IsCode(err, cobalt.EConflict) {
		if created.Name != "" && created.Key == strings.ToLower(id) {
			return p.handlePutAssignment(w, r) // created concurrently under this name
		}
		return cobalt.Errorf(cobalt.EConflict, "The role assignment already exists. The ID of the existing role assignment is %s.",
			strings.ReplaceAll(created.Name, "-", "")).WithReason("RoleAssignmentExists")
	}
	if err != nil {
		return err
	}
	out, err := renderAssignment(created)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, "", out)
	return nil
}

func (p *authorizationProvider) handleGetAssignment(w http.ResponseWriter, r *Request) error {
	scope, err := scopeID(r)
	if err != nil {
		return err
	}
	a, err := r.Store().RoleAssignmentGet(r.Context(), rbac.AssignmentID(scope, r.PathValue("name")))
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return assignmentNotFound(r.PathValue("name"))
	}
	if err != nil {
		return err
	}
	out, err := renderAssignment(a)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, "", out)
	return nil
}

func (p *authorizationProvider) handleDeleteAssignment(w http.ResponseWriter, r *Request) error {
	scope, err := scopeID(r)
	if err != nil {
		return err
	}
	a, err := p.s.cfg.Authz.Delete(r.Context(), r.Caller.ObjectID, rbac.AssignmentID(scope, r.PathValue("name")))
	if cobalt.IsCode(err, cobalt.ENotFound) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	out, err := renderAssignment(a)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, "", out)
	return nil
}

// assignmentFilter is a parsed role assignment $filter.
type assignmentFilter struct {
	atScope     bool
	principalID string
}

// parseAssignmentFilter parses "atScope()", "principalId eq '<id>'",
// "assignedTo('<id>')" and their conjunctions with "and".
func parseAssignmentFilter(f string) (assignmentFilter, error) {
	var out assignmentFilter
	bad := Invalid("InvalidFilterInQueryString", "$filter",
		"The filter '%s' is not supported. Supported filters are 'atScope()', 'principalId eq {id}' and 'assignedTo({id})'.", f)
	parsed, err := odata.ParseFilter(f, odata.Options{Fields: []string{"principalId"},
		Functions: []string{"atScope", "assignedTo"}, NoStartsWith: true})
	if err != nil {
		return out, bad
	}
	for _, term := range parsed.Conjuncts() {
		switch t := term.(type) {
		case *odata.Call:
			switch {
			case t.Name == "atScope" && len(t.Args) == 0:
				out.atScope = true
			case t.Name == "assignedTo" && len(t.Args) == 1 && t.Args[0].Literal.Kind == odata.String:
				out.principalID = strings.ToLower(t.Args[0].Literal.Text)
			default:
				return out, bad
			}
		case *odata.Compare:
			if t.Op != odata.Eq || t.Value.Kind != odata.String {
				return out, bad
			}
			out.principalID = strings.ToLower(t.Value.Text)
		default:
			return out, bad
		}
	}
	return out, nil
}

func (p *authorizationProvider) handleListAssignments(w http.ResponseWriter, r *Request) error {
	scope, err := scopeID(r)
	if err != nil {
		return err
	}
	f, err := parseAssignmentFilter(r.URL.Query().Get("$filter"))
	if err != nil {
		return err
	}
	page, err := r.PageToken(1000)
	if err != nil {
		return err
	}
	params := store.RoleAssignmentListParams{PrincipalID: f.principalID, Page: page}
	for _, a := range scope.Ancestry() {
		params.ScopeKeys = append(params.ScopeKeys, a.Key())
	}
	if !f.atScope {
		params.BelowKey = scope.Key()
	}
	as, next, err := r.Store().RoleAssignmentList(r.Context(), params)
	if err != nil {
		return err
	}
	out := make([]RoleAssignment, 0, len(as))
	for _, a := range as {
		ra, err := renderAssignment(a)
		if err != nil {
			return err
		}
		out = append(out, ra)
	}
	r.WriteList(w, out, next)
	return nil
}

func renderDefinition(scope cobalt.ResourceID, d rbac.RoleDefinition) RoleDefinition {
	return RoleDefinition{ID: definitionID(scope, d.ID), Name: d.ID, Type: typeRoleDefinition, Properties: RoleDefinitionProperties{
		RoleName: d.RoleName, Type: d.RoleType, Description: d.Description, AssignableScopes: d.AssignableScopes,
		Permissions: d.Permissions, CreatedOn: "2015-02-02T21:55:09.8806423Z", UpdatedOn: "2024-01-01T00:00:00.0000000Z"}}
}

func (p *authorizationProvider) handleGetDefinition(w http.ResponseWriter, r *Request) error {
	scope, err := scopeID(r)
	if err != nil {
		return err
	}
	d, ok := rbac.RoleByID(r.PathValue("name"))
	if !ok {
		return cobalt.Errorf(cobalt.ENotFound, "The specified role definition with ID '%s' does not exist.", r.PathValue("name")).
			WithReason("RoleDefinitionDoesNotExist")
	}
	WriteJSON(w, http.StatusOK, "", renderDefinition(scope, d))
	return nil
}

// parseDefinitionFilter parses "atScopeAndBelow()", "roleName eq '<name>'"
// or "type eq '<type>'" into the compared field ("roleName", "type" or "")
// and value.
func parseDefinitionFilter(f string) (field, value string, err error) {
	bad := Invalid("InvalidFilterInQueryString", "$filter",
		"The filter '%s' is not supported. Supported filters are \"roleName eq '{name}'\" and \"type eq '{type}'\".", f)
	parsed, perr := odata.ParseFilter(f, odata.Options{Fields: []string{"roleName", "type"},
		Functions: []string{"atScopeAndBelow"}, NoStartsWith: true})
	if perr != nil {
		return "", "", bad
	}
	if parsed == nil {
		return "", "", nil
	}
	switch t := parsed.Root.(type) {
	case *odata.Call:
		if len(t.Args) == 0 {
			return "", "", nil
		}
	case *odata.Compare:
		if t.Op == odata.Eq && t.Value.Kind == odata.String {
			return t.Field, t.Value.Text, nil
		}
	}
	return "", "", bad
}

func (p *authorizationProvider) handleListDefinitions(w http.ResponseWriter, r *Request) error {
	scope, err := scopeID(r)
	if err != nil {
		return err
	}
	field, value, err := parseDefinitionFilter(r.URL.Query().Get("$filter"))
	if err != nil {
		return err
	}
	var out []RoleDefinition
	for _, d := range rbac.BuiltInRoles() {
		switch {
		case field == "roleName" && !strings.EqualFold(d.RoleName, value):
			continue
		case field == "type" && !strings.EqualFold(d.RoleType, value):
			continue
		}
		out = append(out, renderDefinition(scope, d))
	}
	r.WriteList(w, out, "")
	return nil
}
