package sqlstore

import "database/sql"

// collectPage reads every row with scan and closes rows. It asks its queries
// for limit+1 rows: when one more than limit arrives, the page is cut to
// limit and the next page's token is made by token from the page's last
// record, otherwise the token is "" (the last page).
func collectPage[T any](rows *sql.Rows, limit int, scan func(interface{ Scan(...any) error }) (T, error), token func(last T) string) ([]T, string, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	if len(out) <= limit {
		return out, "", nil
	}
	out = out[:limit]
	return out, token(out[limit-1]), nil
}
