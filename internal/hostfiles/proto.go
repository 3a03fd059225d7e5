package hostfiles

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cobaltbatch/cobalt/internal/nodefiles"
)

// Prefix is the path prefix of every operation.
const Prefix = "/files/v1/"

// Operations.
const (
	opList   = "list"
	opStat   = "stat"
	opRead   = "read"
	opDelete = "delete"
)

// Error codes of the API.
const (
	codeInvalidRequest = "InvalidRequest"
	codeInvalidPath    = "InvalidPath"
	codeNotServed      = "NotServed"
	codeNodeNotFound   = "NodeNotFound"
	codeFileNotFound   = "FileNotFound"
	codeIsDirectory    = "IsDirectory"
)

// maxParam bounds each query parameter (a path in a node, or a node ID).
const maxParam = 4096

// request is a parsed file API request.
type request struct {
	op, node, dir, name string
	recursive           bool
	offset, length      int64
}

var errBadRequest = errors.New("bad request")

// parseRequest parses and validates a request: a known operation with its
// method, a node ID that is one path element, dir and name clean relative
// paths (name not empty but for list), and for read a range within int64.
func parseRequest(r *http.Request) (request, error) {
	op, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		return request{}, errBadRequest
	}
	want := http.MethodGet
	switch op {
	case opList, opStat, opRead:
	case opDelete:
		want = http.MethodDelete
	default:
		return request{}, errBadRequest
	}
	if r.Method != want {
		return request{}, errBadRequest
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return request{}, errBadRequest
	}
	for _, vs := range q {
		if len(vs) != 1 || len(vs[0]) > maxParam {
			return request{}, errBadRequest
		}
	}
	req := request{op: op, node: q.Get("node")}
	if !nodefiles.ValidNodeID(req.node) {
		return request{}, errBadRequest
	}
	if req.dir, err = nodefiles.Clean(q.Get("dir")); err != nil {
		return request{}, nodefiles.ErrInvalidPath
	}
	if req.name, err = nodefiles.Clean(q.Get("name")); err != nil || (req.name == "" && op != opList) {
		return request{}, nodefiles.ErrInvalidPath
	}
	if v := q.Get("recursive"); v != "" {
		if req.recursive, err = strconv.ParseBool(v); err != nil {
			return request{}, errBadRequest
		}
	}
	if op == opRead {
		req.offset, err = strconv.ParseInt(q.Get("offset"), 10, 64)
		if err != nil || req.offset < 0 {
			return request{}, errBadRequest
		}
		req.length, err = strconv.ParseInt(q.Get("length"), 10, 64)
		if err != nil || req.length < 0 || req.length > 1<<62-req.offset {
			return request{}, errBadRequest
		}
	}
	return req, nil
}

// query encodes a request's parameters.
func (req request) query() string {
	q := url.Values{"node": {req.node}}
	if req.dir != "" {
		q.Set("dir", req.dir)
	}
	if req.name != "" {
		q.Set("name", req.name)
	}
	if req.recursive {
		q.Set("recursive", "true")
	}
	if req.op == opRead {
		q.Set("offset", strconv.FormatInt(req.offset, 10))
		q.Set("length", strconv.FormatInt(req.length, 10))
	}
	return q.Encode()
}
