package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
)

// The audit commands read the installation's audit trail from its store, as
// the admin commands do, whether or not `cobalt up` is running.

func init() { register(newAuditCmd) }

const typeUserAssignedIdentity = "microsoft.managedidentity/userassignedidentities"

// tokenAudit is one token issued to a node, as `cobalt audit tokens` prints it.
type tokenAudit struct {
	Time        string `json:"time"`
	Node        string `json:"node"`
	Pool        string `json:"pool"`
	Task        string `json:"task,omitempty"`
	Identity    string `json:"identity"`
	PrincipalID string `json:"principalId"`
	ClientID    string `json:"clientId"`
	Audience    string `json:"audience"`
	TokenID     string `json:"tokenId"`
}

var tokenAuditColumns = []column{col("Time", "time"), col("Node", "node"), col("Pool", "pool"), col("Task", "task"),
	col("Identity", "identity"), col("Audience", "audience")}

func newAuditCmd(g *globals) *cobra.Command {
	var pool, identity, node, since string
	tokens := &cobra.Command{
		Use:   "tokens",
		Short: "List the managed-identity tokens issued to nodes",
		Long: `List each token a node's metadata endpoint obtained, oldest first: when, which
node and pool, which task asked (when the node could attribute the request to
one), for which identity and audience. Tokens and secrets are never recorded.

--identity takes an identity's name, resource ID, client ID or principal ID.
--since takes an RFC 3339 time or a duration back from now (for example 1h).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			from, err := parseSince(since, g.now())
			if err != nil {
				return err
			}
			st, _, err := server.OpenInstallationStore(ctx, g.DataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			ids, err := identityNames(ctx, st)
			if err != nil {
				return err
			}
			var want map[string]bool
			if identity != "" {
				if want = ids.match(identity); len(want) == 0 {
					return fmt.Errorf("no managed identity %q in this installation", identity)
				}
			}
			out := []tokenAudit{}
			err = eachAudit(ctx, st, "token.issued", from, func(r store.AuditRecord) {
				f := r.Fields
				if f["node"] == "" || (pool != "" && f["pool"] != pool) || (node != "" && f["node"] != node) ||
					(want != nil && !want[r.Subject]) {
					return
				}
				name := ids.byPrincipal[r.Subject]
				if name == "" {
					name = r.Subject
				}
				out = append(out, tokenAudit{Time: r.Time.UTC().Format(time.RFC3339Nano), Node: f["node"], Pool: f["pool"],
					Task: f["task"], Identity: name, PrincipalID: r.Subject, ClientID: f["client_id"],
					Audience: f["audience"], TokenID: f["uti"]})
			})
			if err != nil {
				return err
			}
			return printResult(g, out, tokenAuditColumns)
		},
	}
	tokens.Flags().StringVar(&pool, "pool", "", "only tokens issued to nodes of this pool")
	tokens.Flags().StringVar(&identity, "identity", "", "only tokens for this identity (name, resource ID, client ID or principal ID)")
	tokens.Flags().StringVar(&node, "node", "", "only tokens issued to this node")
	tokens.Flags().StringVar(&since, "since", "", "only tokens issued at or after this time (RFC 3339) or this long ago (e.g. 1h)")
	return group("audit", "Read the installation's audit trail", tokens, newAuditAccessCmd(g))
}

// accessAudit is one refused request, as `cobalt audit access` prints it.
type accessAudit struct {
	Time        string `json:"time"`
	Service     string `json:"service"`
	PrincipalID string `json:"principalId"`
	Principal   string `json:"principal,omitempty"`
	Action      string `json:"action"`
	Scope       string `json:"scope"`
	// Repeats counts the identical refusals folded into the previous record.
	Repeats int `json:"repeats,omitempty"`
}

var accessAuditColumns = []column{col("Time", "time"), col("Service", "service"), col("Principal", "principal"),
	col("Action", "action"), col("Scope", "scope")}

func newAuditAccessCmd(g *globals) *cobra.Command {
	var principal, service, since string
	cmd := &cobra.Command{
		Use:   "access",
		Short: "List the requests refused for want of a role",
		Long: `List each storage, registry, Batch or management request that was refused
because its caller lacked a role, oldest first: when, which service, who, the
action and the scope. Identical refusals within a few seconds are folded into
one record, and the next record counts them (repeats).

--principal takes an object ID, a client ID, or an identity's or service
principal's name. --since takes an RFC 3339 time or a duration such as 1h.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			from, err := parseSince(since, g.now())
			if err != nil {
				return err
			}
			st, _, err := server.OpenInstallationStore(ctx, g.DataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			e, err := server.ReadEndpoints(g.DataDir)
			if err != nil {
				return err
			}
			names, err := principalNames(ctx, st, e.TenantID)
			if err != nil {
				return err
			}
			var want map[string]bool
			if principal != "" {
				if want = names.match(principal); len(want) == 0 {
					return fmt.Errorf("no principal %q in this installation", principal)
				}
			}
			out := []accessAudit{}
			err = eachAudit(ctx, st, rbac.DenialKind, from, func(r store.AuditRecord) {
				f := r.Fields
				if (service != "" && !strings.EqualFold(f["service"], service)) || (want != nil && !want[r.Actor]) {
					return
				}
				repeats, _ := strconv.Atoi(f["repeats"])
				out = append(out, accessAudit{Time: r.Time.UTC().Format(time.RFC3339Nano), Service: f["service"],
					PrincipalID: r.Actor, Principal: names.byPrincipal[r.Actor], Action: f["action"], Scope: f["scope"], Repeats: repeats})
			})
			if err != nil {
				return err
			}
			return printResult(g, out, accessAuditColumns)
		},
	}
	cmd.Flags().StringVar(&principal, "principal", "", "only requests by this principal (object ID, client ID or name)")
	cmd.Flags().StringVar(&service, "service", "", "only requests to this service: arm, blob, batch or registry")
	cmd.Flags().StringVar(&since, "since", "", "only requests at or after this time (RFC 3339) or this long ago (e.g. 1h)")
	return cmd
}

// principalNames indexes the tenant's principals: object ID → a readable
// name (the identity's resource ID, else the display name), and every name
// a --principal value may use → object IDs.
func principalNames(ctx context.Context, st store.Store, tenantID string) (identities, error) {
	ids := identities{byPrincipal: map[string]string{}, keys: map[string][]string{}}
	page := store.Page{Limit: 1000}
	for {
		ps, next, err := st.PrincipalList(ctx, tenantID, page)
		if err != nil {
			return ids, err
		}
		for _, p := range ps {
			name := p.DisplayName
			if p.ResourceID != "" {
				name = p.ResourceID
			}
			ids.byPrincipal[p.ObjectID] = name
			for _, k := range []string{strings.ToLower(p.ObjectID), strings.ToLower(p.ClientID), strings.ToLower(p.DisplayName), strings.ToLower(p.ResourceID)} {
				if k != "" {
					ids.keys[k] = append(ids.keys[k], p.ObjectID)
				}
			}
		}
		if next == "" {
			return ids, nil
		}
		page.Token = next
	}
}

// eachAudit calls fn with every audit record of kind at or after from,
// oldest first, page by page.
func eachAudit(ctx context.Context, st store.Store, kind string, from time.Time, fn func(store.AuditRecord)) error {
	page := store.Page{Limit: 1000}
	for {
		recs, next, err := st.AuditList(ctx, kind, page)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if !r.Time.Before(from) {
				fn(r)
			}
		}
		if next == "" {
			return nil
		}
		page.Token = next
	}
}

// parseSince reads --since: empty (everything), an RFC 3339 time, or a Go
// duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q is neither an RFC 3339 time nor a duration such as 1h", s)
}

// identities maps the installation's user-assigned identities' principals
// to their resource IDs, and back from any of their names.
type identities struct {
	byPrincipal map[string]string // principal ID → resource ID
	keys        map[string][]string
}

func identityNames(ctx context.Context, st store.Store) (identities, error) {
	ids := identities{byPrincipal: map[string]string{}, keys: map[string][]string{}}
	p := store.ResourceListParams{Type: typeUserAssignedIdentity, Page: store.Page{Limit: 1000}}
	for {
		rs, next, err := st.ResourceList(ctx, p)
		if err != nil {
			return ids, err
		}
		for _, r := range rs {
			var body struct {
				Properties struct {
					PrincipalID string `json:"principalId"`
					ClientID    string `json:"clientId"`
				} `json:"properties"`
			}
			if json.Unmarshal(r.Body, &body) != nil || body.Properties.PrincipalID == "" {
				continue
			}
			pid := body.Properties.PrincipalID
			ids.byPrincipal[pid] = r.ID
			name := r.ID[strings.LastIndex(r.ID, "/")+1:]
			for _, k := range []string{strings.ToLower(name), r.Key, strings.ToLower(body.Properties.ClientID), strings.ToLower(pid)} {
				ids.keys[k] = append(ids.keys[k], pid)
			}
		}
		if next == "" {
			return ids, nil
		}
		p.Page.Token = next
	}
}

// match returns the principal IDs an --identity value names; a principal
// ID of no longer existing identity matches itself.
func (ids identities) match(v string) map[string]bool {
	out := map[string]bool{}
	key := strings.ToLower(strings.TrimSuffix(v, "/"))
	if id, err := cobalt.ParseResourceID(v); err == nil {
		key = id.Key()
	}
	for _, pid := range ids.keys[key] {
		out[pid] = true
	}
	if len(out) == 0 && len(v) == 36 && uuid.Validate(v) == nil {
		out[strings.ToLower(v)] = true
	}
	return out
}
