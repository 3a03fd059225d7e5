package batchapi

// hListApplications lists the account's applications: application packages
// are not supported, so the list is always empty.
func hListApplications(rc *reqCtx, _ pathParams) {
	rc.writeList("applications", nil, nil)
}

// hPrepReleaseStatus lists job preparation and release task status: job
// preparation and release tasks are not run, so the list is always empty.
func hPrepReleaseStatus(rc *reqCtx, p pathParams) {
	if !rc.requireJobs() {
		return
	}
	if _, err := rc.s.cfg.Jobs.GetJob(rc.r.Context(), rc.account.ID, p.job); err != nil {
		rc.writeError(err)
		return
	}
	rc.writeList("jobpreparationandreleasetaskstatus", nil, nil)
}
