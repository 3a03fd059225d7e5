package cli

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/spf13/cobra"
)

// blobFlags adds the account-selection flags of data-plane storage commands.
// As in az, $AZURE_STORAGE_ACCOUNT, $AZURE_STORAGE_KEY and
// $AZURE_STORAGE_AUTH_MODE give their defaults.
func blobFlags(g *globals, cmd *cobra.Command, t *blobTarget) *cobra.Command {
	f := cmd.Flags()
	acct := g.Getenv("AZURE_STORAGE_ACCOUNT")
	mode := g.Getenv("AZURE_STORAGE_AUTH_MODE")
	if mode == "" {
		mode = "key"
	}
	f.StringVar(&t.account, "account-name", acct, "storage account name (default $AZURE_STORAGE_ACCOUNT)")
	f.StringVarP(&t.group, "resource-group", "g", "", "resource group of the account (default: search the subscription)")
	f.StringVar(&t.authMode, "auth-mode", mode, "login (bearer token and role assignments) or key (the account key)")
	f.StringVar(&t.key, "account-key", g.Getenv("AZURE_STORAGE_KEY"), "account key for --auth-mode key (default $AZURE_STORAGE_KEY, else read with listKeys)")
	f.StringVar(&t.endpoint, "blob-endpoint", "", "blob service URL (default: the account's primaryEndpoints.blob)")
	if acct != "" {
		return cmd
	}
	return required(cmd, "account-name")
}

// blobAction runs fn with an azblob client for the target.
func blobAction(g *globals, t *blobTarget, cols []column, fn func(ctx context.Context, bc *azblob.Client) (any, error)) func(*cobra.Command, []string) error {
	return action(g, cols, func(ctx context.Context, c *client) (any, error) {
		bc, err := c.blobClient(ctx, *t)
		if err != nil {
			return nil, err
		}
		v, err := fn(ctx, bc)
		if err != nil {
			return nil, blobError(err)
		}
		return v, nil
	})
}

// containerInfo and blobInfo are printed in az's shape.
type containerInfo struct {
	Name       string `json:"name"`
	Properties struct {
		LastModified *time.Time   `json:"lastModified,omitempty"`
		ETag         *azcore.ETag `json:"etag,omitempty"`
	} `json:"properties"`
}

type blobInfo struct {
	Name       string `json:"name"`
	Properties struct {
		ContentLength   *int64     `json:"contentLength,omitempty"`
		LastModified    *time.Time `json:"lastModified,omitempty"`
		ContentSettings struct {
			ContentType *string `json:"contentType,omitempty"`
		} `json:"contentSettings"`
	} `json:"properties"`
}

var blobColumns = []column{col("Name", "name"), col("Length", "properties.contentLength"),
	col("ContentType", "properties.contentSettings.contentType"), col("LastModified", "properties.lastModified")}

// storageContainerCmd manages blob containers on the data plane.
func storageContainerCmd(g *globals) *cobra.Command {
	var t blobTarget
	var name string
	named := func(cmd *cobra.Command) *cobra.Command {
		cmd.Flags().StringVarP(&name, "name", "n", "", "container name")
		return required(blobFlags(g, cmd, &t), "name")
	}
	create := named(leaf("create", "Create a container", blobAction(g, &t, nil, func(ctx context.Context, bc *azblob.Client) (any, error) {
		if _, err := bc.CreateContainer(ctx, name, nil); err != nil {
			return nil, err
		}
		return map[string]bool{"created": true}, nil
	})))
	list := blobFlags(g, leaf("list", "List containers", blobAction(g, &t, []column{col("Name", "name"), col("LastModified", "properties.lastModified")},
		func(ctx context.Context, bc *azblob.Client) (any, error) {
			out := []containerInfo{}
			for p := bc.NewListContainersPager(nil); p.More(); {
				page, err := p.NextPage(ctx)
				if err != nil {
					return nil, err
				}
				for _, it := range page.ContainerItems {
					var ci containerInfo
					ci.Name = deref(it.Name)
					if it.Properties != nil {
						ci.Properties.LastModified, ci.Properties.ETag = it.Properties.LastModified, it.Properties.ETag
					}
					out = append(out, ci)
				}
			}
			return out, nil
		})), &t)
	del := named(leaf("delete", "Delete a container", blobAction(g, &t, nil, func(ctx context.Context, bc *azblob.Client) (any, error) {
		if _, err := bc.DeleteContainer(ctx, name, nil); err != nil {
			return nil, err
		}
		return map[string]bool{"deleted": true}, nil
	})))
	return group("container", "Manage blob containers", create, list, del)
}

// storageBlobCmd uploads, downloads, lists and deletes blobs.
func storageBlobCmd(g *globals) *cobra.Command {
	var t blobTarget
	var ctr, name, file, prefix string
	var overwrite bool
	named := func(cmd *cobra.Command) *cobra.Command {
		cmd.Flags().StringVarP(&ctr, "container-name", "c", "", "container name")
		cmd.Flags().StringVarP(&name, "name", "n", "", "blob name")
		return required(blobFlags(g, cmd, &t), "container-name", "name")
	}

	upload := named(leaf("upload", "Upload a file to a block blob", blobAction(g, &t, nil, func(ctx context.Context, bc *azblob.Client) (any, error) {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		opts := &azblob.UploadFileOptions{}
		if !overwrite {
			any := azcore.ETagAny
			opts.AccessConditions = &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &any}}
		}
		r, err := bc.UploadFile(ctx, ctr, name, f, opts)
		if err != nil {
			return nil, err
		}
		return map[string]any{"etag": r.ETag, "lastModified": r.LastModified}, nil
	})))
	upload.Flags().StringVarP(&file, "file", "f", "", "file to upload")
	upload.Flags().BoolVar(&overwrite, "overwrite", false, "replace an existing blob")
	required(upload, "file")

	download := named(leaf("download", "Download a blob to a file, or to stdout without --file", blobAction(g, &t, nil, func(ctx context.Context, bc *azblob.Client) (any, error) {
		r, err := bc.DownloadStream(ctx, ctr, name, nil)
		if err != nil {
			return nil, err
		}
		defer r.Body.Close()
		if file == "" {
			_, err = io.Copy(g.Stdout, r.Body)
			return nil, err
		}
		f, err := os.Create(file)
		if err != nil {
			return nil, err
		}
		if _, err := io.Copy(f, r.Body); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		return map[string]any{"name": name, "file": file, "contentLength": r.ContentLength}, nil
	})))
	download.Flags().StringVarP(&file, "file", "f", "", "destination file (default: stdout)")

	list := leaf("list", "List the blobs of a container", blobAction(g, &t, blobColumns, func(ctx context.Context, bc *azblob.Client) (any, error) {
		out := []blobInfo{}
		opts := &azblob.ListBlobsFlatOptions{}
		if prefix != "" {
			opts.Prefix = &prefix
		}
		for p := bc.NewListBlobsFlatPager(ctr, opts); p.More(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, it := range page.Segment.BlobItems {
				var bi blobInfo
				bi.Name = deref(it.Name)
				if pr := it.Properties; pr != nil {
					bi.Properties.ContentLength, bi.Properties.LastModified = pr.ContentLength, pr.LastModified
					bi.Properties.ContentSettings.ContentType = pr.ContentType
				}
				out = append(out, bi)
			}
		}
		return out, nil
	}))
	list.Flags().StringVarP(&ctr, "container-name", "c", "", "container name")
	list.Flags().StringVar(&prefix, "prefix", "", "only blobs whose names start with this")
	required(blobFlags(g, list, &t), "container-name")

	del := named(leaf("delete", "Delete a blob", blobAction(g, &t, nil, func(ctx context.Context, bc *azblob.Client) (any, error) {
		_, err := bc.DeleteBlob(ctx, ctr, name, nil)
		return nil, err
	})))

	return group("blob", "Manage blobs", upload, download, list, del)
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}
