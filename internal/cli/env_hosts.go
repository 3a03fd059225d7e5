package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cobaltbatch/cobalt/internal/azurenames"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// printHostsLine prints the /etc/hosts line that maps Azure's public
// hostnames of the installation's resources to the address where it serves
// them on port 443.
func printHostsLine(ctx context.Context, g *globals, e server.Endpoints) error {
	addr := server.ReadHostsAddress(g.DataDir)
	if addr == "" {
		return errors.New("this Cobalt serves Azure's hostnames only inside its nodes: `cobalt up` needs root (or CAP_NET_BIND_SERVICE) and a free 127.0.0.2:443 to serve them to this machine")
	}
	st, _, err := server.OpenInstallationStore(ctx, g.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	names := []string{azurenames.LoginHost, azurenames.ManagementHost}
	for _, kind := range []struct{ typ, suffix string }{
		{"microsoft.storage/storageaccounts", ".blob.core.windows.net"},
		{"microsoft.batch/batchaccounts", ""},
		{"microsoft.containerregistry/registries", ".azurecr.io"},
	} {
		p := store.ResourceListParams{Type: kind.typ, Page: store.Page{Limit: 1000}}
		for {
			rs, next, err := st.ResourceList(ctx, p)
			if err != nil {
				return err
			}
			for _, r := range rs {
				name := strings.ToLower(r.ID[strings.LastIndex(r.ID, "/")+1:])
				suffix := kind.suffix
				if suffix == "" { // Batch: {account}.{location}.batch.azure.com
					var body struct {
						Location string `json:"location"`
					}
					_ = json.Unmarshal(r.Body, &body)
					if body.Location == "" {
						body.Location = e.Location
					}
					suffix = "." + strings.ToLower(body.Location) + ".batch.azure.com"
				}
				names = append(names, name+suffix)
			}
			if next == "" {
				break
			}
			p.Page.Token = next
		}
	}
	sort.Strings(names[2:])
	_, err = fmt.Fprintf(g.Stdout, "%s\t%s\n", addr, strings.Join(names, " "))
	return err
}
