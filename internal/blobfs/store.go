package blobfs

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Config says which container to serve and how to reach it.
type Config struct {
	// ContainerURL is the container's URL, with a SAS in its query when
	// Token is nil.
	ContainerURL string
	// Token returns a bearer token for the storage audience; nil means the
	// URL's SAS authorizes every request.
	Token func(ctx context.Context) (string, error)
	// HTTPClient sends the requests (it trusts the installation's CA).
	HTTPClient *http.Client
	// TempDir holds files being written until they are closed.
	TempDir string
}

// entry is one name in a directory listing.
type entry struct {
	name  string
	dir   bool
	size  int64
	mtime time.Time
}

// remote is the container, through the official blob client.
type remote struct {
	c   *container.Client
	cfg Config
}

// tokenCredential adapts Config.Token to azcore.
type tokenCredential struct {
	fn func(ctx context.Context) (string, error)
}

func (t tokenCredential) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	s, err := t.fn(ctx)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	// The source (a node's token cache) refreshes before expiry and its
	// tokens live over half an hour: the client keeps one for at most a few
	// minutes (it refreshes five minutes before ExpiresOn), so the node's
	// rate-limited IMDS is asked about once per five minutes per mount.
	return azcore.AccessToken{Token: s, ExpiresOn: time.Now().Add(10 * time.Minute)}, nil
}

func newRemote(cfg Config) (*remote, error) {
	opts := &container.ClientOptions{ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 2}}}
	if cfg.HTTPClient != nil {
		opts.Transport = cfg.HTTPClient
	}
	var c *container.Client
	var err error
	if cfg.Token != nil {
		c, err = container.NewClient(cfg.ContainerURL, tokenCredential{cfg.Token}, opts)
	} else {
		c, err = container.NewClientWithNoCredential(cfg.ContainerURL, opts)
	}
	if err != nil {
		return nil, err
	}
	return &remote{c: c, cfg: cfg}, nil
}

// check proves the container exists and the caller may list it: a mount
// that cannot does not start.
func (r *remote) check(ctx context.Context) error {
	_, err := r.c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{MaxResults: to.Ptr[int32](1)}).NextPage(ctx)
	return err
}

// list returns the names directly under prefix ("" or "dir/").
func (r *remote) list(ctx context.Context, prefix string) ([]entry, error) {
	var out []entry
	p := r.c.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: to.Ptr(prefix)})
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, bp := range page.Segment.BlobPrefixes {
			if n := strings.TrimSuffix(strings.TrimPrefix(*bp.Name, prefix), "/"); n != "" {
				out = append(out, entry{name: n, dir: true})
			}
		}
		for _, b := range page.Segment.BlobItems {
			n := strings.TrimPrefix(*b.Name, prefix)
			if n == "" || strings.Contains(n, "/") {
				continue
			}
			e := entry{name: n}
			if b.Properties != nil {
				if b.Properties.ContentLength != nil {
					e.size = *b.Properties.ContentLength
				}
				if b.Properties.LastModified != nil {
					e.mtime = *b.Properties.LastModified
				}
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// read reads len(dest) bytes of the blob at off (fewer at its end).
func (r *remote) read(ctx context.Context, name string, dest []byte, off int64) (int, error) {
	resp, err := r.c.NewBlobClient(name).DownloadStream(ctx, &blob.DownloadStreamOptions{
		Range: blob.HTTPRange{Offset: off, Count: int64(len(dest))}})
	if err != nil {
		if bloberror.HasCode(err, bloberror.InvalidRange) {
			return 0, nil // at or past the end
		}
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.ReadFull(resp.Body, dest)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// download copies the whole blob into w.
func (r *remote) download(ctx context.Context, name string, w *os.File) error {
	_, err := r.c.NewBlockBlobClient(name).DownloadFile(ctx, w, nil)
	return err
}

// upload replaces the blob with the file's content, as a block blob.
func (r *remote) upload(ctx context.Context, name string, f *os.File) error {
	_, err := r.c.NewBlockBlobClient(name).UploadFile(ctx, f, &blockblob.UploadFileOptions{})
	return err
}

func (r *remote) remove(ctx context.Context, name string) error {
	_, err := r.c.NewBlobClient(name).Delete(ctx, nil)
	return err
}
