package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// resolve turns a manifest reference (tag or digest) of repo into a digest
// hex, or answers the error.
func (rc *reqCtx) resolve(repo, ref string) (string, bool) {
	if strings.Contains(ref, ":") {
		hexd, err := parseDigest(ref)
		if err != nil {
			writeOCIError(rc.w, errDigestInvalid("invalid digest"))
			return "", false
		}
		return hexd, true
	}
	if !validTag(ref) {
		writeOCIError(rc.w, errManifestInvalid("invalid tag"))
		return "", false
	}
	d, ok := rc.st.resolveTag(repo, ref)
	if !ok {
		writeOCIError(rc.w, errManifestUnknown())
		return "", false
	}
	return strings.TrimPrefix(d, "sha256:"), true
}

// getManifest serves GET and HEAD /v2/<name>/manifests/<reference>.
func (rc *reqCtx) getManifest(repo, ref string) {
	hexd, ok := rc.resolve(repo, ref)
	if !ok {
		return
	}
	mt, ok := rc.st.manifestType(repo, hexd)
	if !ok {
		writeOCIError(rc.w, errManifestUnknown())
		return
	}
	f, err := rc.st.openBlob(hexd)
	if err != nil {
		writeOCIError(rc.w, errManifestUnknown())
		return
	}
	defer f.Close()
	h := rc.w.Header()
	h.Set("Content-Type", mt)
	h.Set("Docker-Content-Digest", "sha256:"+hexd)
	h.Set("ETag", `"sha256:`+hexd+`"`)
	http.ServeContent(rc.w, rc.r, "", time.Time{}, f)
}

// putManifest serves PUT /v2/<name>/manifests/<reference>.
func (rc *reqCtx) putManifest(repo, ref string) {
	body, err := io.ReadAll(io.LimitReader(rc.r.Body, maxManifestBytes+1))
	if err != nil {
		writeOCIError(rc.w, errManifestInvalid("the manifest was not received whole"))
		return
	}
	if len(body) > maxManifestBytes {
		writeOCIError(rc.w, ociErr(http.StatusRequestEntityTooLarge, "SIZE_INVALID", "the manifest is larger than 4 MiB"))
		return
	}
	sum := sha256.Sum256(body)
	hexd := hex.EncodeToString(sum[:])
	tag := ""
	if strings.Contains(ref, ":") {
		want, err := parseDigest(ref)
		if err != nil {
			writeOCIError(rc.w, errDigestInvalid("invalid digest"))
			return
		}
		if want != hexd {
			writeOCIError(rc.w, errDigestInvalid("the manifest does not match the digest"))
			return
		}
	} else if validTag(ref) {
		tag = ref
	} else {
		writeOCIError(rc.w, errManifestInvalid("invalid tag"))
		return
	}
	m, err := parseManifest(rc.r.Header.Get("Content-Type"), body)
	if err != nil {
		writeOCIError(rc.w, errManifestInvalid(err.Error()))
		return
	}
	for _, d := range m.blobRefs() {
		h, _ := parseDigest(d.Digest)
		size, ok := rc.st.repoHasBlob(repo, h)
		if !ok {
			writeOCIError(rc.w, errManifestBlobUnknown(d.Digest))
			return
		}
		if size != d.Size {
			writeOCIError(rc.w, errManifestInvalid("the size of "+d.Digest+" is "+strconv.FormatInt(size, 10)))
			return
		}
	}
	if m.Index {
		for _, d := range m.Doc.Manifests {
			h, _ := parseDigest(d.Digest)
			if _, ok := rc.st.manifestType(repo, h); !ok {
				writeOCIError(rc.w, errManifestBlobUnknown(d.Digest))
				return
			}
		}
	}
	if _, err := rc.st.putBytes(body); err != nil {
		rc.internalError("store manifest", err)
		return
	}
	if err := rc.st.putManifest(repo, hexd, m.MediaType); err != nil {
		rc.internalError("store manifest", err)
		return
	}
	if tag != "" {
		if err := rc.st.tag(repo, tag, "sha256:"+hexd); err != nil {
			rc.internalError("tag manifest", err)
			return
		}
	}
	h := rc.w.Header()
	h.Set("Location", "/v2/"+repo+"/manifests/sha256:"+hexd)
	h.Set("Docker-Content-Digest", "sha256:"+hexd)
	if m.Doc.Subject != nil {
		h.Set("OCI-Subject", m.Doc.Subject.Digest)
	}
	h.Set("Content-Length", "0")
	rc.w.WriteHeader(http.StatusCreated)
}

// deleteManifest serves DELETE /v2/<name>/manifests/<reference>: a digest
// deletes the manifest and its tags, a tag deletes the tag.
func (rc *reqCtx) deleteManifest(repo, ref string) {
	var ok bool
	var err error
	if strings.Contains(ref, ":") {
		hexd, perr := parseDigest(ref)
		if perr != nil {
			writeOCIError(rc.w, errDigestInvalid("invalid digest"))
			return
		}
		ok, err = rc.st.deleteManifest(repo, hexd)
	} else if validTag(ref) {
		ok, err = rc.st.deleteTag(repo, ref)
	} else {
		writeOCIError(rc.w, errManifestInvalid("invalid tag"))
		return
	}
	if err != nil {
		rc.internalError("delete manifest", err)
		return
	}
	if !ok {
		writeOCIError(rc.w, errManifestUnknown())
		return
	}
	rc.w.Header().Set("Content-Length", "0")
	rc.w.WriteHeader(http.StatusAccepted)
}

// maxPage bounds a page of tags or repositories.
const maxPage = 1000

// page applies the n and last parameters to a sorted list and sets the Link
// header of the next page; ok is false after an error answer.
func (rc *reqCtx) page(all []string, path string) ([]string, bool) {
	q := rc.r.URL.Query()
	n := maxPage
	if v := q.Get("n"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 {
			writeOCIError(rc.w, ociErr(http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "invalid number of results requested"))
			return nil, false
		}
		n = min(i, maxPage)
	}
	if last := q.Get("last"); last != "" {
		i := sort.SearchStrings(all, last)
		if i < len(all) && all[i] == last {
			i++
		}
		all = all[i:]
	}
	out := append([]string{}, all[:min(n, len(all))]...)
	if len(out) < len(all) && len(out) > 0 {
		rc.w.Header().Set("Link", "<"+path+"?last="+url.QueryEscape(out[len(out)-1])+"&n="+strconv.Itoa(n)+`>; rel="next"`)
	}
	return out, true
}

// listTags serves GET /v2/<name>/tags/list.
func (rc *reqCtx) listTags(repo string) {
	all, ok := rc.st.tags(repo)
	if !ok {
		writeOCIError(rc.w, errNameUnknown())
		return
	}
	tags, ok := rc.page(all, "/v2/"+repo+"/tags/list")
	if !ok {
		return
	}
	writeJSON(rc.w, http.StatusOK, map[string]any{"name": repo, "tags": tags})
}

// catalog serves GET /v2/_catalog.
func (rc *reqCtx) catalog() {
	all, err := rc.st.repositories()
	if err != nil {
		rc.internalError("list repositories", err)
		return
	}
	repos, ok := rc.page(all, "/v2/_catalog")
	if !ok {
		return
	}
	writeJSON(rc.w, http.StatusOK, map[string]any{"repositories": repos})
}

// referrers serves GET /v2/<name>/referrers/<digest>: an index of the
// repository's manifests whose subject is the digest.
func (rc *reqCtx) referrers(repo, digest string) {
	if _, err := parseDigest(digest); err != nil {
		writeOCIError(rc.w, errDigestInvalid("invalid digest"))
		return
	}
	filter := rc.r.URL.Query().Get("artifactType")
	list := []descriptor{}
	for _, h := range rc.st.revisions(repo) {
		mt, ok := rc.st.manifestType(repo, h)
		if !ok {
			continue
		}
		b, err := rc.st.readSmall(h, maxManifestBytes)
		if err != nil {
			if errors.Is(err, errTooLarge) {
				continue
			}
			continue
		}
		m, err := parseManifest(mt, b)
		if err != nil || m.Doc.Subject == nil || m.Doc.Subject.Digest != digest {
			continue
		}
		at := m.artifactType()
		if filter != "" && at != filter {
			continue
		}
		list = append(list, descriptor{MediaType: mt, Digest: "sha256:" + h, Size: int64(len(b)),
			ArtifactType: at, Annotations: m.Doc.Annotations})
	}
	if filter != "" {
		rc.w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	var buf bytes.Buffer
	_ = jsonEncode(&buf, map[string]any{"schemaVersion": 2, "mediaType": mtOCIIndex, "manifests": list})
	rc.w.Header().Set("Content-Type", mtOCIIndex)
	rc.w.WriteHeader(http.StatusOK)
	_, _ = rc.w.Write(buf.Bytes())
}
