package cli

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cobaltbatch/cobalt/internal/server"
)

func init() {
	register(loginCmd)
	register(logoutCmd)
	register(accountCmd)
}

// loginCmd signs in as a service principal: the admin of a running `cobalt up`
// (from DIR/endpoints.json) or any principal given by flags.
func loginCmd(g *globals) *cobra.Command {
	var f profile
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in to a Cobalt installation with a service principal",
		Long: `Sign in to a Cobalt installation.

Without credential flags, reads DIR/endpoints.json of a running ` + "`cobalt up --data DIR`" + `
(--data, default ./.cobalt) and signs in as its admin service principal. With
--tenant, --client-id and --client-secret (or AZURE_CLIENT_SECRET), signs in as
that principal; values not given come from endpoints.json when it exists.

The profile and the cached access tokens (one file per audience, refreshed
before they expire) are kept with mode 0600 under $COBALT_CONFIG_DIR, or
cobalt/ in the user's config directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := loginProfile(g, f)
			if err != nil {
				return err
			}
			dir, err := configDir(g.Getenv)
			if err != nil {
				return err
			}
			c, err := clientFor(g, dir, p)
			if err != nil {
				return err
			}
			// Prove the credential before saving it.
			if _, err := c.tokens.cred.GetToken(cmd.Context(), tokenOptions(p.armScope())); err != nil {
				return authError(err)
			}
			if err := saveProfile(dir, p); err != nil {
				return err
			}
			return printResult(g, []accountInfo{accountOf(p)}, accountColumns)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.TenantID, "tenant", "", "tenant ID")
	fl.StringVar(&f.ClientID, "client-id", "", "service principal client (application) ID")
	fl.StringVar(&f.ClientSecret, "client-secret", "", "client secret (default $AZURE_CLIENT_SECRET)")
	fl.StringVar(&f.AuthorityHost, "authority", "", "authority host URL, e.g. https://127.0.0.1:8443")
	fl.StringVar(&f.ResourceManager, "resource-manager", "", "resource manager URL")
	fl.StringVar(&f.SubscriptionID, "subscription", "", "subscription ID")
	fl.StringVar(&f.CACertFile, "ca-cert", "", "PEM file of the installation's CA")
	return cmd
}

// loginProfile merges DIR/endpoints.json with the flags.
func loginProfile(g *globals, f profile) (*profile, error) {
	var p profile
	e, err := readEndpoints(g.DataDir)
	explicit := f.ClientID != "" || f.TenantID != ""
	switch {
	case err == nil:
		dir, _ := filepath.Abs(g.DataDir)
		p = profile{TenantID: e.TenantID, SubscriptionID: e.SubscriptionID, Location: e.Location,
			AuthorityHost: e.AuthorityHost, ResourceManager: e.ResourceManager,
			ResourceManagerAudience: e.ResourceManagerAudience, CACertFile: e.CACertFile, DataDir: dir}
		if !explicit {
			p.ClientID, p.ClientSecret = e.AdminClientID, e.AdminClientSecret
		}
	case !explicit:
		return nil, &apiError{Code: "EndpointsNotFound", Message: err.Error()}
	}
	for _, o := range []struct {
		dst *string
		v   string
	}{
		{&p.TenantID, f.TenantID}, {&p.ClientID, f.ClientID}, {&p.ClientSecret, f.ClientSecret},
		{&p.AuthorityHost, f.AuthorityHost}, {&p.ResourceManager, f.ResourceManager},
		{&p.SubscriptionID, f.SubscriptionID}, {&p.CACertFile, f.CACertFile},
	} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	if p.ClientSecret == "" {
		p.ClientSecret = g.Getenv("AZURE_CLIENT_SECRET")
	}
	if p.ResourceManagerAudience == "" {
		p.ResourceManagerAudience = "https://management.azure.com"
	}
	if p.CACertFile != "" {
		if abs, err := filepath.Abs(p.CACertFile); err == nil {
			p.CACertFile = abs
		}
	}
	for _, req := range []struct{ v, flag string }{
		{p.TenantID, "--tenant"}, {p.ClientID, "--client-id"}, {p.ClientSecret, "--client-secret"},
		{p.AuthorityHost, "--authority"}, {p.ResourceManager, "--resource-manager"}, {p.SubscriptionID, "--subscription"},
	} {
		if req.v == "" {
			return nil, &apiError{Code: "MissingArgument", Message: req.flag + " is required when " + filepath.Join(g.DataDir, "endpoints.json") + " is absent."}
		}
	}
	return &p, nil
}

// readEndpoints reads DIR/endpoints.json, the file `cobalt up` writes.
func readEndpoints(dir string) (server.Endpoints, error) {
	e, err := server.ReadEndpoints(dir)
	if errors.Is(err, os.ErrNotExist) {
		return e, errors.New("no endpoints.json in " + dir + ": start Cobalt with `cobalt up --data " + dir + "`, or pass --data")
	}
	return e, err
}

// accountInfo is what login and `account show` print, shaped like az's.
type accountInfo struct {
	CloudName       string      `json:"cloudName"`
	ID              string      `json:"id"`
	IsDefault       bool        `json:"isDefault"`
	Name            string      `json:"name"`
	State           string      `json:"state"`
	TenantID        string      `json:"tenantId"`
	ResourceManager string      `json:"resourceManager"`
	User            accountUser `json:"user"`
}

type accountUser struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

var accountColumns = []column{col("Subscription", "id"), col("Tenant", "tenantId"), col("User", "user.name"), col("ResourceManager", "resourceManager")}

func accountOf(p *profile) accountInfo {
	return accountInfo{CloudName: "Cobalt", ID: p.SubscriptionID, IsDefault: true, Name: p.SubscriptionID,
		State: "Enabled", TenantID: p.TenantID, ResourceManager: p.ResourceManager,
		User: accountUser{Name: p.ClientID, Type: "servicePrincipal"}}
}

// logoutCmd forgets the profile and every cached token.
func logoutCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the stored sign-in and cached tokens",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			dir, err := configDir(g.Getenv)
			if err != nil {
				return err
			}
			if err := os.Remove(filepath.Join(dir, profileFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			return os.RemoveAll(filepath.Join(dir, tokenDir))
		},
	}
}

// accountCmd shows the signed-in account (never its secret).
func accountCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Show the signed-in account"}
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Show the signed-in subscription and principal",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			dir, err := configDir(g.Getenv)
			if err != nil {
				return err
			}
			p, err := loadProfile(dir)
			if err != nil {
				return err
			}
			return printResult(g, accountOf(p), accountColumns)
		},
	})
	return cmd
}
