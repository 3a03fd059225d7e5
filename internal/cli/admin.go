package cli

import (
	"context"
	"time"

	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/spf13/cobra"
)

// The admin commands act on an installation's store directly (as `cobalt up`
// does), so they work whether or not `cobalt up` is running: SQLite lets
// several processes share the database, and a running server picks up new
// keys within its key refresh interval.

func init() {
	register(newKeysCmd)
	register(newSPCmd)
}

// openLogin opens the installation's store and login service.
func openLogin(ctx context.Context, g *globals) (*login.Service, server.Endpoints, func(), error) {
	e, err := server.ReadEndpoints(g.DataDir)
	if err != nil {
		return nil, e, nil, err
	}
	st, seal, err := server.OpenInstallationStore(ctx, g.DataDir)
	if err != nil {
		return nil, e, nil, err
	}
	svc, err := login.New(ctx, login.Config{Store: st, AuthorityURL: e.AuthorityHost, SealKey: seal, Now: g.Now})
	if err != nil {
		st.Close()
		return nil, e, nil, err
	}
	return svc, e, func() { st.Close() }, nil
}

func newKeysCmd(g *globals) *cobra.Command {
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Rotate the token-signing key",
		Long: `Rotate the token-signing key. The new key is published in the JWKS at once
and starts signing after the activation delay, so verifiers that cache key sets
see it first; the old key stays published until every token it signed has expired.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, _, done, err := openLogin(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			if err := svc.RotateKeys(cmd.Context()); err != nil {
				return err
			}
			set, err := svc.KeySet(cmd.Context())
			if err != nil {
				return err
			}
			var kids []string
			for _, k := range set.Keys {
				kids = append(kids, k.KeyID)
			}
			return printResult(g, map[string]any{"publishedKeys": kids, "rotatedAt": g.now().UTC().Format(time.RFC3339)}, nil)
		},
	}
	return group("keys", "Manage the login service's signing keys", rotate)
}

func newSPCmd(g *globals) *cobra.Command {
	var name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a service principal with a client secret",
		Long: `Create a service principal with a client secret in the installation's tenant
and print its credentials (the secret is shown once). Give it roles with
'cobalt role assignment create --assignee <objectId>'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, e, done, err := openLogin(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			p, secret, err := svc.CreateServicePrincipal(cmd.Context(), e.TenantID, name)
			if err != nil {
				return err
			}
			return printResult(g, map[string]any{
				"appId": p.ClientID, "objectId": p.ObjectID, "tenant": p.TenantID, "displayName": p.DisplayName, "password": secret,
			}, nil)
		},
	}
	create.Flags().StringVarP(&name, "name", "n", "", "the service principal's display name")
	_ = create.MarkFlagRequired("name")
	return group("sp", "Manage service principals", create)
}
