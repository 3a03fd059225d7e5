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
}

// publishIMDS writes RootDir/imds.json (0600: only the agent's user reads it).
func publishIMDS(root, url, namespace string) error {
	b, err := json.Marshal(imdsFile{URL: url, Namespace: namespace})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, imdsFileName), b, 0o600)
}

// unpublishIMDS removes RootDir/imds.json.
func unpublishIMDS(root string) { _ = os.Remove(filepath.Join(root, imdsFileName)) }
