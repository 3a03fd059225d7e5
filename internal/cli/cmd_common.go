package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// action runs fn with a signed-in client and prints what it returns in the
// chosen format; a nil result prints nothing (deletes).
func action(g *globals, cols []column, fn func(ctx context.Context, c *client) (any, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		c, err := newClient(g)
		if err != nil {
			return err
		}
		v, err := fn(cmd.Context(), c)
		if err != nil || v == nil {
			return err
		}
		query, _ := cmd.Flags().GetString("query") // "" where the tree has no --query
		return printQueried(g, v, cols, query)
	}
}

// withQuery adds az's --query to a command tree (a subset: see selectQuery).
func withQuery(cmd *cobra.Command) *cobra.Command {
	cmd.PersistentFlags().String("query", "", "select part of the result, e.g. properties.clientId or [].name")
	return cmd
}

// group returns a command that only holds subcommands.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	cmd.AddCommand(subs...)
	return cmd
}

// leaf returns a subcommand with no positional arguments.
func leaf(use, short string, run func(*cobra.Command, []string) error) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs, RunE: run}
}

// required marks flags as required.
func required(cmd *cobra.Command, names ...string) *cobra.Command {
	for _, n := range names {
		if err := cmd.MarkFlagRequired(n); err != nil {
			panic(err)
		}
	}
	return cmd
}

// parseTags turns "k=v" arguments into ARM tags.
func parseTags(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	tags := map[string]string{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			return nil, invalidArg("--tags", kv, "want KEY=VALUE")
		}
		tags[k] = v
	}
	return tags, nil
}

// invalidArg reports a bad command-line value.
func invalidArg(flag, value, why string) error {
	return &apiError{Code: "InvalidArgumentValue", Message: fmt.Sprintf("%s %q: %s", flag, value, why)}
}

// idSegment returns the value after key (case-insensitive) in an ARM ID,
// e.g. idSegment(id, "resourceGroups").
func idSegment(id, key string) string {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], key) {
			return parts[i+1]
		}
	}
	return ""
}

// groupColumn shows the resource group of a resource from its ID.
var groupColumn = column{header: "ResourceGroup", get: func(o map[string]any) string {
	id, _ := o["id"].(string)
	return idSegment(id, "resourceGroups")
}}

// location returns the --location value, or the installation's location.
func (c *client) location(flag string) string {
	if flag != "" {
		return flag
	}
	if c.profile.Location != "" {
		return c.profile.Location
	}
	return "eastus"
}

// withTags adds tags to an ARM request body when there are any.
func withTags(body map[string]any, tags map[string]string) map[string]any {
	if len(tags) > 0 {
		body["tags"] = tags
	}
	return body
}

// runArgs runs the command tree on args with the caller's globals (streams
// and environment) and returns the exit code: what Main does, for callers
// that run verbs in-process (tests, benchmarks, a demo).
func runArgs(ctx context.Context, g *globals, args []string) int {
	root := newRoot(g)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(g.Stderr, "ERROR:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}
