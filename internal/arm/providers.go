package arm

import (
	"net/http"
	"sort"
	"strings"

	"github.com/cobaltbatch/cobalt"
)

// typeProvider is the resource provider registration type.
const typeProvider = "Microsoft.Resources/providers"

// ProviderInfo is the JSON of a resource provider registration.
type ProviderInfo struct {
	ID                 string             `json:"id"`
	Namespace          string             `json:"namespace"`
	RegistrationState  string             `json:"registrationState"`
	RegistrationPolicy string             `json:"registrationPolicy"`
	ResourceTypes      []ProviderTypeInfo `json:"resourceTypes"`
}

// ProviderTypeInfo describes one resource type of a provider.
type ProviderTypeInfo struct {
	ResourceType string   `json:"resourceType"`
	Locations    []string `json:"locations"`
	APIVersions  []string `json:"apiVersions"`
}

// registrationProvider serves the resource provider registrations of
// Microsoft.Resources (GET /subscriptions/{s}/providers[/{namespace}], POST
// .../register), which tools such as Terraform read at start. Every provider
// of the front door is always registered.
type registrationProvider struct{ s *Server }

func (p *registrationProvider) Register(g *Registrar) error {
	p.s = g.Server()
	g.APIVersions(typeProvider, resourcesVersions...)
	g.Handle(Route{Pattern: "GET /subscriptions/{subscriptionId}/providers", Type: typeProvider, Handler: p.handleList})
	g.Handle(Route{Pattern: "GET /subscriptions/{subscriptionId}/providers/{resourceProviderNamespace}", Type: typeProvider,
		Action: "Microsoft.Resources/subscriptions/providers/read", Handler: p.handleGet})
	g.Handle(Route{Pattern: "POST /subscriptions/{subscriptionId}/providers/{resourceProviderNamespace}/register", Type: typeProvider,
		Handler: p.handleRegister})
	return nil
}

// providers returns the registrations, built from the api-versions every
// provider declared.
func (p *registrationProvider) providers(sub string) []ProviderInfo {
	p.s.mu.RLock()
	defer p.s.mu.RUnlock()
	byNS := map[string]*ProviderInfo{}
	for typ, versions := range p.s.versions {
		ns, rest, ok := strings.Cut(typ, "/")
		if !ok || strings.EqualFold(ns, "microsoft.resources") {
			continue
		}
		canonNS := p.s.literals[ns]
		if canonNS == "" {
			canonNS = ns
		}
		var segs []string
		for _, seg := range strings.Split(rest, "/") {
			if c := p.s.literals[seg]; c != "" {
				seg = c
			}
			segs = append(segs, seg)
		}
		info := byNS[ns]
		if info == nil {
			info = &ProviderInfo{ID: "/subscriptions/" + sub + "/providers/" + canonNS, Namespace: canonNS,
				RegistrationState: "Registered", RegistrationPolicy: "RegistrationRequired"}
			byNS[ns] = info
		}
		vs := append([]string(nil), versions...)
		sort.Sort(sort.Reverse(sort.StringSlice(vs)))
		info.ResourceTypes = append(info.ResourceTypes, ProviderTypeInfo{ResourceType: strings.Join(segs, "/"),
			Locations: []string{p.s.cfg.Location}, APIVersions: vs})
	}
	out := make([]ProviderInfo, 0, len(byNS))
	for _, info := range byNS {
		sort.Slice(info.ResourceTypes, func(i, j int) bool { return info.ResourceTypes[i].ResourceType < info.ResourceTypes[j].ResourceType })
		out = append(out, *info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	return out
}

func (p *registrationProvider) find(r *Request) (ProviderInfo, error) {
	ns := r.PathValue("resourceProviderNamespace")
	for _, info := range p.providers(r.PathValue("subscriptionId")) {
		if strings.EqualFold(info.Namespace, ns) {
			return info, nil
		}
	}
	return ProviderInfo{}, cobalt.Errorf(cobalt.ENotFound, "The resource namespace '%s' is invalid.", ns).WithReason("InvalidResourceNamespace")
}

func (p *registrationProvider) handleList(w http.ResponseWriter, r *Request) error {
	if err := r.Check("Microsoft.Resources/subscriptions/providers/read", r.ID); err != nil {
		return err
	}
	r.WriteList(w, p.providers(r.PathValue("subscriptionId")), "")
	return nil
}

func (p *registrationProvider) handleGet(w http.ResponseWriter, r *Request) error {
	info, err := p.find(r)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, "", info)
	return nil
}

// handleRegister answers a registration request; every provider is registered.
func (p *registrationProvider) handleRegister(w http.ResponseWriter, r *Request) error {
	info, err := p.find(r)
	if err != nil {
		return err
	}
	if err := r.Check(info.Namespace+"/register/action", r.ID); err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, "", info)
	return nil
}
