package batchapi

// handleListApplications lists the account's applications: application packages
// are not supported, so the list is always empty.
func handleListApplications(rc *reqCtx, _ pathParams) error {
	return rc.list("applications", nil, nil)
}

// handlePrepReleaseStatus lists job preparation and release task status: job
// preparation and release tasks are not run, so the list is always empty.
func handlePrepReleaseStatus(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	if _, err := js.GetJob(rc.r.Context(), rc.account.ID, p.job); err != nil {
		return err
	}
	return rc.list("jobpreparationandreleasetaskstatus", nil, nil)
}
