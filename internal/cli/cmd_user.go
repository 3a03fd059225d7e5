package cli

import (
	"bufio"
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cobaltbatch/cobalt"
)

// Users are people who sign in to the portal with a user name and password
// (the authorization code flow). Like `cobalt sp`, these commands act on the
// installation's store directly.

func init() { register(newUserCmd) }

var userColumns = []column{col("UserPrincipalName", "userPrincipalName"), col("ObjectId", "objectId"), col("DisplayName", "displayName")}

func userJSON(p cobalt.Principal) map[string]any {
	return map[string]any{"objectId": p.ObjectID, "userPrincipalName": p.UserPrincipalName,
		"displayName": p.DisplayName, "tenant": p.TenantID}
}

func newUserCmd(g *globals) *cobra.Command {
	var name string
	var passwordStdin bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a user who signs in with a password",
		Long: `Create a user in the installation's tenant. Its user principal name is
NAME@<tenant domain>; the password is read from the first line of standard
input (--password-stdin) and stored only as an argon2id hash. Give the user
roles with 'cobalt role assignment create --assignee-object-id <objectId>
--assignee-principal-type User', then sign in at the portal address.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !passwordStdin {
				return errors.New("give the password on standard input with --password-stdin")
			}
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && line == "" {
				return errors.New("no password on standard input")
			}
			password := strings.TrimRight(line, "\r\n")
			svc, e, done, err := openLogin(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			p, err := svc.CreateUser(cmd.Context(), e.TenantID, name, password)
			if err != nil {
				return err
			}
			return printResult(g, userJSON(p), userColumns)
		},
	}
	create.Flags().StringVarP(&name, "name", "n", "", "the user's name, before @<tenant domain>")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	_ = create.MarkFlagRequired("name")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the tenant's users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, e, done, err := openLogin(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			users, err := svc.ListUsers(cmd.Context(), e.TenantID)
			if err != nil {
				return err
			}
			out := []map[string]any{}
			for _, u := range users {
				out = append(out, userJSON(u))
			}
			return printResult(g, out, userColumns)
		},
	}

	var id string
	del := &cobra.Command{
		Use:   "delete",
		Short: "Delete a user (by object ID or user principal name)",
		Long: `Delete a user. Access tokens already issued stay valid until they expire, as
on Entra; refresh tokens stop working at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, e, done, err := openLogin(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			u, err := svc.FindUser(cmd.Context(), e.TenantID, id)
			if err != nil {
				return err
			}
			return svc.DeletePrincipal(cmd.Context(), u.ObjectID)
		},
	}
	del.Flags().StringVar(&id, "id", "", "the user's object ID or user principal name (NAME alone for NAME@<tenant domain>)")
	_ = del.MarkFlagRequired("id")
	return group("user", "Manage users who sign in to the portal", create, list, del)
}
