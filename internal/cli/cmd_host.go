package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cobaltbatch/cobalt/internal/hostagent"
	"github.com/cobaltbatch/cobalt/internal/hostapi"
	"github.com/cobaltbatch/cobalt/internal/hostclient"
	"github.com/cobaltbatch/cobalt/internal/hostproto"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func init() { register(newHostCmd) }

// hostRow is one host as `cobalt host list` prints it.
type hostRow struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Address     string `json:"address"`
	State       string `json:"state"`
	Local       bool   `json:"local"`
	Cores       int    `json:"cores"`
	MemoryBytes int64  `json:"memoryBytes"`
	MaxNodes    int    `json:"maxNodes"`
	Nodes       int    `json:"nodes"`
	Heartbeat   string `json:"lastHeartbeat"`
}

var hostColumns = []column{col("ID", "id"), col("Name", "name"), col("Address", "address"), col("State", "state"),
	col("Cores", "cores"), col("MaxNodes", "maxNodes"), col("Nodes", "nodes"), col("LastHeartbeat", "lastHeartbeat")}

// hostService opens the installation's store and its host service.
func hostService(cmd *cobra.Command, g *globals) (*hostapi.Service, store.Store, error) {
	st, _, err := server.OpenInstallationStore(cmd.Context(), g.DataDir)
	if err != nil {
		return nil, nil, err
	}
	svc, err := hostapi.New(hostapi.Config{Store: st, Now: g.now})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return svc, st, nil
}

func newHostCmd(g *globals) *cobra.Command {
	var expires time.Duration
	create := &cobra.Command{
		Use:   "create",
		Short: "Print a one-time join token for `cobalt host join`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, st, err := hostService(cmd, g)
			if err != nil {
				return err
			}
			defer st.Close()
			tok, exp, err := svc.CreateJoinToken(cmd.Context(), expires)
			if err != nil {
				return err
			}
			return printResult(g, map[string]string{"token": tok, "expiresOn": exp.UTC().Format(time.RFC3339)},
				[]column{col("Token", "token"), col("ExpiresOn", "expiresOn")})
		},
	}
	create.Flags().DurationVar(&expires, "expires", hostapi.DefaultTokenLifetime, "how long the token may be used (it is good for one join)")
	token := group("token", "Join tokens for hosts", create)

	list := &cobra.Command{
		Use:   "list",
		Short: "List hosts: state, capacity and nodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, st, err := hostService(cmd, g)
			if err != nil {
				return err
			}
			defer st.Close()
			hosts, err := svc.List(cmd.Context())
			if err != nil {
				return err
			}
			out := []hostRow{}
			for _, h := range hosts {
				nodes, _, err := st.NodeList(cmd.Context(), store.NodeListParams{HostID: h.ID, Page: store.Page{Limit: 1000}})
				if err != nil {
					return err
				}
				hb := ""
				if !h.HeartbeatAt.IsZero() {
					hb = h.HeartbeatAt.UTC().Format(time.RFC3339)
				}
				out = append(out, hostRow{ID: h.ID, Name: h.Name, Address: h.Address, State: h.State, Local: h.Local, Cores: h.Cores,
					MemoryBytes: h.MemoryBytes, MaxNodes: h.MaxNodes, Nodes: len(nodes), Heartbeat: hb})
			}
			return printResult(g, out, hostColumns)
		},
	}
	remove := &cobra.Command{
		Use:   "remove HOST-ID",
		Short: "Revoke a host: its credential is refused from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, st, err := hostService(cmd, g)
			if err != nil {
				return err
			}
			defer st.Close()
			return svc.Remove(cmd.Context(), args[0])
		},
	}
	return group("host", "Hosts that run compute nodes", token, list, remove, newHostJoinCmd(g))
}

func newHostJoinCmd(g *globals) *cobra.Command {
	var cfg hostclient.Config
	var urls, logLevel, isolation string
	cmd := &cobra.Command{
		Use:   "join",
		Short: "Run this machine as a host of a Cobalt control plane (foreground)",
		Long: `Join this machine to a control plane with a one-time token from
` + "`cobalt host token create`" + `, then keep reporting to it until stopped. The
credential the token buys is kept in --data; later starts need no token.
--control-plane takes the node API URL of each control-plane replica,
comma-separated: https://ADDRESS:PORT (port-base + 3).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raiseHeapFloor() // its nodes' IMDS is served here, as by `cobalt up`
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(g.Stderr, &slog.HandlerOptions{Level: level}))
			for _, u := range strings.Split(urls, ",") {
				if u = strings.TrimSpace(u); u != "" {
					cfg.URLs = append(cfg.URLs, u)
				}
			}
			cfg.DataDir = g.DataDir
			seen := map[string]bool{}
			cfg.OnNodes = func(nodes []hostproto.Node) {
				for _, n := range nodes {
					if !seen[n.NodeID] {
						seen[n.NodeID] = true
						cfg.Logger.Info("node placed on this host", logkey.Node, n.NodeID, logkey.Pool, n.PoolID)
					}
				}
			}
			if len(cfg.URLs) == 0 {
				return errors.New("--control-plane: at least one URL")
			}
			// The host's nodes run as the control plane's own do: their
			// agents call the node API at the first URL, and their sandboxes
			// reach the services at the control plane's address; when that
			// replica fails, both move to the next URL's, as this agent does.
			prov := hostagent.New(hostagent.Config{ControlPlaneURL: cfg.URLs[0], ReplicaURLs: cfg.URLs[1:], ForwardHost: hostclient.ControlPlaneHost(cfg.URLs[0]),
				CAFile: cfg.CAFile, Isolation: isolation, Logger: cfg.Logger.With(logkey.Component, "agent")})
			defer prov.Close()
			cfg.Provider = prov
			a, err := hostclient.New(cfg)
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&urls, "control-plane", "", "the control plane's node API `URL`s, comma-separated (https://ADDRESS:PORT)")
	f.StringVar(&cfg.Token, "token", "", "the one-time join token (first start only)")
	f.StringVar(&cfg.CAFile, "ca-cert", "", "the control plane's CA certificate `file` (its DIR/tls/ca.pem)")
	f.IntVar(&cfg.MaxNodes, "max-nodes", 0, "the most compute nodes this host runs (0: one per 64 MiB of memory, 16 to 4096)")
	f.StringVar(&cfg.Address, "address", "", "this host's address as the control plane and its clients see it (default: the local address that routes to the control plane)")
	f.StringVar(&cfg.FilesListen, "files-listen", "", "where this host's file API listens, `ADDR:PORT` (default: the host's address, port 40399, the one the control plane dials; off: none); the control plane reads its nodes' task and node files there")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&isolation, "isolation", "", "how this host's nodes are isolated: netns or process (default: netns when available)")
	_ = cmd.MarkFlagRequired("control-plane")
	_ = cmd.MarkFlagRequired("ca-cert")
	return cmd
}
