package cli

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/spf13/cobra"
)

// acrLoginCmd is `cobalt acr login`: the AAD-OAuth exchange, then docker's
// config entry (or, with --expose-token, the token printed instead).
func acrLoginCmd(g *globals) *cobra.Command {
	var rg, reg string
	var expose bool
	cmd := leaf("login", "Sign in to a container registry for docker and other OCI clients", func(cmd *cobra.Command, _ []string) error {
		c, err := newClient(g)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		server, err := c.loginServer(ctx, rg, reg)
		if err != nil {
			return err
		}
		token, err := c.acrRefreshToken(ctx, server)
		if err != nil {
			return err
		}
		if expose {
			return printQueried(g, map[string]string{"accessToken": token, "loginServer": server, "username": nullGUID}, nil, "")
		}
		file, err := dockerConfigFile(g.Getenv)
		if err != nil {
			return err
		}
		if err := writeDockerAuth(file, server, token); err != nil {
			return err
		}
		fmt.Fprintln(g.Stdout, "Login Succeeded")
		return nil
	})
	cmd.Flags().StringVarP(&reg, "name", "n", "", "registry name")
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group (default: found by the registry's name)")
	cmd.Flags().BoolVarP(&expose, "expose-token", "t", false, "print the registry refresh token instead of writing docker's config")
	return required(cmd, "name")
}

// acrImportCmd is `cobalt acr import`: push an image from an OCI layout
// directory, an OCI layout tar archive or a `docker save` tarball into a
// registry, signed in through the exchange flow: no other registry and no
// internet involved.
func acrImportCmd(g *globals) *cobra.Command {
	var rg, reg, source, image string
	cmd := leaf("import", "Push an image from an OCI layout or an image tarball into a registry", func(cmd *cobra.Command, _ []string) error {
		c, err := newClient(g)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		server, err := c.loginServer(ctx, rg, reg)
		if err != nil {
			return err
		}
		ref, err := name.ParseReference(server+"/"+image, name.StrictValidation)
		if err != nil {
			return invalidArg("--image", image, "want REPOSITORY:TAG, for example busybox:1")
		}
		token, err := c.acrRefreshToken(ctx, server)
		if err != nil {
			return err
		}
		digest, err := pushSource(ctx, source, ref, remote.WithContext(ctx),
			remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: nullGUID, IdentityToken: token})),
			remote.WithTransport(c.http.Transport))
		if err != nil {
			return err
		}
		return printQueried(g, map[string]string{"image": ref.String(), "digest": digest}, []column{col("Image", "image"), col("Digest", "digest")}, "")
	})
	cmd.Flags().StringVarP(&reg, "name", "n", "", "registry name")
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group (default: found by the registry's name)")
	cmd.Flags().StringVar(&source, "source", "", "an OCI layout directory, an OCI layout tar archive, or a docker save tarball")
	cmd.Flags().StringVar(&image, "image", "", "the target REPOSITORY:TAG")
	return required(cmd, "name", "source", "image")
}

// pushSource pushes what source holds to ref and returns the pushed digest.
func pushSource(ctx context.Context, source string, ref name.Reference, opts ...remote.Option) (string, error) {
	st, err := os.Stat(source)
	if err != nil {
		return "", err
	}
	dir := source
	if !st.IsDir() {
		isLayout, err := tarHasOCILayout(source)
		if err != nil {
			return "", err
		}
		if !isLayout {
			img, err := tarball.ImageFromPath(source, nil)
			if err != nil {
				return "", fmt.Errorf("read %s as a docker save tarball: %w", source, err)
			}
			return pushImage(img, ref, opts...)
		}
		tmp, err := os.MkdirTemp("", "cobalt-import-*")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(tmp)
		if err := untar(source, tmp); err != nil {
			return "", err
		}
		dir = tmp
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return "", fmt.Errorf("read %s as an OCI layout: %w", source, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return "", err
	}
	// A layout holding one image pushes that image; one holding an index
	// (or several manifests) pushes the index with every image it names.
	if len(m.Manifests) == 1 && m.Manifests[0].MediaType.IsImage() {
		img, err := idx.Image(m.Manifests[0].Digest)
		if err != nil {
			return "", err
		}
		return pushImage(img, ref, opts...)
	}
	if len(m.Manifests) == 1 && m.Manifests[0].MediaType.IsIndex() {
		inner, err := idx.ImageIndex(m.Manifests[0].Digest)
		if err != nil {
			return "", err
		}
		idx = inner
	}
	if err := remote.WriteIndex(ref, idx, opts...); err != nil {
		return "", err
	}
	d, err := idx.Digest()
	return d.String(), err
}

func pushImage(img v1.Image, ref name.Reference, opts ...remote.Option) (string, error) {
	if err := remote.Write(ref, img, opts...); err != nil {
		return "", err
	}
	d, err := img.Digest()
	return d.String(), err
}

// tarHasOCILayout reports whether a tar archive is an OCI image layout (it
// holds an oci-layout file at its root).
func tarHasOCILayout(file string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("read %s as a tar archive: %w", file, err)
		}
		if strings.TrimPrefix(h.Name, "./") == "oci-layout" {
			return true, nil
		}
	}
}

// untar extracts the regular files and directories of an OCI layout archive
// into dir, refusing any name that leaves it.
func untar(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel := filepath.Clean(strings.TrimPrefix(h.Name, "./"))
		if rel == "." {
			continue
		}
		if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("%s: the archive names %q outside itself", file, h.Name)
		}
		target := filepath.Join(dir, rel)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		}
	}
}
