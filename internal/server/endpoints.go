package server

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cobaltbatch/cobalt/internal/pki"
)

// ResourceManagerAudience is the audience of management-plane tokens, as on Azure.
const ResourceManagerAudience = "https://management.azure.com"

// Endpoints is the content of DIR/endpoints.json: the `cobalt up` contract.
type Endpoints struct {
	TenantID                string `json:"tenantId"`
	SubscriptionID          string `json:"subscriptionId"`
	Location                string `json:"location"`
	AuthorityHost           string `json:"authorityHost"`
	ResourceManager         string `json:"resourceManager"`
	ResourceManagerAudience string `json:"resourceManagerAudience"`
	CACertFile              string `json:"caCertFile"`
	AdminClientID           string `json:"adminClientId"`
	AdminClientSecret       string `json:"adminClientSecret"`
	Portal                  string `json:"portal"`
}

// WriteEndpoints writes e to dir/endpoints.json atomically with mode 0600.
func WriteEndpoints(dir string, e Endpoints) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(filepath.Join(dir, endpointsFile), append(b, '\n'), 0o600)
}

// ReadEndpoints reads dir/endpoints.json.
func ReadEndpoints(dir string) (Endpoints, error) {
	var e Endpoints
	b, err := os.ReadFile(filepath.Join(dir, endpointsFile))
	if err != nil {
		return e, fmt.Errorf("read endpoints (is `cobalt up --data %s` running?): %w", dir, err)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("%s: %w", endpointsFile, err)
	}
	return e, nil
}
