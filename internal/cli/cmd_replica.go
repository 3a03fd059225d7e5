package cli

import (
	"fmt"

	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/spf13/cobra"
)

func init() { register(newReplicaCmd) }

func newReplicaCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replica",
		Short: "Run more control-plane replicas of an installation on PostgreSQL",
	}
	var out string
	export := &cobra.Command{
		Use:   "export --out FILE",
		Short: "Write the secrets another replica needs (seal key, CA, admin credential) to FILE",
		Long: `Write to FILE (mode 0600) the bundle with which another ` + "`cobalt up`" + ` joins the
installation whose data directory is --data: the seal key that opens the
secrets kept in the database, the CA that signs every replica's server
certificate, and the admin credential. Treat FILE as a private key: copy it
to the new replica's machine over a private channel, start that replica with
--join-replica FILE, then delete FILE. The installation must use PostgreSQL.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required: the bundle is a secret and is never printed")
			}
			b, err := server.ExportReplica(g.DataDir)
			if err != nil {
				return err
			}
			if err := pki.WriteFileAtomic(out, append(b, '\n'), 0o600); err != nil {
				return err
			}
			fmt.Fprintf(g.Stderr, "replica bundle written to %s; start the new replica with --join-replica %s\n", out, out)
			return nil
		},
	}
	export.Flags().StringVar(&out, "out", "", "the `file` to write (mode 0600)")
	cmd.AddCommand(export)
	return cmd
}
