package imds

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Instance describes the node for /metadata/instance. Empty fields are
// served as empty strings, as Azure serves missing values.
type Instance struct {
	Name              string
	VMID              string
	Location          string
	VMSize            string
	OSType            string
	ResourceID        string
	SubscriptionID    string
	ResourceGroupName string
	Tags              map[string]string
	Offer             string
	Publisher         string
	SKU               string
	Version           string
	Zone              string
	AzEnvironment     string
	Priority          string
	// PrivateIP and MAC describe the node's one network interface.
	PrivateIP string
	MAC       string
}

// tree renders the instance document. Every primitive is a string.
func (in Instance) tree() map[string]any {
	keys := make([]string, 0, len(in.Tags))
	for k := range in.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var tags []string
	tagsList := make([]any, 0, len(keys))
	for _, k := range keys {
		tags = append(tags, k+":"+in.Tags[k])
		tagsList = append(tagsList, map[string]any{"name": k, "value": in.Tags[k]})
	}
	compute := map[string]any{
		"azEnvironment":              in.AzEnvironment,
		"additionalCapabilities":     map[string]any{"hibernationEnabled": "false"},
		"evictionPolicy":             "",
		"extendedLocation":           map[string]any{"type": "", "name": ""},
		"host":                       map[string]any{"id": ""},
		"hostGroup":                  map[string]any{"id": ""},
		"isHostCompatibilityLayerVm": "false",
		"licenseType":                "",
		"location":                   in.Location,
		"name":                       in.Name,
		"offer":                      in.Offer,
		"osProfile":                  map[string]any{"adminUsername": "", "computerName": in.Name, "disablePasswordAuthentication": "true"},
		"osType":                     in.OSType,
		"placementGroupId":           "",
		"plan":                       map[string]any{"name": "", "product": "", "publisher": ""},
		"platformFaultDomain":        "0",
		"platformUpdateDomain":       "0",
		"priority":                   in.Priority,
		"provider":                   "Microsoft.Compute",
		"publicKeys":                 []any{},
		"publisher":                  in.Publisher,
		"resourceGroupName":          in.ResourceGroupName,
		"resourceId":                 in.ResourceID,
		"securityProfile":            map[string]any{"secureBootEnabled": "false", "virtualTpmEnabled": "false", "encryptionAtHost": "false", "securityType": ""},
		"sku":                        in.SKU,
		"subscriptionId":             in.SubscriptionID,
		"tags":                       strings.Join(tags, ";"),
		"tagsList":                   tagsList,
		"userData":                   "",
		"version":                    in.Version,
		"virtualMachineScaleSet":     map[string]any{"id": ""},
		"vmId":                       in.VMID,
		"vmScaleSetName":             "",
		"vmSize":                     in.VMSize,
		"zone":                       in.Zone,
	}
	iface := map[string]any{
		"ipv4": map[string]any{
			"ipAddress": []any{map[string]any{"privateIpAddress": in.PrivateIP, "publicIpAddress": ""}},
			"subnet":    []any{map[string]any{"address": "", "prefix": ""}},
		},
		"ipv6":       map[string]any{"ipAddress": []any{}},
		"macAddress": in.MAC,
	}
	return map[string]any{
		"compute": compute,
		"network": map[string]any{"interface": []any{iface}},
	}
}

// handleInstance serves /metadata/instance and its route-filtered sub-paths.
func (h *Handler) handleInstance(w http.ResponseWriter, route string, q query) {
	format := q.get("format")
	if format != "" && format != "json" && format != "text" {
		writeJSON(w, http.StatusBadRequest, plainError{Error: "Bad request. Invalid format"})
		return
	}
	var node any = h.cfg.Instance.tree()
	for _, seg := range strings.Split(strings.Trim(route, "/"), "/") {
		if seg == "" {
			continue
		}
		switch n := node.(type) {
		case map[string]any:
			v, ok := n[seg]
			if !ok {
				writeJSON(w, http.StatusNotFound, plainError{Error: msgNotFound})
				return
			}
			node = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(n) || seg != strconv.Itoa(i) {
				writeJSON(w, http.StatusNotFound, plainError{Error: msgNotFound})
				return
			}
			node = n[i]
		default:
			writeJSON(w, http.StatusNotFound, plainError{Error: msgNotFound})
			return
		}
	}
	leaf, isLeaf := node.(string)
	if format != "text" {
		if isLeaf {
			writeJSON(w, http.StatusBadRequest, plainError{Error: "Bad request. Leaf nodes can only be queried with format=text"})
			return
		}
		writeJSON(w, http.StatusOK, node)
		return
	}
	var text string
	switch n := node.(type) {
	case map[string]any:
		keys := make([]string, 0, len(n))
		for k, v := range n {
			if _, s := v.(string); !s {
				k += "/"
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		text = strings.Join(keys, "\n")
	case []any:
		lines := make([]string, len(n))
		for i := range n {
			lines[i] = strconv.Itoa(i) + "/"
		}
		text = strings.Join(lines, "\n")
	default:
		text = leaf
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Server", serverHeader)
	hd.Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(text))
}
