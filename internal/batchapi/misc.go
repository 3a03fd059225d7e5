package batchapi

// handleListApplications lists the account's applications: application packages
// are not supported, so the list is always empty.
func handleListApplications(rc *reqCtx, _ pathParams) error {
	return rc.list("applications", nil, nil)
}
