package batchapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// listItem is one entity of a list response: its JSON and the values its
// filterable fields have.
type listItem struct {
	body   []byte
	fields map[string]string
}

// get is the filter accessor of the item.
func (it listItem) get(field string) (string, bool) {
	v, ok := it.fields[field]
	return v, ok
}

// skipToken reads the paging token of a list request: the offset of the
// first item of the page.
func (rc *reqCtx) skipToken() (int, error) {
	v, ok := rc.param("$skiptoken")
	if !ok || v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, invalidQuery("$skiptoken", v, "The continuation token is not valid.")
	}
	return n, nil
}

// list filters items, applies $select, cuts one page of maxresults and
// writes {"odata.metadata", "value", "odata.nextLink"}. The next link is
// absolute and repeats the request's query (api-version included) with a new
// $skiptoken, because azbatch GETs it exactly as written.
func (rc *reqCtx) list(metadata string, items []listItem, filter *Filter) error {
	max, err := rc.maxResults()
	if err != nil {
		return err
	}
	skip, err := rc.skipToken()
	if err != nil {
		return err
	}
	sel := rc.selectParam()
	matched := 0
	page := make([]json.RawMessage, 0, min(max, len(items)))
	more := false
	for _, it := range items {
		if !filter.Match(it.get) {
			continue
		}
		matched++
		if matched <= skip {
			continue
		}
		if len(page) == max {
			more = true
			break
		}
		page = append(page, applySelect(it.body, sel))
	}
	out := struct {
		Metadata string            `json:"odata.metadata"`
		Value    []json.RawMessage `json:"value"`
		NextLink string            `json:"odata.nextLink,omitempty"`
	}{Metadata: rc.baseURL() + "/$metadata#" + metadata, Value: page}
	if more {
		out.NextLink = rc.nextLinkToken(strconv.Itoa(skip + len(page)))
	}
	rc.writeJSON(http.StatusOK, out)
	return nil
}

// nextLinkToken is the absolute URL of the page with the given $skiptoken.
func (rc *reqCtx) nextLinkToken(token string) string {
	q := url.Values{}
	for _, part := range strings.Split(rc.r.URL.RawQuery, "&") {
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil || dk == "" || strings.EqualFold(dk, "$skiptoken") {
			continue
		}
		q.Add(dk, dv)
	}
	q.Set("$skiptoken", token)
	return rc.baseURL() + rc.r.URL.EscapedPath() + "?" + q.Encode()
}
