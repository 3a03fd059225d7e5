package batch

import (
	"github.com/cobaltbatch/cobalt"
	"sort"
	"strings"
)

// Image is a node image Cobalt supports, with the node agent SKU it needs.
type Image struct {
	Publisher, Offer, Sku string
	NodeAgentSkuID        string
	// OSType is "linux".
	OSType string
}

// VMSize is a VM size with its capacity.
type VMSize struct {
	// Name is the canonical spelling, for example "STANDARD_D2S_V3".
	Name     string
	Cores    int
	MemoryMB int
}

// Images is the catalog of supported node images. Every image runs as a
// local node; the catalog exists so that pool definitions written for Azure
// validate as they do there.
var Images = []Image{
	{"canonical", "0001-com-ubuntu-server-jammy", "22_04-lts", "batch.node.ubuntu 22.04", "linux"},
	{"canonical", "ubuntu-24_04-lts", "server", "batch.node.ubuntu 24.04", "linux"},
	{"canonical", "0001-com-ubuntu-server-focal", "20_04-lts", "batch.node.ubuntu 20.04", "linux"},
	{"microsoft-azure-batch", "ubuntu-server-container", "20-04-lts", "batch.node.ubuntu 20.04", "linux"},
	{"microsoft-dsvm", "ubuntu-hpc", "2204", "batch.node.ubuntu 22.04", "linux"},
	{"debian", "debian-12", "12", "batch.node.debian 12", "linux"},
	{"almalinux", "almalinux-x86_64", "9-gen2", "batch.node.el 9", "linux"},
}

// VMSizes is the catalog of supported VM sizes (names compare case-insensitively).
var VMSizes = []VMSize{
	{"STANDARD_A1_V2", 1, 2048},
	{"STANDARD_A2_V2", 2, 4096},
	{"STANDARD_A4_V2", 4, 8192},
	{"STANDARD_D1_V2", 1, 3584},
	{"STANDARD_D2_V2", 2, 7168},
	{"STANDARD_D4", 8, 28672},
	{"STANDARD_D2_V3", 2, 8192},
	{"STANDARD_D4_V3", 4, 16384},
	{"STANDARD_D2S_V3", 2, 8192},
	{"STANDARD_D4S_V3", 4, 16384},
	{"STANDARD_D8S_V3", 8, 32768},
	{"STANDARD_D16S_V3", 16, 65536},
	{"STANDARD_D2S_V5", 2, 8192},
	{"STANDARD_D4S_V5", 4, 16384},
	{"STANDARD_D8S_V5", 8, 32768},
	{"STANDARD_D2ADS_V5", 2, 8192},
	{"STANDARD_E2S_V3", 2, 16384},
	{"STANDARD_E4S_V3", 4, 32768},
	{"STANDARD_F2S_V2", 2, 4096},
	{"STANDARD_F4S_V2", 4, 8192},
	{"STANDARD_F8S_V2", 8, 16384},
}

// LookupVMSize finds a VM size by name, ignoring case.
func LookupVMSize(name string) (VMSize, bool) {
	for _, s := range VMSizes {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return VMSize{}, false
}

// LookupImage finds a supported image by publisher, offer and SKU, ignoring case.
func LookupImage(ref cobalt.ImageReference) (Image, bool) {
	for _, im := range Images {
		if strings.EqualFold(im.Publisher, ref.Publisher) && strings.EqualFold(im.Offer, ref.Offer) && strings.EqualFold(im.Sku, ref.Sku) {
			return im, true
		}
	}
	return Image{}, false
}

// NodeAgentSkus returns the distinct node agent SKU IDs of the catalog, sorted.
func NodeAgentSkus() []string {
	seen := map[string]bool{}
	var out []string
	for _, im := range Images {
		if !seen[im.NodeAgentSkuID] {
			seen[im.NodeAgentSkuID] = true
			out = append(out, im.NodeAgentSkuID)
		}
	}
	sort.Strings(out)
	return out
}

// SupportedImagesJSON returns the data plane's list-supported-images entries.
func SupportedImagesJSON() []map[string]any {
	out := make([]map[string]any, 0, len(Images))
	for _, im := range Images {
		out = append(out, map[string]any{
			"nodeAgentSKUId":   im.NodeAgentSkuID,
			"imageReference":   map[string]any{"publisher": im.Publisher, "offer": im.Offer, "sku": im.Sku, "version": "latest"},
			"osType":           im.OSType,
			"verificationType": "verified",
			"capabilities":     []string{},
		})
	}
	return out
}
