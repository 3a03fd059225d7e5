package portal

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// StorageResource is the audience of the user's blob tokens.
const StorageResource = "https://storage.azure.com/"

// blobVersion is the x-ms-version the portal speaks to Blob Storage.
const blobVersion = "2021-08-06"

// handleBlob sends /api/blob/{storage account ID}/-/{container[/blob]}?{query}
// to the account's blob endpoint, which it reads from ARM with the user's
// token, with the user's storage token. Blob Storage checks the user's data
// roles (Storage Blob Data Reader, ...), and its XML errors come back as they are.
func (p *Portal) handleBlob(w http.ResponseWriter, r *http.Request) {
	s, ok := p.apiSession(w, r)
	if !ok {
		return
	}
	acctPath, blobPath, ok := strings.Cut(strings.TrimPrefix(r.URL.EscapedPath(), "/api/blob"), "/-/")
	if !ok {
		apiError(w, http.StatusNotFound, "NotFound", "Expected /api/blob/{storage account ID}/-/{path}.")
		return
	}
	unescaped, err := url.PathUnescape(acctPath)
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidResourceId", "The account ID is not valid.")
		return
	}
	id, err := cobalt.ParseResourceID(unescaped)
	if err != nil || !strings.EqualFold(id.Type(), "Microsoft.Storage/storageAccounts") {
		apiError(w, http.StatusBadRequest, "InvalidResourceId", "The account ID is not a storage account.")
		return
	}
	armTok, err := p.token(r.Context(), s, ARMResource)
	if err != nil {
		p.tokenFailed(w, err)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, p.cfg.ResourceManager+id.String()+"?api-version=2023-05-01", nil)
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequest", "The request is not valid.")
		return
	}
	req.Header.Set("Authorization", "Bearer "+armTok)
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		p.log.Warn("portal: storage account lookup failed", logkey.Err, err)
		apiError(w, http.StatusBadGateway, "BadGateway", "Resource Manager did not answer.")
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
		return
	}
	var a struct {
		Properties struct {
			PrimaryEndpoints struct {
				Blob string `json:"blob"`
			} `json:"primaryEndpoints"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Properties.PrimaryEndpoints.Blob == "" {
		apiError(w, http.StatusBadGateway, "BadGateway", "The storage account has no blob endpoint.")
		return
	}
	if u, perr := url.Parse(a.Properties.PrimaryEndpoints.Blob); perr != nil || u.Scheme != "https" || u.Host == "" {
		apiError(w, http.StatusBadGateway, "BadGateway", "The storage account's blob endpoint is not usable.")
		return
	}
	tok, err := p.token(r.Context(), s, StorageResource)
	if err != nil {
		p.tokenFailed(w, err)
		return
	}
	target := strings.TrimSuffix(a.Properties.PrimaryEndpoints.Blob, "/") + "/" + blobPath + rawQuery(r)
	p.forwardBlob(w, r, target, tok)
}

// forwardBlob is forward for Blob Storage: it adds x-ms-version, passes the
// blob headers an upload needs, and returns the blob's content headers.
func (p *Portal) forwardBlob(w http.ResponseWriter, r *http.Request, target, tok string) {
	var body io.Reader
	if r.Method == http.MethodPut {
		body = http.MaxBytesReader(w, r.Body, maxBody)
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target, body)
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequest", "The request is not valid.")
		return
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("x-ms-version", blobVersion)
	for _, h := range []string{"Content-Type", "x-ms-blob-type", "x-ms-blob-content-type"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	if r.Method == http.MethodPut {
		req.ContentLength = r.ContentLength
	}
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		p.log.Warn("portal: blob request failed", logkey.Err, err)
		apiError(w, http.StatusBadGateway, "BadGateway", "Blob Storage did not answer.")
		return
	}
	defer resp.Body.Close()
	setContentType(w, resp.Header.Get("Content-Type"))
	for _, h := range []string{"Content-Length", "ETag", "Last-Modified"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, maxBody))
}
