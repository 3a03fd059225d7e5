package imds

import (
	"errors"
	"net/url"
	"strings"
)

// errDuplicateParam is returned by parseQuery when a name occurs twice.
var errDuplicateParam = errors.New("duplicate query parameter")

// param is one name=value pair of a query.
type param struct{ name, value string }

// query is a parsed query string: single values, in order, without repeated
// names. A slice rather than a map, so that parsing the handful of
// parameters of an IMDS request allocates nothing but unescaped values.
type query []param

// get returns the value of name, "" if absent.
func (q query) get(name string) string {
	v, _ := q.lookup(name)
	return v
}

// lookup returns the value of name and whether it is present.
func (q query) lookup(name string) (string, bool) {
	for _, p := range q {
		if p.name == name {
			return p.value, true
		}
	}
	return "", false
}

// smallQuery is how many parameters parseQuery checks for repeats by
// scanning; past it, a map keeps the check linear.
const smallQuery = 16

// parseQuery parses a raw query string into single values, appended to buf
// (the caller's array, so that it can stay on the stack), refusing duplicate
// names (IMDS: "Requests with duplicate query parameter names will be
// rejected") and malformed escapes. Names are case-sensitive, as on Azure.
func parseQuery(raw string, buf []param) (query, error) {
	q := query(buf[:0])
	var seen map[string]struct{}
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		if seen != nil {
			if _, dup := seen[name]; dup {
				return nil, errDuplicateParam
			}
			seen[name] = struct{}{}
		} else {
			if _, dup := q.lookup(name); dup {
				return nil, errDuplicateParam
			}
			if len(q) == smallQuery {
				seen = make(map[string]struct{}, 2*smallQuery)
				for _, p := range q {
					seen[p.name] = struct{}{}
				}
				seen[name] = struct{}{}
			}
		}
		q = append(q, param{name, value})
	}
	return q, nil
}

// APIVersions are the IMDS api-versions Azure documents, oldest first.
var APIVersions = []string{
	"2017-03-01", "2017-04-02", "2017-08-01", "2017-10-01", "2017-12-01",
	"2018-02-01", "2018-04-02", "2018-10-01", "2019-02-01", "2019-03-11",
	"2019-04-30", "2019-06-01", "2019-06-04", "2019-08-01", "2019-08-15",
	"2019-11-01", "2020-06-01", "2020-07-15", "2020-09-01", "2020-10-01",
	"2020-12-01", "2021-01-01", "2021-02-01", "2021-03-01", "2021-05-01",
	"2021-08-01", "2021-10-01", "2021-11-01", "2021-11-15", "2021-12-13",
	"2023-07-01", "2023-11-15", "2024-03-15", "2024-07-17", "2025-04-07",
}

// newestVersions are the three newest versions, newest first, as Azure lists
// them in its api-version error.
var newestVersions = []string{"2025-04-07", "2024-07-17", "2024-03-15"}

// identityMinVersion is the first api-version of the identity category.
const identityMinVersion = "2018-02-01"

// validVersion reports whether v is a documented api-version; for the identity
// category it must also be 2018-02-01 or later.
func validVersion(v string, identity bool) bool {
	for _, s := range APIVersions {
		if s == v {
			return !identity || v >= identityMinVersion
		}
	}
	return false
}
