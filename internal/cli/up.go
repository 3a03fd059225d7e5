package cli

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/spf13/cobra"
)

func init() { register(newUpCmd) }

func newUpCmd(g *globals) *cobra.Command {
	var (
		opts      server.Options
		logLevel  string
		storeFile string
		joinFile  string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run every Cobalt service in this process",
		Long: `Run every Cobalt service in this process: the login service, the management
plane, blob storage, the Batch data plane and the local compute nodes.

State lives in the data directory (--data). On first start Cobalt creates a local
CA, signing keys, a tenant, a subscription and an admin service principal with
Owner on that subscription; later starts reuse them. When every listener serves,
it writes DATA/endpoints.json and prints one line saying it is ready.

The store is SQLite in the data directory unless a PostgreSQL URL is given in
the COBALT_STORE environment variable or in a file named by --store-file. A URL
on the command line (--store) works too, but every local user can read it in
the process list: prefer the other two when it carries a password.

Replicas: several processes on one PostgreSQL store serve one installation.
Start the first as usual (with --content-dir on a shared file system), run
` + "`cobalt replica export --out FILE`" + ` there, and start each other replica with
--join-replica FILE, the same store, the same --content-dir and a data directory
of its own.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raiseHeapFloor()
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			var err error
			if opts.Store, err = storeDSN(opts.Store, storeFile, g.Getenv); err != nil {
				return err
			}
			if joinFile != "" {
				if opts.JoinReplica, err = os.ReadFile(joinFile); err != nil {
					return fmt.Errorf("--join-replica: %w", err)
				}
			}
			opts.DataDir = g.DataDir
			opts.Logger = slog.New(slog.NewTextHandler(g.Stderr, &slog.HandlerOptions{Level: level}))
			ctx := cmd.Context()
			s, err := server.Start(ctx, opts)
			if err != nil {
				return err
			}
			e := s.Endpoints()
			fmt.Fprintf(g.Stdout, "cobalt is ready: authority %s, resource manager %s, endpoints in %s/endpoints.json\n",
				e.AuthorityHost, e.ResourceManager, s.DataDir())
			select {
			case <-ctx.Done():
				opts.Logger.Info("shutting down")
			case <-s.Done():
			}
			return s.Close()
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.PortBase, "port-base", 40400, "first port of the fixed listener ports; 0 puts every listener on a free random port")
	f.StringVar(&opts.Store, "store", "", "store: empty for SQLite in the data directory, or a postgres:// URL (visible in the process list: prefer $COBALT_STORE or --store-file)")
	f.StringVar(&storeFile, "store-file", "", "a `file` holding the store URL (a postgres:// URL), instead of --store or $COBALT_STORE")
	f.StringVar(&opts.PublicAddress, "public-address", "127.0.0.1", "the IP address or DNS name every URL names and the server certificate covers, for hosts and clients on other machines; listeners accept on it and on 127.0.0.1")
	f.StringSliceVar(&opts.ReplicaAddresses, "replica-addresses", nil, "the other replicas' public addresses (comma-separated), which this replica's server certificate also names, so that clients and joined hosts' nodes moved from a dead replica to this one still verify it")
	f.BoolVar(&opts.NoLocalHost, "no-local-host", false, "do not register this machine as a host (its record in `cobalt host list`)")
	f.DurationVar(&opts.HostHeartbeat, "host-heartbeat", 0, "how often joined hosts report (0: 5s)")
	f.DurationVar(&opts.HostLease, "host-lease", 0, "how long a joined host stays ready without a report; its nodes are given up and replaced one more lease later, and their agents kill their tasks after half a lease without the control plane (0: 30s)")
	f.StringVar(&opts.Location, "location", "eastus", "the Azure region name that resources report")
	f.StringVar(&opts.Isolation, "isolation", "auto", "node isolation: auto (netns when root on Linux), netns, process, or external (agents run elsewhere and read their credentials from DATA/nodes/.credentials; for cobalt bench fleet)")
	f.StringVar(&opts.IMDSRateLimit, "imds-rate-limit", "", `per-node IMDS rate limit: empty for Azure's 20/s with 5 concurrent, "off", or for example "100/s,20"`)
	f.IntVar(&opts.MaxNodes, "max-nodes", 0, "the most compute nodes this host runs (0: one per 64 MiB of the machine's memory, 16 to 4096)")
	f.StringArrayVar(&opts.FederationIssuers, "federation-issuer", nil, "an external OIDC issuer `URL` (exact, https) whose tokens federated identity credentials may exchange; repeatable (issuers on loopback addresses need none)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&joinFile, "join-replica", "", "a `file` from `cobalt replica export`: serve that installation as one more replica (with --store on its PostgreSQL and a new --data directory)")
	f.DurationVar(&opts.ReplicaPoll, "replica-poll", 2*time.Second, "with PostgreSQL, how often a replica picks up other replicas' changes (listeners of new accounts and registries); an operation whose replica stops is taken over after five of these")
	f.StringVar(&opts.ContentDir, "content-dir", "", "the `directory` of blob and registry content (default: the data directory); replicas share one, on a shared file system")
	return cmd
}

// storeDSN chooses the store URL: --store, else the first line of
// --store-file, else $COBALT_STORE, else "" (SQLite in the data directory).
// --store and --store-file together are an error. The URL is never echoed:
// it may carry a password.
func storeDSN(flag, file string, getenv func(string) string) (string, error) {
	switch {
	case flag != "" && file != "":
		return "", fmt.Errorf("--store and --store-file both name a store; give one")
	case flag != "":
		return flag, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--store-file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		dsn := strings.TrimSpace(line)
		if dsn == "" {
			return "", fmt.Errorf("--store-file %s: the file is empty", file)
		}
		return dsn, nil
	default:
		return strings.TrimSpace(getenv("COBALT_STORE")), nil
	}
}

func init() { register(newEnvCmd) }

func newEnvCmd(g *globals) *cobra.Command {
	var hosts bool
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print the shell exports that point the Azure SDKs and tools at a running Cobalt",
		Long: `Print the shell exports that point the Azure SDKs and tools at the Cobalt whose
data directory is --data. Use it as: eval "$(cobalt env)".

SSL_CERT_FILE makes Go trust Cobalt's CA (it replaces the system bundle for Go
programs in that shell); NODE_EXTRA_CA_CERTS adds it for Node.

With --hosts it prints instead the /etc/hosts line that gives this machine
Azure's public hostnames (login.microsoftonline.com, management.azure.com and
one name per storage account, Batch account and registry), as every node has
them: append it to /etc/hosts, trust the CA as above, and code written for
Azure reaches Cobalt with Azure's URLs. Run it again after creating accounts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := server.ReadEndpoints(g.DataDir)
			if err != nil {
				return err
			}
			if hosts {
				return printHostsLine(cmd.Context(), g, e)
			}
			for _, kv := range [][2]string{
				{"SSL_CERT_FILE", e.CACertFile},
				{"NODE_EXTRA_CA_CERTS", e.CACertFile},
				{"AZURE_AUTHORITY_HOST", e.AuthorityHost},
				{"AZURE_TENANT_ID", e.TenantID},
				{"AZURE_CLIENT_ID", e.AdminClientID},
				{"AZURE_CLIENT_SECRET", e.AdminClientSecret},
				{"AZURE_SUBSCRIPTION_ID", e.SubscriptionID},
				{"AZURE_RESOURCE_MANAGER_ENDPOINT", e.ResourceManager},
				{"AZURE_RESOURCE_MANAGER_AUDIENCE", e.ResourceManagerAudience},
			} {
				fmt.Fprintf(g.Stdout, "export %s=%s\n", kv[0], shellQuote(kv[1]))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&hosts, "hosts", false, "print the /etc/hosts line for Azure's public hostnames instead")
	return cmd
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
