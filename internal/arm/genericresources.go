package arm

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/odata"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// GenericResource is one item of ARM's generic resource list
// (GET /subscriptions/{s}/resources): the envelope every resource shares.
type GenericResource struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Location string            `json:"location,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
}

// genericFilterOptions is what the generic list's $filter may say.
var genericFilterOptions = odata.Options{Fields: []string{"resourceType"}, NoStartsWith: true}

// handleListGenericResources lists a subscription's (or a resource group's)
// top-level resources, optionally of the types a $filter "resourceType eq
// 'T' [or resourceType eq 'U' ...]" names, with only the resources on which
// the caller holds the type's read action: a caller whose rights are on
// single resources sees those, as Azure Resource Graph shows them.
func (p *resourcesProvider) handleListGenericResources(w http.ResponseWriter, r *Request) error {
	bad := Invalid("InvalidFilterInQueryString", "$filter",
		"The filter '%s' is not supported. Supported filters are \"resourceType eq '{type}'\", joined with 'or'.", r.URL.Query().Get("$filter"))
	f, err := odata.ParseFilter(r.URL.Query().Get("$filter"), genericFilterOptions)
	if err != nil {
		return bad
	}
	types := []string{""}
	if f != nil {
		vs, ok := f.EqualsAny("resourceType")
		if !ok {
			return bad
		}
		types = vs
	}
	page, err := r.PageToken(1000)
	if err != nil {
		return err
	}
	if len(types) > 1 && page.Token != "" {
		return Invalid("InvalidSkipToken", "$skipToken", "The skip token is not valid for a filter over several types.")
	}
	out := []GenericResource{}
	next := ""
	for _, typ := range types {
		res, tok, err := r.Store().ResourceList(r.Context(), store.ResourceListParams{Type: typ,
			SubscriptionID: r.PathValue("subscriptionId"), ResourceGroup: r.PathValue("resourceGroupName"), Page: page})
		if err != nil {
			return err
		}
		if len(types) == 1 {
			next = tok
		}
		for _, x := range res {
			if g, ok := p.visibleResource(r, x); ok {
				out = append(out, g)
			}
		}
	}
	r.WriteList(w, out, next)
	return nil
}

// visibleResource renders a stored resource for the generic list when it
// is a top-level resource the caller may read.
func (p *resourcesProvider) visibleResource(r *Request, x store.Resource) (GenericResource, bool) {
	id, err := cobalt.ParseResourceID(x.ID)
	if err != nil || id.Namespace == "" || len(id.Types) != 1 || id.Scope != nil ||
		strings.EqualFold(id.Namespace, "Microsoft.Resources") || strings.EqualFold(id.Namespace, "Microsoft.Authorization") {
		return GenericResource{}, false
	}
	// A filter, not a refusal: Permitted records nothing.
	if ok, err := r.Permitted(id.Type()+"/read", id); err != nil || !ok {
		return GenericResource{}, false
	}
	var body struct {
		Location string            `json:"location"`
		Tags     map[string]string `json:"tags"`
	}
	_ = json.Unmarshal(x.Body, &body) // a body without them lists without them
	return GenericResource{ID: id.String(), Name: id.Name(), Type: id.Type(), Location: body.Location, Tags: body.Tags}, true
}
