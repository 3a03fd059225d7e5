package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/bearer"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// wire builds every service on the bound listeners and fills s.endpoints.
func (s *Server) wire(ctx context.Context) (err error) {
	seal, err := s.dir.sealKey()
	if err != nil {
		return fmt.Errorf("seal key: %w", err)
	}
	s.login, err = login.New(ctx, login.Config{
		Store: s.store, Logger: s.log.With("component", "login"), Now: s.opts.Now,
		AuthorityURL: s.URL("login"), SealKey: seal, Registerer: s.reg,
	})
	if err != nil {
		return fmt.Errorf("login service: %w", err)
	}
	if err := s.login.AddTenant(ctx, s.tenantID); err != nil {
		return err
	}
	s.validator = bearer.New(bearer.Config{
		Keys: s.login, TenantID: s.tenantID, Now: s.opts.Now,
		Issuers: []string{s.login.IssuerV1(s.tenantID), s.login.IssuerV2(s.tenantID)},
	})
	s.authz = rbac.New(s.store).WithLogger(s.log.With("component", "rbac"))
	admin, err := s.bootstrapAdmin(ctx)
	if err != nil {
		return err
	}
	s.arm, err = arm.New(arm.Config{
		Store: s.store, Logger: s.log.With("component", "arm"), Now: s.opts.Now,
		Validator: s.validator, Authz: s.authz, Directory: s.login,
		TenantID: s.tenantID, SubscriptionID: s.subID, Location: s.opts.Location,
		BlobEndpoint: s.URL("blob"), AuthorityURL: s.URL("login"),
	})
	if err != nil {
		return fmt.Errorf("management plane: %w", err)
	}

	s.endpoints = Endpoints{
		TenantID:                s.tenantID,
		SubscriptionID:          s.subID,
		Location:                s.opts.Location,
		AuthorityHost:           s.URL("login"),
		ResourceManager:         s.URL("arm"),
		ResourceManagerAudience: ResourceManagerAudience,
		CACertFile:              s.ca.CAFile(),
		AdminClientID:           admin.ClientID,
		AdminClientSecret:       admin.ClientSecret,
		Portal:                  s.URL("portal"),
	}
	metrics := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
	loginMux := http.NewServeMux()
	loginMux.Handle("GET /metrics", metrics)
	loginMux.Handle("/", s.login.Handler())
	s.handle("login", loginMux)
	s.goRun("login", s.login.Run)
	s.handle("arm", s.arm.Handler())
	s.goRun("arm", s.arm.Run)
	s.handle("blob", http.NotFoundHandler())
	s.handle("nodeapi", http.NotFoundHandler())
	s.handle("portal", portalHandler())
	return nil
}

// bootstrapAdmin returns the admin service principal's credentials, creating
// the principal (with Owner on the subscription) on first start.
func (s *Server) bootstrapAdmin(ctx context.Context) (adminCredentials, error) {
	a, ok, err := s.dir.loadAdmin()
	if err != nil {
		return a, err
	}
	if ok {
		if _, err := s.store.PrincipalGet(ctx, a.ObjectID); err == nil {
			return a, s.grantOwner(ctx, a.ObjectID)
		} else if !cobalt.IsCode(err, cobalt.ENotFound) {
			return a, err
		}
		// The store is new (another --store, say): make the admin again.
	}
	p, secret, err := s.login.CreateServicePrincipal(ctx, s.tenantID, "cobalt-admin")
	if err != nil {
		return a, fmt.Errorf("create the admin principal: %w", err)
	}
	a = adminCredentials{ObjectID: p.ObjectID, ClientID: p.ClientID, ClientSecret: secret}
	if err := s.dir.saveAdmin(a); err != nil {
		return a, err
	}
	return a, s.grantOwner(ctx, a.ObjectID)
}

func (s *Server) grantOwner(ctx context.Context, objectID string) error {
	err := s.authz.Assign(ctx, rbac.RoleAssignmentInput{
		Scope:            cobalt.ResourceID{SubscriptionID: s.subID},
		RoleDefinitionID: rbac.RoleOwner,
		PrincipalID:      objectID,
		PrincipalType:    "ServicePrincipal",
		Description:      "Cobalt administrator (created at first start)",
	})
	if err != nil && !cobalt.IsCode(err, cobalt.EConflict) {
		return fmt.Errorf("grant the admin Owner: %w", err)
	}
	return nil
}

// portalHandler answers on the portal's reserved address until the portal exists.
func portalHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "The Cobalt portal is not available in this version; use the cobalt CLI or the Azure SDKs.", http.StatusNotImplemented)
	})
}
