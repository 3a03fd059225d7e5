package batch

import (
	"fmt"
	"github.com/cobaltbatch/cobalt"
	"regexp"
	"strings"
)

var poolIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidatePoolID checks a pool ID: 1 to 64 letters, digits, hyphens and underscores.
func ValidatePoolID(id string, arm bool) error {
	if !poolIDRe.MatchString(id) {
		t := "id"
		if arm {
			t = "poolName"
		}
		return invalidValue(t, "The pool ID '%s' is not valid: it must be 1 to 64 characters of letters, digits, hyphens and underscores.", trunc(id))
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 400 {
		return s[:400] + "..."
	}
	return s
}

// paths names properties in the ARM or the data-plane rendering.
type paths bool

func (a paths) of(armPath, dpPath string) string {
	if a {
		return armPath
	}
	return dpPath
}

// Validate checks a complete pool (after a spec was applied) and returns the
// first problem as a 400 *cobalt.Error whose Target names the property in
// the rendering the client used (arm or data plane).
func Validate(p *Pool, arm bool) error {
	ps := paths(arm)
	if p.VMSize == "" {
		return missing(ps.of("properties.vmSize", "vmSize"))
	}
	size, ok := LookupVMSize(p.VMSize)
	if !ok {
		return invalidValue(ps.of("properties.vmSize", "vmSize"), "The VM size '%s' is not supported. Supported sizes: %s.", trunc(p.VMSize), vmSizeNames())
	}
	vcPath := ps.of("properties.deploymentConfiguration.virtualMachineConfiguration", "virtualMachineConfiguration")
	vc := p.VirtualMachineConfiguration
	if vc == nil {
		return missing(vcPath)
	}
	ir := vc.ImageReference
	if ir.ID != "" || ir.SharedGalleryImageID != "" || ir.CommunityGalleryImageID != "" {
		return invalidValue(vcPath+".imageReference", "Custom and gallery images are not supported; use one of the supported marketplace images (list supported images).")
	}
	img, ok := LookupImage(ir)
	if !ok {
		return invalidValue(vcPath+".imageReference", "The image '%s:%s:%s' is not supported. Supported images are listed by the list supported images operation.",
			trunc(ir.Publisher), trunc(ir.Offer), trunc(ir.Sku))
	}
	if !strings.EqualFold(vc.NodeAgentSkuID, img.NodeAgentSkuID) {
		return invalidValue(vcPath+ps.of(".nodeAgentSkuId", ".nodeAgentSKUId"), "The node agent SKU '%s' does not match the image %s:%s:%s, which needs '%s'.",
			trunc(vc.NodeAgentSkuID), img.Publisher, img.Offer, img.Sku, img.NodeAgentSkuID)
	}
	if cc := vc.ContainerConfiguration; cc != nil && !knownEnum("containerType", cc.Type) {
		return invalidValue(vcPath+".containerConfiguration.type", "The container type '%s' is not valid; use %s or %s.",
			trunc(cc.Type), ps.of("DockerCompatible", "dockerCompatible"), ps.of("CriCompatible", "criCompatible"))
	}
	if p.TargetDedicatedNodes < 0 || p.TargetLowPriorityNodes < 0 {
		return invalidValue(ps.of("properties.scaleSettings.fixedScale.targetDedicatedNodes", "targetDedicatedNodes"), "Target node counts must not be negative.")
	}
	if !p.EnableAutoScale && p.ResizeTimeout < MinResizeTimeout {
		return invalidValue(ps.of("properties.scaleSettings.fixedScale.resizeTimeout", "resizeTimeout"), "The resize timeout %s is shorter than the minimum of 5 minutes.", FormatDuration(p.ResizeTimeout))
	}
	if p.EnableAutoScale && (p.AutoScaleEvaluationInterval < MinResizeTimeout || p.AutoScaleEvaluationInterval > 168*60*60e9) {
		return invalidValue(ps.of("properties.scaleSettings.autoScale.evaluationInterval", "autoScaleEvaluationInterval"), "The autoscale evaluation interval must be between 5 minutes and 168 hours.")
	}
	maxSlots := min(4*size.Cores, 256)
	if p.TaskSlotsPerNode < 1 || p.TaskSlotsPerNode > maxSlots {
		return invalidValue(ps.of("properties.taskSlotsPerNode", "taskSlotsPerNode"), "taskSlotsPerNode %d is out of range: it must be between 1 and %d for %s.", p.TaskSlotsPerNode, maxSlots, size.Name)
	}
	if ft := p.TaskSchedulingPolicy.NodeFillType; ft != FillSpread && ft != FillPack {
		return invalidValue(ps.of("properties.taskSchedulingPolicy.nodeFillType", "taskSchedulingPolicy.nodeFillType"), "The node fill type '%s' is not valid; use %s or %s.",
			trunc(ft), ps.of("Spread", "spread"), ps.of("Pack", "pack"))
	}
	for i, m := range p.Metadata {
		if m.Name == "" {
			return missing(fmt.Sprintf("%s[%d].name", ps.of("properties.metadata", "metadata"), i))
		}
	}
	if len(p.ApplicationPackages) > 10 {
		return invalidValue(ps.of("properties.applicationPackages", "applicationPackageReferences"), "A pool can reference at most 10 application packages.")
	}
	if st := p.StartTask; st != nil {
		stPath := ps.of("properties.startTask", "startTask")
		if st.MaxTaskRetryCount < -1 {
			return invalidValue(stPath+".maxTaskRetryCount", "maxTaskRetryCount must be -1 (unlimited) or more.")
		}
		for i, rf := range st.ResourceFiles {
			if err := validateResourceFile(rf, fmt.Sprintf("%s.resourceFiles[%d]", stPath, i)); err != nil {
				return err
			}
		}
		if u := st.UserIdentity; u != nil && u.AutoUser != nil {
			if s := u.AutoUser.Scope; s != "" && !knownEnum("scope", string(s)) {
				return invalidValue(stPath+".userIdentity.autoUser.scope", "The auto user scope '%s' is not valid.", trunc(string(s)))
			}
			if e := u.AutoUser.ElevationLevel; e != "" && !knownEnum("elevationLevel", string(e)) {
				return invalidValue(stPath+".userIdentity.autoUser.elevationLevel", "The elevation level '%s' is not valid.", trunc(string(e)))
			}
		}
	}
	if err := validateContainers(p, ps); err != nil {
		return err
	}
	if err := validateMounts(p, ps); err != nil {
		return err
	}
	return validateIdentityReferences(p, ps)
}

func validateResourceFile(rf cobalt.ResourceFile, path string) error {
	n := 0
	for _, s := range []string{rf.AutoStorageContainerName, rf.StorageContainerURL, rf.HTTPURL} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return invalidValue(path, "Exactly one of autoStorageContainerName, storageContainerUrl and httpUrl must be specified.")
	}
	if rf.HTTPURL != "" && rf.FilePath == "" {
		return missing(path + ".filePath")
	}
	if rf.BlobPrefix != "" && rf.HTTPURL != "" {
		return invalidValue(path+".blobPrefix", "blobPrefix is only valid with autoStorageContainerName or storageContainerUrl.")
	}
	for _, seg := range strings.FieldsFunc(rf.FilePath, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == ".." {
			return invalidValue(path+".filePath", "The file path '%s' must not leave the working directory.", trunc(rf.FilePath))
		}
	}
	if strings.HasPrefix(rf.FilePath, "/") {
		return invalidValue(path+".filePath", "The file path '%s' must be relative.", trunc(rf.FilePath))
	}
	return nil
}

// identityUse is an identityReference found in a pool, with its property path.
type identityUse struct {
	path, resourceID string
}

// identityReferences lists every identityReference of a pool: start task
// resource files and container settings, container registries, mounts.
func identityReferences(p *Pool, ps paths) []identityUse {
	var out []identityUse
	if st := p.StartTask; st != nil {
		stPath := ps.of("properties.startTask", "startTask")
		for i, rf := range st.ResourceFiles {
			if rf.IdentityReference != nil {
				out = append(out, identityUse{fmt.Sprintf("%s.resourceFiles[%d].identityReference.resourceId", stPath, i), rf.IdentityReference.ResourceID})
			}
		}
		var cs struct {
			Registry *registryRecord `json:"registry"`
		}
		if st.ContainerSettings != nil && jsonUnmarshal(st.ContainerSettings, &cs) == nil && cs.Registry != nil && cs.Registry.IdentityReference != nil {
			out = append(out, identityUse{stPath + ".containerSettings.registry.identityReference.resourceId", cs.Registry.IdentityReference.ResourceID})
		}
	}
	if vc := p.VirtualMachineConfiguration; vc != nil && vc.ContainerConfiguration != nil {
		vcPath := ps.of("properties.deploymentConfiguration.virtualMachineConfiguration", "virtualMachineConfiguration")
		for i, r := range vc.ContainerConfiguration.ContainerRegistries {
			if r.IdentityReference != nil {
				out = append(out, identityUse{fmt.Sprintf("%s.containerConfiguration.containerRegistries[%d].identityReference.resourceId", vcPath, i), r.IdentityReference.ResourceID})
			}
		}
	}
	if p.MountConfiguration != nil {
		var mounts []map[string]struct {
			IdentityReference *identityReferenceRecord `json:"identityReference"`
		}
		if jsonUnmarshal(p.MountConfiguration, &mounts) == nil {
			for i, m := range mounts {
				for kind, c := range m {
					if c.IdentityReference != nil {
						out = append(out, identityUse{fmt.Sprintf("%s[%d].%s.identityReference.resourceId", ps.of("properties.mountConfiguration", "mountConfiguration"), i, kind), c.IdentityReference.ResourceID})
					}
				}
			}
		}
	}
	return out
}

func validateIdentityReferences(p *Pool, ps paths) error {
	have := identityKeys(&p.Pool)
	for _, r := range identityReferences(p, ps) {
		if _, ok := have[lower(r.resourceID)]; !ok {
			return invalidValue(r.path, "The identity reference '%s' does not name one of the pool's user-assigned identities.", trunc(r.resourceID))
		}
	}
	return nil
}

func vmSizeNames() string {
	var n []string
	for _, s := range VMSizes {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}
