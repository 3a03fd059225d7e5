package agent

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// imdsFileName is where a node publishes how to reach its IMDS, in its root
// directory, for `cobalt node token` on the same host.
const imdsFileName = "imds.json"

// imdsFile is the content of imds.json: the IMDS base URL as tasks see it and,
// for a netns node, the namespace in which that URL means something.
type imdsFile struct {
	URL       string `json:"url"`
	Namespace string `json:"namespace,omitempty"`
	// Secret is the node's secret in process mode, which its IMDS requires.
	Secret string `json:"secret,omitempty"`
}

// publishIMDS writes RootDir/imds.json (0600: only the agent's user reads
// it). The node's root owns the directory, so the file is written through
// an os.Root: a link planted there cannot lead the write outside.
func publishIMDS(root, url, namespace, secret string) error {
	b, err := json.Marshal(imdsFile{URL: url, Namespace: namespace, Secret: secret})
	if err != nil {
		return err
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	_ = r.Remove(imdsFileName)
	f, err := r.OpenFile(imdsFileName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

// publishIMDSFile writes path (Config.IMDSFile), 0600 in a 0700 directory
// outside the node's, replacing it atomically.
func publishIMDSFile(path, url, namespace, secret string) error {
	b, err := json.Marshal(imdsFile{URL: url, Namespace: namespace, Secret: secret})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".imds-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
	}
	return werr
}

// unpublishIMDS removes RootDir/imds.json.
func unpublishIMDS(root string) {
	if r, err := os.OpenRoot(root); err == nil {
		_ = r.Remove(imdsFileName)
		r.Close()
	}
}
