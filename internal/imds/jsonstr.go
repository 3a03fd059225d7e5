package imds

import "encoding/json"

// appendStringSlow appends s as a JSON string through encoding/json, for
// strings with non-ASCII bytes (invalid UTF-8 is replaced, as json does).
func appendStringSlow(b []byte, s string) []byte {
	enc, err := json.Marshal(s)
	if err != nil {
		return append(b, `""`...)
	}
	return append(b, enc...)
}
