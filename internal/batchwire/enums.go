package batchwire

import (
	"bytes"
	"encoding/json"
	"strings"
)

// enumPairs lists, per JSON property name, the ARM and data-plane spellings
// of enumeration values. Lookups fold case, so any casing a client sends is
// understood; unknown values pass through unchanged.
var enumPairs = map[string][][2]string{
	"allocationState":            {{"Steady", "steady"}, {"Resizing", "resizing"}, {"Stopping", "stopping"}},
	"nodeDeallocationOption":     {{"Requeue", "requeue"}, {"Terminate", "terminate"}, {"TaskCompletion", "taskcompletion"}, {"RetainedData", "retaineddata"}},
	"nodeFillType":               {{"Spread", "spread"}, {"Pack", "pack"}},
	"jobDefaultOrder":            {{"None", "none"}, {"CreationTime", "creationtime"}},
	"elevationLevel":             {{"NonAdmin", "nonadmin"}, {"Admin", "admin"}},
	"scope":                      {{"Task", "task"}, {"Pool", "pool"}},
	"loginMode":                  {{"Batch", "batch"}, {"Interactive", "interactive"}},
	"caching":                    {{"None", "none"}, {"ReadOnly", "readonly"}, {"ReadWrite", "readwrite"}},
	"storageAccountType":         {{"Standard_LRS", "standard_lrs"}, {"Premium_LRS", "premium_lrs"}, {"StandardSSD_LRS", "standardssd_lrs"}},
	"protocol":                   {{"TCP", "tcp"}, {"UDP", "udp"}},
	"access":                     {{"Allow", "allow"}, {"Deny", "deny"}},
	"provision":                  {{"BatchManaged", "batchmanaged"}, {"UserManaged", "usermanaged"}, {"NoPublicIPAddresses", "nopublicipaddresses"}},
	"dynamicVnetAssignmentScope": {{"none", "none"}, {"job", "job"}},
	"containerType":              {{"DockerCompatible", "dockerCompatible"}, {"CriCompatible", "criCompatible"}},
	"workingDirectory":           {{"TaskWorkingDirectory", "taskWorkingDirectory"}, {"ContainerImageDefault", "containerImageDefault"}},
	"policy":                     {{"Regional", "regional"}, {"Zonal", "zonal"}},
	"targets":                    {{"OsDisk", "osdisk"}, {"TemporaryDisk", "temporarydisk"}},
	"nodeCommunicationMode":      {{"Default", "default"}, {"Classic", "classic"}, {"Simplified", "simplified"}},
	"interNodeCommunication":     {{"Enabled", "enabled"}, {"Disabled", "disabled"}},
}

// keyRenames maps ARM property names to data-plane names inside pass-through objects.
var keyRenames = map[string]string{
	"inboundNatPools": "inboundNATPools",
	"userName":        "username",
}

// ARMEnum returns the ARM spelling of an enumeration value of the JSON
// property key ("allocationState", "nodeFillType", ...), whatever its case;
// values it does not know pass through unchanged ("" stays "").
func ARMEnum(key, v string) string {
	for _, p := range enumPairs[key] {
		if strings.EqualFold(p[0], v) || strings.EqualFold(p[1], v) {
			return p[0]
		}
	}
	return v
}

// DPEnum returns the data plane's (canonical) spelling of an enumeration
// value of the JSON property key, whatever its case; unknown values pass
// through.
func DPEnum(key, v string) string {
	for _, p := range enumPairs[key] {
		if strings.EqualFold(p[0], v) || strings.EqualFold(p[1], v) {
			return p[1]
		}
	}
	return v
}

// KnownEnum reports whether v is a value of property key in either spelling.
func KnownEnum(key, v string) bool {
	for _, p := range enumPairs[key] {
		if strings.EqualFold(p[0], v) || strings.EqualFold(p[1], v) {
			return true
		}
	}
	return false
}

// ConvertRaw rewrites a pass-through JSON object (userAccounts,
// mountConfiguration, ...) between the ARM shape (toArm) and the data-plane
// shape: enumeration values and the few renamed property names.
// Secrets named "password", "accountKey" and "sasKey" are dropped when
// stripSecrets is set (responses never echo them).
func ConvertRaw(raw json.RawMessage, toArm, stripSecrets bool) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return raw
	}
	v = convertValue("", v, toArm, stripSecrets)
	b, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return b
}

func convertValue(key string, v any, toArm, strip bool) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if strip && (k == "password" || k == "accountKey" || k == "sasKey") {
				continue
			}
			nk := k
			if toArm {
				for a, d := range keyRenames {
					if k == d {
						nk = a
					}
				}
			} else if r, ok := keyRenames[k]; ok {
				nk = r
			}
			out[nk] = convertValue(k, x, toArm, strip)
		}
		return out
	case []any:
		for i, x := range t {
			t[i] = convertValue(key, x, toArm, strip)
		}
		return t
	case string:
		if toArm {
			return ARMEnum(key, t)
		}
		return DPEnum(key, t)
	default:
		return v
	}
}
