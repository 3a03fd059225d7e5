package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// column is one column of table and tsv output: a header and a dotted path
// into the JSON result (e.g. "properties.provisioningState"), or a function.
type column struct {
	header string
	path   string
	get    func(obj map[string]any) string
}

// col is shorthand for a path column.
func col(header, path string) column { return column{header: header, path: path} }

// printResult writes v (a json.RawMessage, a []json.RawMessage or any value
// that marshals to JSON) to g.Stdout in the chosen output format. Lists print
// one row per element in table and tsv form.
func printResult(g *globals, v any, cols []column) error {
	b, err := resultJSON(v)
	if err != nil {
		return err
	}
	switch f := g.OutputFormat(); f {
	case "json":
		var buf bytes.Buffer
		if err := json.Indent(&buf, b, "", "  "); err != nil {
			return err
		}
		buf.WriteByte('\n')
		_, err := g.Stdout.Write(buf.Bytes())
		return err
	case "table", "tsv":
		return writeRows(g.Stdout, b, cols, f == "table")
	case "none":
		return nil
	default:
		return &apiError{Code: "InvalidArgumentValue", Message: fmt.Sprintf("--output %q: want json, table, tsv or none", f)}
	}
}

// printQueried prints the part of v that query selects (see selectQuery);
// an empty query prints v with its columns.
func printQueried(g *globals, v any, cols []column, query string) error {
	if query == "" {
		return printResult(g, v, cols)
	}
	b, err := resultJSON(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	sel, err := selectQuery(doc, query)
	if err != nil {
		return err
	}
	if f := g.OutputFormat(); f == "tsv" || f == "table" {
		// Scalars, and lists of scalars, print one value a line, as az does.
		if list, ok := sel.([]any); ok && !hasObjects(list) {
			for _, x := range list {
				fmt.Fprintln(g.Stdout, cell(x))
			}
			return nil
		}
		if _, ok := sel.(map[string]any); !ok {
			if _, isList := sel.([]any); !isList {
				_, err := fmt.Fprintln(g.Stdout, cell(sel))
				return err
			}
		}
	}
	return printResult(g, sel, nil)
}

func hasObjects(list []any) bool {
	for _, x := range list {
		if _, ok := x.(map[string]any); ok {
			return true
		}
	}
	return false
}

// selectQuery evaluates a small subset of az's JMESPath --query: a dotted
// path of names and [N] indexes, where "[]" maps the rest of the path over a
// list ("[].name", "properties.clientId", "[0].id", "value[].id").
func selectQuery(v any, query string) (any, error) {
	q := strings.TrimPrefix(query, ".")
	if q == "" {
		return v, nil
	}
	if strings.HasPrefix(q, "[]") {
		list, ok := v.([]any)
		if !ok {
			return nil, nil
		}
		out := make([]any, 0, len(list))
		for _, x := range list {
			y, err := selectQuery(x, q[2:])
			if err != nil {
				return nil, err
			}
			if y != nil {
				out = append(out, y)
			}
		}
		return out, nil
	}
	if strings.HasPrefix(q, "[") {
		end := strings.IndexByte(q, ']')
		i, err := strconv.Atoi(q[1:max(end, 1)])
		if end < 0 || err != nil {
			return nil, invalidArg("--query", query, "want names, [N] and [] joined by dots")
		}
		list, _ := v.([]any)
		if i < 0 {
			i += len(list)
		}
		if i < 0 || i >= len(list) {
			return nil, nil
		}
		return selectQuery(list[i], q[end+1:])
	}
	end := strings.IndexAny(q, ".[")
	if end < 0 {
		end = len(q)
	}
	obj, _ := v.(map[string]any)
	if obj == nil {
		return nil, nil
	}
	return selectQuery(obj[q[:end]], q[end:])
}

// resultJSON encodes v as JSON, keeping raw service bodies as they were sent.
func resultJSON(v any) ([]byte, error) {
	switch v := v.(type) {
	case json.RawMessage:
		if len(v) == 0 {
			return []byte("{}"), nil
		}
		return v, nil
	case []json.RawMessage:
		if v == nil {
			v = []json.RawMessage{}
		}
		return json.Marshal(v)
	}
	return json.Marshal(v)
}

// writeRows prints b as aligned columns (with a header) or tab-separated values.
func writeRows(w io.Writer, b []byte, cols []column, header bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	var rows []any
	if list, ok := v.([]any); ok {
		rows = list
	} else {
		rows = []any{v}
	}
	if len(cols) == 0 {
		cols = scalarColumns(rows)
	}
	if !header {
		for _, r := range rows {
			fmt.Fprintln(w, strings.Join(rowCells(r, cols), "\t"))
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	hs := make([]string, len(cols))
	rules := make([]string, len(cols))
	for i, c := range cols {
		hs[i] = c.header
		rules[i] = strings.Repeat("-", max(len(c.header), 4))
	}
	fmt.Fprintln(tw, strings.Join(hs, "\t"))
	fmt.Fprintln(tw, strings.Join(rules, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(rowCells(r, cols), "\t"))
	}
	return tw.Flush()
}

// rowCells renders one row with tabs and newlines in cells replaced, since
// they separate cells and rows.
func rowCells(r any, cols []column) []string {
	obj, _ := r.(map[string]any)
	cells := make([]string, len(cols))
	for i, c := range cols {
		var s string
		if c.get != nil {
			s = c.get(obj)
		} else {
			s = cell(lookup(r, c.path))
		}
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(s)
	}
	return cells
}

// scalarColumns picks the scalar top-level fields of the rows, sorted, for
// results that have no declared columns.
func scalarColumns(rows []any) []column {
	seen := map[string]bool{}
	for _, r := range rows {
		obj, ok := r.(map[string]any)
		if !ok {
			return []column{{header: "Value", get: func(map[string]any) string { return "" }}}
		}
		for k, v := range obj {
			switch v.(type) {
			case map[string]any, []any:
			default:
				seen[k] = true
			}
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	cols := make([]column, len(keys))
	for i, k := range keys {
		cols[i] = col(headerName(k), k)
	}
	return cols
}

// headerName turns a JSON name into a column header: "accountName" -> "AccountName".
func headerName(k string) string {
	if k == "" {
		return k
	}
	return strings.ToUpper(k[:1]) + k[1:]
}

// lookup follows a dotted path through decoded JSON objects; a number
// indexes an array ("value.0.id").
func lookup(v any, path string) any {
	if path == "" {
		return v
	}
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// lookupString is lookup for string fields.
func lookupString(v any, path string) string {
	s, _ := lookup(v, path).(string)
	return s
}

// cell renders a decoded JSON value as table text.
func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "True"
		}
		return "False"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return strings.Join(keys, ",")
	}
	b, _ := json.Marshal(v)
	return string(b)
}
