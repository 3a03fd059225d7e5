package jobs

import (
	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// outputFiles is what a node needs of a task's output files. The upload
// condition defaults to taskcompletion, as on Batch.
func outputFiles(ofs []cobalt.OutputFile) []nodeproto.OutputFile {
	var out []nodeproto.OutputFile
	for _, of := range ofs {
		n := nodeproto.OutputFile{FilePattern: of.FilePattern, ContainerURL: of.ContainerURL, Path: of.Path,
			UploadCondition: string(of.UploadCondition)}
		if n.UploadCondition == "" {
			n.UploadCondition = string(cobalt.UploadOnTaskCompletion)
		}
		if of.IdentityReference != nil {
			n.IdentityResourceID = of.IdentityReference.ResourceID
		}
		for _, h := range of.UploadHeaders {
			n.UploadHeaders = append(n.UploadHeaders, nodeproto.EnvironmentSetting{Name: h.Name, Value: h.Value})
		}
		out = append(out, n)
	}
	return out
}
