package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/arm/batchprovider"
	"github.com/cobaltbatch/cobalt/internal/azurenames"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/batchapi"
	"github.com/cobaltbatch/cobalt/internal/bearer"
	"github.com/cobaltbatch/cobalt/internal/blob"
	"github.com/cobaltbatch/cobalt/internal/hostagent"
	"github.com/cobaltbatch/cobalt/internal/hostapi"
	"github.com/cobaltbatch/cobalt/internal/inproc"
	"github.com/cobaltbatch/cobalt/internal/jobs"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeapi"
	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/portal"
	"github.com/cobaltbatch/cobalt/internal/publicaddr"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The services meet through the small interfaces their consumers declare;
// no adapter sits between them.
var (
	_ nodeapi.Dispatcher      = (*jobs.Service)(nil)
	_ nodeapi.LeaseReconciler = (*jobs.Service)(nil)
	_ nodeapi.TokenIssuer     = (*login.Service)(nil)
	_ jobs.AutoStorage        = (*batch.Service)(nil)
	_ jobs.PoolLookup         = (*batch.Service)(nil)
	_ batch.IdentityLookup    = (*arm.Server)(nil)
	_ batch.StorageAccounts   = (*arm.Server)(nil)
)

// wire builds every service on the bound listeners and fills s.endpoints.
func (s *Server) wire(ctx context.Context) (err error) {
	s.login, err = login.New(ctx, login.Config{
		Store: s.store, Logger: s.log.With(logkey.Component, "login"), Now: s.opts.Now,
		AuthorityURL: s.URL("login"), SealKey: s.seal, Registerer: s.reg,
		FederationIssuers: s.opts.FederationIssuers, FederationRootCAs: federationRoots(s.ca),
	})
	if err != nil {
		return fmt.Errorf("login service: %w", err)
	}
	if err := s.login.AddTenant(ctx, s.tenantID); err != nil {
		return err
	}
	// Tokens issued by other replicas (under their own authority URLs) are
	// the installation's too.
	own := []string{s.login.IssuerV1(s.tenantID), s.login.IssuerV2(s.tenantID)}
	iss := &issuers{st: s.store}
	if err := iss.register(ctx, own...); err != nil {
		return err
	}
	s.validator = bearer.New(bearer.Config{
		Keys: s.login, TenantID: s.tenantID, Now: s.opts.Now, Issuers: own, IssuerKnown: iss.Known,
	})
	s.authz = rbac.New(rbac.Config{Store: s.store, Logger: s.log.With(logkey.Component, "rbac"), Now: s.opts.Now, CacheTTL: s.rbacCacheTTL()})
	admin, err := s.bootstrapAdmin(ctx)
	if err != nil {
		return err
	}
	s.arm, err = arm.New(arm.Config{
		Store: s.store, Logger: s.log.With(logkey.Component, "arm"), Now: s.opts.Now,
		Validator: s.validator, Authz: s.authz, Directory: s.login,
		TenantID: s.tenantID, SubscriptionID: s.subID, Location: s.opts.Location,
		BlobEndpoint: s.URL("blob"), AuthorityURL: s.URL("login"),
		OperationPoll: s.replicaPoll(), OperationLease: 5 * s.opts.ReplicaPoll,
	})
	if err != nil {
		return fmt.Errorf("management plane: %w", err)
	}

	if err := s.wireCompute(ctx); err != nil {
		return err
	}
	if err := s.wireRegistry(ctx); err != nil {
		return err
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
	// Metrics have a listener of their own, which forwardPorts leaves out:
	// the login listener is reachable from inside every node.
	metricsMux := http.NewServeMux()
	metricsMux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	handlePprof(metricsMux)
	s.handle("metrics", metricsMux)
	s.handle("login", s.login.Handler())
	s.goRun("login", s.login.Run)
	// The Go SDK sends some $filter values unencoded; the ARM listener
	// accepts such request lines as Azure does.
	s.handleWith("arm", s.arm.Handler(), arm.NewListener)
	s.goRun("arm", s.arm.Run)
	s.handle("blob", s.blob.Handler())
	s.goRun("blob", s.blob.Run)
	// The host protocol shares the node API's listener.
	nodeMux := http.NewServeMux()
	nodeMux.Handle("/hosts/", s.hosts.Handler())
	nodeMux.Handle("/", s.nodeapi.Handler())
	timed, err := timeNodeAPI(s.reg, nodeMux)
	if err != nil {
		return err
	}
	s.nodeHandler = timed
	s.handle("nodeapi", timed)
	s.goRun("hosts", s.hosts.Run)
	s.goRun("nodes", s.nodes.Run) // stops every local node (and its namespace) on shutdown
	s.goRun("pools", s.pools.Run)
	s.goRun("jobs", s.jobs.Run)
	s.goRun("batch data plane", s.batchapi.Run)
	// The portal calls the login service, ARM and the Batch endpoints with
	// the signed-in user's tokens, trusting only the installation's CA.
	web, err := portal.New(portal.Config{
		Logger: s.log.With(logkey.Component, "portal"), Now: s.opts.Now, PublicURL: s.URL("portal"),
		AuthorityURL: s.URL("login"), TenantID: s.tenantID, ResourceManager: s.URL("arm"), Login: s.login,
		HTTPClient: &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: s.ca.ClientTLSConfig()}},
	})
	if err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	s.handle("portal", web.Handler())
	return s.wireAzureNames()
}

// wireAzureNames serves Azure's public hostnames (login.microsoftonline.com,
// management.azure.com, {account}.blob.core.windows.net,
// {account}.{location}.batch.azure.com, {registry}.azurecr.io) on the
// "azure" listener, which every node reaches at 127.0.0.1:443 and resolves
// those names to, with a certificate for them from the installation's CA.
func (s *Server) wireAzureNames() error {
	cert, err := s.ca.IssueServer("Azure public hostnames", azurenames.Certificate(s.opts.Location))
	if err != nil {
		return err
	}
	s.azureTLS = s.ca.ServerTLSConfig()
	s.azureTLS.Certificates = []tls.Certificate{cert}
	router := azurenames.NewRouter(azurenames.Backends{
		Location: s.opts.Location, Login: s.login.Handler(), Management: s.arm.Handler(), Blob: s.blob.Handler(),
		BatchAccount: func(name string) (http.Handler, bool) {
			if _, ok := s.batchapi.Endpoint(name); !ok {
				return nil, false
			}
			return s.batchapi.Handler(name), true
		},
		Registry: func(name string) (http.Handler, bool) {
			if s.registry == nil {
				return nil, false
			}
			return s.registry.AzureHandler(name), true
		},
	})
	// ARM's clients send some request lines unencoded; the line fix is
	// harmless for the other services' clients.
	s.handleWith("azure", router, arm.NewListener)
	if _, ok := s.listeners[hostsListener]; ok {
		s.handleWith(hostsListener, router, arm.NewListener)
	}
	return nil
}

// wireCompute builds the blob service, the Batch services (pools and nodes,
// jobs and tasks, the data plane, the Microsoft.Batch provider), the node API
// and the local node provider.
func (s *Server) wireCompute(ctx context.Context) (err error) {
	s.blob, err = blob.New(blob.Config{
		Store: s.store, Logger: s.log.With(logkey.Component, "blob"), Now: s.opts.Now, DataDir: s.contentDir(), SharedFiles: s.opts.ContentDir != "",
		Validator: s.validator, Authz: s.authz, Denials: s.authz, Accounts: s.arm, Endpoint: s.URL("blob"),
		TenantID: s.tenantID, AuthorityURL: s.URL("login"),
	})
	if err != nil {
		return fmt.Errorf("blob service: %w", err)
	}
	isolation := s.opts.Isolation
	if isolation == "auto" {
		isolation = ""
	}
	// Local nodes' agents reach the node API on loopback, whatever the
	// public address, and call its handler in this process (inproc).
	nodeHostPort := publicaddr.HostPort(publicaddr.Default, publicaddr.Port(s.listeners["nodeapi"]))
	agentHTTP, err := agent.NewHTTPClient(s.ca.CAFile())
	if err != nil {
		return fmt.Errorf("node agents' client: %w", err)
	}
	agentHTTP.Transport = &inproc.Transport{Host: nodeHostPort, Next: agentHTTP.Transport,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.nodeHandler.ServeHTTP(w, r) })}
	s.nodes = hostagent.New(hostagent.Config{
		ControlPlaneURL: "https://" + nodeHostPort, CAFile: s.ca.CAFile(), HTTPClient: agentHTTP, Isolation: isolation,
		Logger: s.log.With(logkey.Component, "agent"), Now: s.opts.Now, IMDSRateLimit: s.opts.IMDSRateLimit,
	})
	nodeRoot, err := s.nodeRootDir()
	if err != nil {
		return err
	}
	// The jobs service asks the pool service for pools' slots and
	// auto-storage URLs; the pool service tells its subscribers, the jobs
	// service among them, about lost nodes.
	maxNodes := s.opts.MaxNodes
	if maxNodes <= 0 {
		maxNodes = defaultMaxNodes()
	}
	s.pools, err = batch.New(batch.Config{
		Store: s.store, Logger: s.log.With(logkey.Component, "pools"), Now: s.opts.Now,
		Nodes: s.nodes, Identities: s.arm, StorageAccounts: s.arm, MaxNodes: maxNodes, NodeRootDir: nodeRoot,
		Location: s.opts.Location, AuthorityHost: s.URL("login"), ForwardPorts: s.forwardPorts(), BlobEndpoint: s.URL("blob"),
		AzureNamesPort: s.listeners["azure"].Addr().(*net.TCPAddr).Port, AutoScale: s.opts.AutoScale, PublicAddress: s.opts.PublicAddress,
		LocalHostID: s.localHostID(), HostPlacement: true, HostLease: s.opts.HostLease,
	})
	if err != nil {
		return fmt.Errorf("pool service: %w", err)
	}
	remoteFiles, err := s.remoteNodeFiles()
	if err != nil {
		return fmt.Errorf("host file API client: %w", err)
	}
	s.jobs, err = jobs.New(jobs.Config{
		Store: s.store, Logger: s.log.With(logkey.Component, "jobs"), Now: s.opts.Now,
		Pools: s.pools, AutoStorage: s.pools,
		RemoveTaskFiles: taskFileRemover(nodeRoot, s.localHostID(), s.nodeHost, remoteFiles),
	})
	if err != nil {
		return fmt.Errorf("jobs service: %w", err)
	}
	s.pools.SubscribeNodeLost(s.jobs.NodeLost)
	s.pools.UseTaskMetrics(s.jobs)
	s.nodeapi, err = nodeapi.New(nodeapi.Config{
		Pools: s.pools, Dispatcher: s.jobs, Tokens: s.login, Identities: s.arm,
		Logger: s.log.With(logkey.Component, "nodeapi"),
	})
	if err != nil {
		return fmt.Errorf("node API: %w", err)
	}
	if s.hosts, err = hostapi.New(hostapi.Config{Store: s.store, Logger: s.log.With(logkey.Component, "hosts"), Now: s.opts.Now,
		Heartbeat: s.opts.HostHeartbeat, Lease: s.opts.HostLease, Nodes: s.pools, IssueFilesCert: s.ca.IssueFor}); err != nil {
		return err
	}
	if !s.opts.NoLocalHost {
		if err := s.hosts.EnsureLocal(ctx, s.opts.PublicAddress, maxNodes); err != nil {
			return fmt.Errorf("local host: %w", err)
		}
	}
	batchPortBase := 0
	if s.opts.PortBase > 0 {
		batchPortBase = s.opts.PortBase + batchPortOffset
	}
	s.batchapi, err = batchapi.New(batchapi.Config{
		Logger: s.log.With(logkey.Component, "batchapi"), Now: s.opts.Now, TLS: s.ca.ServerTLSConfig(), PortBase: batchPortBase,
		Host:      s.opts.PublicAddress,
		Validator: s.validator, Authz: s.authz, Denials: s.authz, AuthorityURL: s.URL("login"), TenantID: s.tenantID,
		Jobs: s.jobs, Nodes: batchapi.NodeFilesOf(s.pools, nodeRoot, s.localHostID(), remoteFiles),
		Pools: s.pools, Accounts: batchapi.AccountsFromPools(s.pools, s.store), Poll: s.replicaPoll(),
	})
	if err != nil {
		return fmt.Errorf("batch data plane: %w", err)
	}
	provider, err := batchprovider.New(batchprovider.Config{
		Pools: s.pools, Endpoints: s.batchapi, Directory: s.login, Logger: s.log.With(logkey.Component, "batchprovider"), Now: s.opts.Now,
	})
	if err != nil {
		return fmt.Errorf("Microsoft.Batch provider: %w", err)
	}
	return s.arm.Register(provider)
}

// nodeRootDir returns the directory under which nodes get their root
// directories: DATA/nodes for sandboxed nodes, or when unprivileged task
// users of process nodes can traverse to it (a
// non-admin task runs as another user, as on Batch), else a directory under
// the system's temporary directory, named for this installation, as Batch
// keeps node directories outside any user's home (/mnt/batch/tasks).
func (s *Server) nodeRootDir() (string, error) {
	dir := s.dir.file("nodes")
	// A sandboxed node gets its directory as an open mount, never by path
	// (internal/sandbox): node directories stay in the private data
	// directory, which no task can reach.
	// External nodes (agents elsewhere) read only their credentials here.
	if iso := s.nodes.Isolation(); iso == agent.IsolationNetns || iso == hostagent.IsolationExternal {
		return dir, os.MkdirAll(dir, 0o700)
	}
	if os.Geteuid() != 0 || traversable(s.dir.path) {
		return dir, os.MkdirAll(dir, 0o755)
	}
	alt := filepath.Join(os.TempDir(), "cobalt-nodes-"+s.subID[:8])
	s.log.Info("node directories are kept outside the private data directory, where tasks running as Batch's non-admin users can reach them",
		logkey.DataDir, s.dir.path, logkey.NodeDir, alt)
	if err := os.MkdirAll(alt, 0o711); err != nil {
		return "", err
	}
	// The name is predictable and the temporary directory shared: refuse a
	// link or a directory that another user made there first.
	if st, err := os.Lstat(alt); err != nil {
		return "", err
	} else if sys, ok := st.Sys().(*syscall.Stat_t); !st.IsDir() || !ok || sys.Uid != uint32(os.Geteuid()) {
		return "", fmt.Errorf("node directory %s is not a directory of this user; remove it", alt)
	}
	s.tmpNodeDir = alt
	return alt, os.Chmod(alt, 0o711)
}

// traversable reports whether every directory from dir up to the root lets
// other users through (the execute bit for others).
func traversable(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// forwardPorts are the ports of the services a task inside a node's network
// namespace reaches on the same 127.0.0.1:PORT (and public address) as outside.
func (s *Server) forwardPorts() []int {
	var ports []int
	for _, name := range []string{"login", "arm", "blob", "nodeapi"} {
		ports = append(ports, s.listeners[name].Addr().(*net.TCPAddr).Port)
	}
	return ports
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

// federationRoots are the roots that verify external issuers: the system's
// and the installation CA (for issuers served with its certificates).
func federationRoots(ca *pki.CA) *x509.CertPool {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pool.AddCert(ca.Certificate())
	return pool
}

// localHostID is the local host's record ID, "" with --no-local-host.
func (s *Server) localHostID() string {
	if s.opts.NoLocalHost {
		return ""
	}
	return hostapi.LocalHostID
}
