package batchwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
)

// InvalidValue returns a 400 InvalidPropertyValue error naming target.
func InvalidValue(target, format string, args ...any) *cobalt.Error {
	return cobalt.Errorf(cobalt.EInvalid, format, args...).WithReason(errwire.ReasonInvalidPropertyValue).WithTarget(target)
}

// Missing returns a 400 MissingRequiredProperty error naming target.
func Missing(target string) *cobalt.Error {
	return cobalt.Errorf(cobalt.EInvalid, "The property '%s' is required but was not specified.", target).
		WithReason(errwire.ReasonMissingRequiredProperty).WithTarget(target)
}

// BadBody returns a 400 InvalidRequestBody error naming target.
func BadBody(target, format string, args ...any) *cobalt.Error {
	return cobalt.Errorf(cobalt.EInvalid, format, args...).WithReason(errwire.ReasonInvalidRequestBody).WithTarget(target)
}

// Object is a JSON object being decoded property by property, remembering
// which properties were read so that the others can be kept or refused.
// Property names match exactly, else ignoring case, as Azure reads them.
type Object struct {
	m    map[string]json.RawMessage
	path string
	seen map[string]bool
}

// Join returns the dotted path of property k under path.
func Join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// ParseObject parses raw as a JSON object; path names it in errors.
func ParseObject(raw json.RawMessage, path string) (*Object, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		if path == "" {
			return nil, BadBody("", "The request body must be a JSON object.")
		}
		return nil, BadBody(path, "The property '%s' must be a JSON object.", path)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, JSONError(path, err)
	}
	return &Object{m: m, path: path, seen: map[string]bool{}}, nil
}

// DecodeBody parses a whole request body as a JSON object, refusing
// trailing data.
func DecodeBody(body []byte) (*Object, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	var raw json.RawMessage
	if err := d.Decode(&raw); err != nil {
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, BadBody("", "The request body is empty.")
		}
		return nil, JSONError("", err)
	}
	if d.More() {
		return nil, BadBody("", "The request body has data after the JSON object.")
	}
	return ParseObject(raw, "")
}

// Path returns the object's dotted path ("" for the body).
func (o *Object) Path() string { return o.path }

// Key finds property k exactly, else ignoring case, and returns the name
// the body spells it with.
func (o *Object) Key(k string) (string, bool) {
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

// Has reports whether property k is present and not null.
func (o *Object) Has(k string) bool {
	mk, ok := o.Key(k)
	return ok && string(bytes.TrimSpace(o.m[mk])) != "null"
}

// Raw returns property k's JSON (nil if absent or null) and marks it read.
func (o *Object) Raw(k string) json.RawMessage {
	mk, ok := o.Key(k)
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

// Get decodes property k into v; it reports whether k was present (not null).
func (o *Object) Get(k string, v any) (bool, error) {
	r := o.Raw(k)
	if r == nil {
		return false, nil
	}
	if err := json.Unmarshal(r, v); err != nil {
		return true, JSONError(Join(o.path, k), err)
	}
	return true, nil
}

// RawArray returns property k's JSON array: present tells whether the body
// has k at all (a null gives a nil array); anything but an array is a 400.
func (o *Object) RawArray(k string) (arr json.RawMessage, present bool, err error) {
	mk, ok := o.Key(k)
	if !ok {
		return nil, false, nil
	}
	r := o.Raw(k)
	if r == nil {
		return nil, true, nil
	}
	if r[0] != '[' {
		return nil, true, BadBody(Join(o.path, mk), "The property '%s' must be a JSON array.", Join(o.path, mk))
	}
	return r, true, nil
}

// Rest returns the properties that were not read (nil if none).
func (o *Object) Rest() map[string]json.RawMessage {
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

// JSONError turns a decoding error into a 400 naming the property at path.
func JSONError(path string, err error) *cobalt.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		t := path
		if te.Field != "" {
			t = Join(path, te.Field)
		}
		return BadBody(t, "The value of the property '%s' has the wrong type: a JSON %s cannot be read as %s.", t, te.Value, typeName(te.Type.String()))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return BadBody(path, "The request body is not valid JSON: %s at offset %d.", se.Error(), se.Offset)
	}
	return BadBody(path, "The request body is not valid JSON: %s.", err.Error())
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

// ArrayInto stores property k's JSON array in dst (nil for null) and
// reports whether the body has k; anything but an array is a 400.
func (o *Object) ArrayInto(k string, dst *[]byte) (bool, error) {
	r, present, err := o.RawArray(k)
	if err != nil || !present {
		return present, err
	}
	*dst = r
	return true, nil
}

// Duration stores property k, an ISO 8601 duration ("PT15M"), in dst and
// reports whether k was present (not null). A value that is not such a
// duration is a 400 InvalidPropertyValue naming the property.
func (o *Object) Duration(k string, dst *time.Duration) (bool, error) {
	var s string
	if ok, err := o.Get(k, &s); err != nil || !ok {
		return ok, err
	}
	d, err := cobalt.ParseDuration(s)
	if err != nil {
		return true, InvalidValue(Join(o.path, k), "The value '%s' of %s is not a valid ISO 8601 duration.", s, k)
	}
	*dst = time.Duration(d)
	return true, nil
}

// AutoScale reads an autoscale formula, which must be present and not
// empty, from property formulaKey and its evaluation interval from
// intervalKey; the interval keeps its value when the body has none.
func (o *Object) AutoScale(formulaKey, intervalKey string, formula *string, interval *time.Duration) error {
	if ok, err := o.Get(formulaKey, formula); err != nil {
		return err
	} else if !ok || *formula == "" {
		return Missing(Join(o.path, formulaKey))
	}
	_, err := o.Duration(intervalKey, interval)
	return err
}
