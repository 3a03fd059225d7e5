package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
)

func invalidValue(target, format string, args ...any) *cobalt.Error {
	return cobalt.Errorf(cobalt.EInvalid, format, args...).WithReason(errwire.ReasonInvalidPropertyValue).WithTarget(target)
}

func missing(target string) *cobalt.Error {
	return cobalt.Errorf(cobalt.EInvalid, "The property '%s' is required but was not specified.", target).
		WithReason(errwire.ReasonMissingRequiredProperty).WithTarget(target)
}

func badBody(target, format string, args ...any) *cobalt.Error {
	return cobalt.Errorf(cobalt.EInvalid, format, args...).WithReason(errwire.ReasonInvalidRequestBody).WithTarget(target)
}

// obj is a JSON object being decoded property by property, remembering which
// properties were read so that the others can be kept or refused.
type obj struct {
	m    map[string]json.RawMessage
	path string
	seen map[string]bool
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// parseObj parses raw as a JSON object; path names it in errors.
func parseObj(raw json.RawMessage, path string) (*obj, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		if path == "" {
			return nil, badBody("", "The request body must be a JSON object.")
		}
		return nil, badBody(path, "The property '%s' must be a JSON object.", path)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, jsonErr(path, err)
	}
	return &obj{m: m, path: path, seen: map[string]bool{}}, nil
}

// key finds k exactly, else ignoring case.
func (o *obj) key(k string) (string, bool) {
	if _, ok := o.m[k]; ok {
		return k, true
	}
	for mk := range o.m {
		if strings.EqualFold(mk, k) {
			return mk, true
		}
	}
	return "", false
}

// has reports whether property k is present and not null.
func (o *obj) has(k string) bool {
	mk, ok := o.key(k)
	return ok && string(bytes.TrimSpace(o.m[mk])) != "null"
}

// raw returns property k's JSON (nil if absent or null) and marks it read.
func (o *obj) raw(k string) json.RawMessage {
	mk, ok := o.key(k)
	if !ok {
		return nil
	}
	o.seen[mk] = true
	v := bytes.TrimSpace(o.m[mk])
	if string(v) == "null" {
		return nil
	}
	return v
}

// get decodes property k into v; it reports whether k was present (not null).
func (o *obj) get(k string, v any) (bool, error) {
	r := o.raw(k)
	if r == nil {
		return false, nil
	}
	if err := json.Unmarshal(r, v); err != nil {
		return true, jsonErr(join(o.path, k), err)
	}
	return true, nil
}

// rest returns the properties that were not read.
func (o *obj) rest() map[string]json.RawMessage {
	var out map[string]json.RawMessage
	for k, v := range o.m {
		if !o.seen[k] {
			if out == nil {
				out = map[string]json.RawMessage{}
			}
			out[k] = v
		}
	}
	return out
}

// jsonErr turns a decoding error into a 400 naming the property.
func jsonErr(path string, err error) *cobalt.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		t := path
		if te.Field != "" {
			t = join(path, te.Field)
		}
		return badBody(t, "The value of the property '%s' has the wrong type: a JSON %s cannot be read as %s.", t, te.Value, typeName(te.Type.String()))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return badBody(path, "The request body is not valid JSON: %s at offset %d.", se.Error(), se.Offset)
	}
	return badBody(path, "The request body is not valid JSON: %s.", err.Error())
}

func typeName(goType string) string {
	switch {
	case strings.Contains(goType, "int"):
		return "an integer"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	default:
		return "an object"
	}
}

// decodeBody parses a whole request body as a JSON object, refusing trailing data.
func decodeBody(body []byte) (*obj, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	var raw json.RawMessage
	if err := d.Decode(&raw); err != nil {
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, badBody("", "The request body is empty.")
		}
		return nil, jsonErr("", err)
	}
	if d.More() {
		return nil, badBody("", "The request body has data after the JSON object.")
	}
	return parseObj(raw, "")
}

// wire types shared by both renderings (encoding/json matches names
// case-insensitively, so "nodeAgentSkuId" and "nodeAgentSKUId", "userName"
// and "username" decode alike).

type wireImageReference struct {
	Publisher               string `json:"publisher"`
	Offer                   string `json:"offer"`
	Sku                     string `json:"sku"`
	Version                 string `json:"version"`
	ID                      string `json:"id"`
	VirtualMachineImageID   string `json:"virtualMachineImageId"`
	SharedGalleryImageID    string `json:"sharedGalleryImageId"`
	CommunityGalleryImageID string `json:"communityGalleryImageId"`
}

type wireStartTask struct {
	CommandLine         *string              `json:"commandLine"`
	ResourceFiles       []resourceFileRecord `json:"resourceFiles"`
	EnvironmentSettings []nameValueRecord    `json:"environmentSettings"`
	UserIdentity        *userIdentityRecord  `json:"userIdentity"`
	MaxTaskRetryCount   *int32               `json:"maxTaskRetryCount"`
	WaitForSuccess      *bool                `json:"waitForSuccess"`
	ContainerSettings   json.RawMessage      `json:"containerSettings"`
}

// decodeVMConfig decodes a virtualMachineConfiguration object.
func decodeVMConfig(raw json.RawMessage, path string, dataPlane bool) (*cobalt.VirtualMachineConfiguration, error) {
	o, err := parseObj(raw, path)
	if err != nil {
		return nil, err
	}
	vc := &cobalt.VirtualMachineConfiguration{}
	var ir wireImageReference
	if ok, err := o.get("imageReference", &ir); err != nil {
		return nil, err
	} else if !ok {
		return nil, missing(join(path, "imageReference"))
	}
	vc.ImageReference = cobalt.ImageReference{Publisher: ir.Publisher, Offer: ir.Offer, Sku: ir.Sku, Version: ir.Version,
		ID: firstNonEmpty(ir.ID, ir.VirtualMachineImageID), SharedGalleryImageID: ir.SharedGalleryImageID, CommunityGalleryImageID: ir.CommunityGalleryImageID}
	if ok, err := o.get("nodeAgentSkuId", &vc.NodeAgentSkuID); err != nil {
		return nil, err
	} else if !ok || vc.NodeAgentSkuID == "" {
		if dataPlane {
			return nil, missing(join(path, "nodeAgentSKUId"))
		}
		return nil, missing(join(path, "nodeAgentSkuId"))
	}
	var cc containerConfigRecord
	if ok, err := o.get("containerConfiguration", &cc); err != nil {
		return nil, err
	} else if ok {
		if cc.Type == "" {
			return nil, missing(join(path, "containerConfiguration.type"))
		}
		cc.Type = toDP("containerType", cc.Type)
		vc.ContainerConfiguration = containerConfig(&cc)
	}
	if rest := o.rest(); rest != nil {
		vc.Extra = map[string][]byte{}
		for k, v := range rest {
			if dataPlane {
				v = convertRaw(v, true, false)
			}
			vc.Extra[k] = v
		}
	}
	return vc, nil
}

// decodeUserAccounts decodes the userAccounts array of a pool body (either
// plane: the property names agree and enumerations are read in any
// spelling).
func decodeUserAccounts(o *obj, s *Spec) error {
	mk, ok := o.key("userAccounts")
	if !ok {
		return nil
	}
	r := o.raw("userAccounts")
	s.set(FUserAccounts)
	if r == nil {
		s.Pool.UserAccounts = nil
		return nil
	}
	path := join(o.path, mk)
	if r[0] != '[' {
		return badBody(path, "The property '%s' must be a JSON array.", path)
	}
	var rs []userAccountRecord
	if err := json.Unmarshal(r, &rs); err != nil {
		return jsonErr(path, err)
	}
	s.Pool.UserAccounts = userAccounts(rs)
	return nil
}

// decodeStartTask decodes a startTask; an empty object means "no start task".
func decodeStartTask(raw json.RawMessage, path string) (*cobalt.StartTask, error) {
	if strings.TrimSpace(string(raw)) == "{}" {
		return nil, nil
	}
	var w wireStartTask
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, jsonErr(path, err)
	}
	if w.CommandLine == nil || *w.CommandLine == "" {
		return nil, missing(join(path, "commandLine"))
	}
	if u := w.UserIdentity; u != nil && u.AutoUser != nil {
		u.AutoUser.Scope = toDP("scope", u.AutoUser.Scope)
		u.AutoUser.ElevationLevel = toDP("elevationLevel", u.AutoUser.ElevationLevel)
	}
	st := &cobalt.StartTask{CommandLine: *w.CommandLine, ResourceFiles: resourceFiles(w.ResourceFiles), EnvironmentSettings: nameValues(w.EnvironmentSettings),
		UserIdentity: userIdentity(w.UserIdentity), WaitForSuccess: true}
	if w.MaxTaskRetryCount != nil {
		st.MaxTaskRetryCount = int(*w.MaxTaskRetryCount)
	}
	if w.WaitForSuccess != nil {
		st.WaitForSuccess = *w.WaitForSuccess
	}
	if len(w.ContainerSettings) > 0 && string(w.ContainerSettings) != "null" {
		st.ContainerSettings = convertRaw(w.ContainerSettings, true, false)
	}
	return st, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
