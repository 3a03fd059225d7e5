package registry

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// store is one registry's content on disk, under DATA/registries/<name>/:
//
//	blobs/sha256/<2 hex>/<64 hex>        content-addressed blobs (layers, configs, manifests)
//	repos/<repo>/_layers/sha256/<hex>    the blobs a repository may serve (empty files)
//	repos/<repo>/_manifests/revisions/sha256/<hex>   the manifests of a repository (their media type)
//	repos/<repo>/_manifests/tags/<tag>   the digest a tag points to
//	uploads/<uuid>/{repo,data}           upload sessions (they survive a restart)
//	tmp/                                 monolithic uploads being written
//
// Every file a reader can see is complete: content is written to a file in
// tmp/ or uploads/ (same file system), synced and renamed into place; small
// files are written the same way. Repository components start with [a-z0-9]
// and tags with [A-Za-z0-9_], so neither can collide with the "_layers" and
// "_manifests" directories or escape the registry's directory.
type store struct {
	dir string
}

func (s *store) blobPath(hexd string) string {
	return filepath.Join(s.dir, "blobs", "sha256", hexd[:2], hexd)
}

func (s *store) repoDir(repo string) string {
	return filepath.Join(s.dir, "repos", filepath.FromSlash(repo))
}

func (s *store) layerLink(repo, hexd string) string {
	return filepath.Join(s.repoDir(repo), "_layers", "sha256", hexd)
}

func (s *store) revisionPath(repo, hexd string) string {
	return filepath.Join(s.repoDir(repo), "_manifests", "revisions", "sha256", hexd)
}

func (s *store) tagPath(repo, tag string) string {
	return filepath.Join(s.repoDir(repo), "_manifests", "tags", tag)
}

func (s *store) tmpDir() string { return filepath.Join(s.dir, "tmp") }

func (s *store) uploadDir(id string) string { return filepath.Join(s.dir, "uploads", id) }

// hasBlob reports whether the blob exists in the registry (in any repository).
func (s *store) hasBlob(hexd string) (int64, bool) {
	fi, err := os.Stat(s.blobPath(hexd))
	if err != nil {
		return 0, false
	}
	return fi.Size(), true
}

// repoHasBlob reports whether repo may serve the blob: it was pushed to or
// mounted into repo, or is one of repo's manifests.
func (s *store) repoHasBlob(repo, hexd string) (int64, bool) {
	if !exists(s.layerLink(repo, hexd)) && !exists(s.revisionPath(repo, hexd)) {
		return 0, false
	}
	return s.hasBlob(hexd)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// openBlob opens a blob for reading.
func (s *store) openBlob(hexd string) (*os.File, error) { return os.Open(s.blobPath(hexd)) }

// linkBlob records that repo may serve the blob.
func (s *store) linkBlob(repo, hexd string) error {
	p := s.layerLink(repo, hexd)
	if exists(p) {
		return nil
	}
	return writeFileAtomic(p, nil)
}

// commitFile moves a complete, synced file into the blob store under its
// digest. An existing blob with the same digest is kept (same content).
func (s *store) commitFile(tmp, hexd string) error {
	dst := s.blobPath(hexd)
	if exists(dst) {
		return os.Remove(tmp)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// writeStream writes r to a new temporary file, syncs it and returns its
// path, size and SHA-256 (hex). Memory stays bounded by the copy's buffers.
func (s *store) writeStream(r io.Reader, limit int64) (string, int64, string, error) {
	if err := os.MkdirAll(s.tmpDir(), 0o700); err != nil {
		return "", 0, "", err
	}
	f, err := os.CreateTemp(s.tmpDir(), "blob-*")
	if err != nil {
		return "", 0, "", err
	}
	h := sha256.New()
	wb := newWritebackFile(f, 0)
	n, err := copyHashed(wb, h, r, limit)
	wb.wait()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", 0, "", err
	}
	return f.Name(), n, hex.EncodeToString(h.Sum(nil)), nil
}

// putBytes stores small content (a manifest) and returns its hex digest.
func (s *store) putBytes(b []byte) (string, error) {
	sum := sha256.Sum256(b)
	hexd := hex.EncodeToString(sum[:])
	if _, ok := s.hasBlob(hexd); ok {
		return hexd, nil
	}
	tmp, _, _, err := s.writeStream(strings.NewReader(string(b)), -1)
	if err != nil {
		return "", err
	}
	return hexd, s.commitFile(tmp, hexd)
}

// readSmall reads a blob that is known to be small (at most limit bytes).
func (s *store) readSmall(hexd string, limit int64) ([]byte, error) {
	f, err := s.openBlob(hexd)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

// putManifest records a manifest revision in repo with its media type.
func (s *store) putManifest(repo, hexd, mediaType string) error {
	return writeFileAtomic(s.revisionPath(repo, hexd), []byte(mediaType))
}

// manifestType returns the media type of a manifest revision of repo.
func (s *store) manifestType(repo, hexd string) (string, bool) {
	b, err := os.ReadFile(s.revisionPath(repo, hexd))
	if err != nil {
		return "", false
	}
	return string(b), true
}

// tag points a tag of repo at a manifest digest ("sha256:<hex>").
func (s *store) tag(repo, tag, digest string) error {
	return writeFileAtomic(s.tagPath(repo, tag), []byte(digest))
}

// resolveTag returns the digest a tag points to.
func (s *store) resolveTag(repo, tag string) (string, bool) {
	b, err := os.ReadFile(s.tagPath(repo, tag))
	if err != nil || len(b) != len("sha256:")+64 {
		return "", false
	}
	return string(b), true
}

// tags lists repo's tags, sorted; ok is false when repo does not exist.
func (s *store) tags(repo string) ([]string, bool) {
	if !exists(filepath.Join(s.repoDir(repo), "_manifests")) {
		return nil, false
	}
	ents, err := os.ReadDir(filepath.Join(s.repoDir(repo), "_manifests", "tags"))
	if err != nil {
		return []string{}, true
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.Type().IsRegular() && validTag(e.Name()) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, true
}

// revisions lists the manifest digests (hex) of repo.
func (s *store) revisions(repo string) []string {
	ents, _ := os.ReadDir(filepath.Join(s.repoDir(repo), "_manifests", "revisions", "sha256"))
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		if validHex(e.Name()) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// deleteManifest removes a manifest revision of repo and the tags pointing
// to it; false when there was no such revision.
func (s *store) deleteManifest(repo, hexd string) (bool, error) {
	if err := os.Remove(s.revisionPath(repo, hexd)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	tags, _ := s.tags(repo)
	for _, t := range tags {
		if d, ok := s.resolveTag(repo, t); ok && d == "sha256:"+hexd {
			if err := os.Remove(s.tagPath(repo, t)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return true, err
			}
		}
	}
	return true, nil
}

// deleteTag removes a tag; false when there was no such tag.
func (s *store) deleteTag(repo, tag string) (bool, error) {
	err := os.Remove(s.tagPath(repo, tag))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// unlinkBlob removes a blob from repo; false when repo did not have it. The
// content itself stays for the other repositories that link it.
func (s *store) unlinkBlob(repo, hexd string) (bool, error) {
	err := os.Remove(s.layerLink(repo, hexd))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// repositories lists every repository with at least one manifest directory, sorted.
func (s *store) repositories() ([]string, error) {
	root := filepath.Join(s.dir, "repos")
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() || p == root {
			return nil
		}
		switch d.Name() {
		case "_layers":
			return fs.SkipDir
		case "_manifests":
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			out = append(out, filepath.ToSlash(rel))
			return fs.SkipDir
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// upload is an upload session's state: its repository, and the hash of the
// first hashed bytes of its data file (a restart or another replica leaves
// the hash behind the file; finishing then hashes the file again).
type upload struct {
	repo   string
	hash   hash.Hash
	hashed int64
}

// newUpload creates an upload session for repo.
func (s *store) newUpload(repo string) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	dir := s.uploadDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	f.Close()
	if err := writeFileAtomic(filepath.Join(dir, "repo"), []byte(repo)); err != nil {
		return "", err
	}
	return id, nil
}

// uploadInfo returns an upload session's repository and committed size:
// the bytes of the chunks received whole (a chunk torn by a crash may have
// left bytes past it in the data file; the next chunk overwrites them).
func (s *store) uploadInfo(id string) (repo string, size int64, ok bool) {
	if !validUploadID(id) {
		return "", 0, false
	}
	b, err := os.ReadFile(filepath.Join(s.uploadDir(id), "repo"))
	if err != nil {
		return "", 0, false
	}
	if sb, err := os.ReadFile(filepath.Join(s.uploadDir(id), "size")); err == nil {
		if size, err = strconv.ParseInt(string(sb), 10, 64); err != nil || size < 0 {
			return "", 0, false
		}
	}
	return string(b), size, true
}

// setUploadSize records an upload session's committed size, once the data
// up to it is synced.
func (s *store) setUploadSize(id string, size int64) error {
	return writeFileAtomic(filepath.Join(s.uploadDir(id), "size"), []byte(strconv.FormatInt(size, 10)))
}

// removeUpload deletes an upload session.
func (s *store) removeUpload(id string) error {
	if !validUploadID(id) {
		return nil
	}
	return os.RemoveAll(s.uploadDir(id))
}

// sweep removes temporary files and upload sessions untouched for longer
// than maxAge (another replica may be writing younger ones).
func (s *store) sweep(now time.Time, maxAge time.Duration) (n int) {
	for _, d := range []string{s.tmpDir(), filepath.Join(s.dir, "uploads")} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			p := filepath.Join(d, e.Name())
			mod := time.Time{}
			if fi, err := e.Info(); err == nil {
				mod = fi.ModTime()
			}
			if e.IsDir() {
				if fi, err := os.Stat(filepath.Join(p, "data")); err == nil {
					mod = fi.ModTime()
				}
			}
			if now.Sub(mod) > maxAge {
				if os.RemoveAll(p) == nil {
					n++
				}
			}
		}
	}
	return n
}

// writeFileAtomic writes a small file through a synced temporary file in the
// same directory and a rename.
func writeFileAtomic(name string, data []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
