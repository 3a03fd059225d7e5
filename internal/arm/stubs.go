package arm

import (
	"context"
	"net/http"

	"github.com/cobaltbatch/cobalt/internal/store"
)

const typeIdentity = "Microsoft.ManagedIdentity/userAssignedIdentities"

func builtinProviders() []Provider { return nil }

func (s *Server) authorizationRoute(r *http.Request) (Route, bool) { return Route{}, false }

func (s *Server) deleteIdentityPrincipal(ctx context.Context, res store.Resource) error { return nil }
