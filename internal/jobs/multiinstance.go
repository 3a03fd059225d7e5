package jobs

import (
	"fmt"
	"strings"

	"github.com/cobaltbatch/cobalt"
)

// validateMultiInstance checks a task's multiInstanceSettings as Batch does
// on add: the coordination command line is required, numberOfInstances is
// at least 1, a multi-instance task needs exactly one slot, and its common
// resource files are checked as the task's own. Whether the pool can run it
// (inter-node communication, one slot per node, enough nodes) is not an add
// error on Batch: such a task stays active (see claimGang).
func validateMultiInstance(spec *cobalt.TaskSpec) error {
	m := spec.MultiInstanceSettings
	if m == nil {
		return nil
	}
	if strings.TrimSpace(m.CoordinationCommandLine) == "" {
		return missingProp("multiInstanceSettings.coordinationCommandLine")
	}
	if m.NumberOfInstances != nil && *m.NumberOfInstances < 1 {
		return invalidProp("multiInstanceSettings.numberOfInstances", "numberOfInstances must be at least 1.")
	}
	if m.NumberOfInstances != nil && *m.NumberOfInstances > maxInstances {
		return invalidProp("multiInstanceSettings.numberOfInstances", "numberOfInstances must be at most %d.", maxInstances)
	}
	if spec.RequiredSlots != nil && *spec.RequiredSlots != 1 {
		return invalidProp("requiredSlots", "For multi-instance tasks, requiredSlots must be 1.")
	}
	for i, rf := range m.CommonResourceFiles {
		if err := validateResourceFile(rf, fmt.Sprintf("multiInstanceSettings.commonResourceFiles[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

// maxInstances bounds numberOfInstances: a gang is placed in one claim over
// the nodes waiting in one replica.
const maxInstances = 100
