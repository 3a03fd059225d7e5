package batchapi

import (
	"net/url"
	"strings"

	cobalt "github.com/cobaltbatch/cobalt"
)

// handler serves one operation. It writes the response on success and
// returns an error, written by the router in Batch's error format, when the
// operation fails before anything was written.
type handler func(rc *reqCtx, p pathParams) error

// route is a matched operation.
type route struct {
	perm    permission
	handler handler
}

// pathParams are the decoded path parameters of a request.
type pathParams struct {
	pool, node, job, task string
	// schedule is the {jobScheduleId}.
	schedule string
	// user and extension are the node's {userName} and {extensionName}.
	user, extension string
	// file is the decoded {filePath} ("" for the files collection).
	file string
	// action is the last path segment in lower case ("terminate", "reboot", ...).
	action string
}

// splitPath splits an escaped path into decoded segments. {filePath} arrives
// %2F-escaped (azbatch uses url.PathEscape), so segments are decoded one by
// one; rest returns the undecoded remainder from segment i on, for file paths
// sent with literal slashes.
func splitPath(escaped string) (segs []string, raw []string, ok bool) {
	escaped = strings.TrimPrefix(escaped, "/")
	escaped = strings.TrimSuffix(escaped, "/")
	if escaped == "" {
		return nil, nil, true
	}
	raw = strings.Split(escaped, "/")
	segs = make([]string, len(raw))
	for i, r := range raw {
		d, err := url.PathUnescape(r)
		if err != nil || d == "" {
			return nil, nil, false
		}
		segs[i] = d
	}
	return segs, raw, true
}

// route finds and runs the operation for rc.
func (s *Service) route(rc *reqCtx) {
	segs, raw, ok := splitPath(rc.r.URL.EscapedPath())
	if !ok {
		rc.writeError(badURI())
		return
	}
	m := rc.r.Method
	var p pathParams
	var rt *route
	n := len(segs)
	is := func(i int, name string) bool { return n > i && strings.EqualFold(segs[i], name) }
	switch {
	case n == 1 && is(0, "pools"):
		rt = pick(m, map[string]route{"GET": {permPoolRead, handleListPools}, "POST": {permPoolWrite, handleAddPool}})
	case n == 1 && is(0, "supportedimages"):
		rt = pick(m, map[string]route{"GET": {permPoolRead, handleListSupportedImages}})
	case n == 1 && is(0, "nodecounts"):
		rt = pick(m, map[string]route{"GET": {permPoolRead, handleListNodeCounts}})
	case n == 1 && is(0, "poolusagemetrics"):
		rt = pick(m, map[string]route{"GET": {permPoolRead, handleListUsageMetrics}})
	case n == 1 && is(0, "lifetimepoolstats") && rc.apiVersion < lifetimeStatsBefore:
		rt = pick(m, map[string]route{"GET": {permPoolRead, handleLifetimePoolStats}})
	case n == 1 && is(0, "lifetimejobstats") && rc.apiVersion < lifetimeStatsBefore:
		rt = pick(m, map[string]route{"GET": {permJobRead, handleLifetimeJobStats}})
	case n == 1 && is(0, "applications"):
		rt = pick(m, map[string]route{"GET": {permAccountRead, handleListApplications}})
	case n >= 2 && is(0, "pools"):
		p.pool = segs[1]
		rt = poolRoute(m, segs, raw, &p)
	case n == 1 && is(0, "jobs"):
		rt = pick(m, map[string]route{"GET": {permJobRead, handleListJobs}, "POST": {permJobWrite, handleAddJob}})
	case n >= 2 && is(0, "jobs"):
		p.job = segs[1]
		rt = jobRoute(m, segs, raw, &p)
	case n <= 3 && is(0, "jobschedules"):
		rt = scheduleRoute(m, segs, &p)
	}
	if n > 0 {
		p.action = strings.ToLower(segs[n-1])
	}
	if rt == nil {
		rc.writeError(badURI())
		return
	}
	if rt.handler == nil {
		rc.writeError(batchError(cobalt.EInvalid, codeMethodNotAllowed,
			"The resource doesn't support the specified HTTP verb."))
		return
	}
	if err := rc.authorize(rt.perm); err != nil {
		rc.writeError(err)
		return
	}
	// timeOut bounds the server's work; file contents stream without it.
	ctx, cancel, err := rc.withTimeout(rc.r.Context())
	if err != nil {
		rc.writeError(err)
		return
	}
	defer cancel()
	if p.file == "" {
		rc.r = rc.r.WithContext(ctx)
	}
	if err := rt.handler(rc, p); err != nil {
		rc.writeError(err)
	}
}

// pick selects the route for a method; a path that exists with another
// method returns a route without handler (405).
func pick(method string, byMethod map[string]route) *route {
	if r, ok := byMethod[method]; ok {
		return &r
	}
	return &route{}
}

func badURI() *cobalt.Error {
	return batchError(cobalt.EInvalid, codeInvalidURI,
		"The requested URI does not represent any resource on the server.")
}

func poolRoute(m string, segs, raw []string, p *pathParams) *route {
	n := len(segs)
	is := func(i int, name string) bool { return n > i && strings.EqualFold(segs[i], name) }
	switch {
	case n == 2:
		return pick(m, map[string]route{"GET": {permPoolRead, handleGetPool}, "HEAD": {permPoolRead, handlePoolExists},
			"DELETE": {permPoolDelete, handleDeletePool}, "PATCH": {permPoolWrite, handlePatchPool}})
	case n == 3:
		actions := map[string]handler{
			"updateproperties": handleUpdatePoolProperties, "resize": handleResizePool, "stopresize": handleStopResize,
			"enableautoscale": handleEnableAutoScale, "disableautoscale": handleDisableAutoScale,
			"evaluateautoscale": handleEvaluateAutoScale, "removenodes": handleRemoveNodes,
		}
		if is(2, "nodes") {
			return pick(m, map[string]route{"GET": {permPoolRead, handleListNodes}})
		}
		if h, ok := actions[strings.ToLower(segs[2])]; ok {
			return pick(m, map[string]route{"POST": {permPoolWrite, h}})
		}
	case n == 4 && is(2, "nodes"):
		p.node = segs[3]
		return pick(m, map[string]route{"GET": {permPoolRead, handleGetNode}})
	case n == 5 && is(2, "nodes"):
		p.node = segs[3]
		switch strings.ToLower(segs[4]) {
		case "reboot":
			return pick(m, map[string]route{"POST": {permPoolWrite, handleNodeAction}})
		case "reimage", "start", "deallocate":
			return pick(m, map[string]route{"POST": {permPoolWrite, handleNodeStateAction}})
		case "users":
			return pick(m, map[string]route{"POST": {permPoolWrite, handleAddNodeUser}})
		case "uploadbatchservicelogs":
			return pick(m, map[string]route{"POST": {permPoolWrite, handleUploadLogs}})
		case "remoteloginsettings":
			return pick(m, map[string]route{"GET": {permPoolRead, handleRemoteLoginSettings}})
		case "extensions":
			return pick(m, map[string]route{"GET": {permPoolRead, handleNodeExtensions}})
		case "disablescheduling", "enablescheduling":
			return pick(m, map[string]route{"POST": {permPoolWrite, handleNodeScheduling}})
		case "files":
			return pick(m, map[string]route{"GET": {permPoolRead, handleListNodeFiles}})
		}
	case n == 6 && is(2, "nodes") && is(4, "users"):
		p.node, p.user = segs[3], segs[5]
		return pick(m, map[string]route{"PUT": {permPoolWrite, handleNodeUser}, "DELETE": {permPoolWrite, handleNodeUser}})
	case n == 6 && is(2, "nodes") && is(4, "extensions"):
		p.node, p.extension = segs[3], segs[5]
		return pick(m, map[string]route{"GET": {permPoolRead, handleNodeExtensions}})
	case n >= 6 && is(2, "nodes") && is(4, "files"):
		p.node = segs[3]
		f, err := url.PathUnescape(strings.Join(raw[5:], "/"))
		if err != nil {
			return nil
		}
		p.file = f
		return pick(m, map[string]route{"GET": {permPoolRead, handleGetNodeFile}, "HEAD": {permPoolRead, handleGetNodeFile},
			"DELETE": {permPoolDelete, handleDeleteNodeFile}})
	}
	return nil
}

func jobRoute(m string, segs, raw []string, p *pathParams) *route {
	n := len(segs)
	is := func(i int, name string) bool { return n > i && strings.EqualFold(segs[i], name) }
	switch {
	case n == 2:
		return pick(m, map[string]route{"GET": {permJobRead, handleGetJob}, "PATCH": {permJobWrite, handlePatchJob},
			"PUT": {permJobWrite, handleReplaceJob}, "DELETE": {permJobDelete, handleDeleteJob}})
	case n == 3:
		switch strings.ToLower(segs[2]) {
		case "terminate", "disable", "enable":
			return pick(m, map[string]route{"POST": {permJobWrite, handleJobAction}})
		case "taskcounts":
			return pick(m, map[string]route{"GET": {permJobRead, handleTaskCounts}})
		case "jobpreparationandreleasetaskstatus":
			return pick(m, map[string]route{"GET": {permJobRead, handlePrepReleaseStatus}})
		case "tasks":
			return pick(m, map[string]route{"GET": {permJobRead, handleListTasks}, "POST": {permJobWrite, handleAddTask}})
		case "addtaskcollection":
			return pick(m, map[string]route{"POST": {permJobWrite, handleAddTaskCollection}})
		}
	case n == 4 && is(2, "tasks"):
		p.task = segs[3]
		return pick(m, map[string]route{"GET": {permJobRead, handleGetTask}, "PUT": {permJobWrite, handleReplaceTask},
			"DELETE": {permJobDelete, handleDeleteTask}})
	case n == 5 && is(2, "tasks"):
		p.task = segs[3]
		switch strings.ToLower(segs[4]) {
		case "terminate", "reactivate":
			return pick(m, map[string]route{"POST": {permJobWrite, handleTaskAction}})
		case "subtasksinfo":
			return pick(m, map[string]route{"GET": {permJobRead, handleSubtasks}})
		case "files":
			return pick(m, map[string]route{"GET": {permJobRead, handleListTaskFiles}})
		}
	case n >= 6 && is(2, "tasks") && is(4, "files"):
		p.task = segs[3]
		f, err := url.PathUnescape(strings.Join(raw[5:], "/"))
		if err != nil {
			return nil
		}
		p.file = f
		return pick(m, map[string]route{"GET": {permJobRead, handleGetTaskFile}, "HEAD": {permJobRead, handleGetTaskFile},
			"DELETE": {permJobDelete, handleDeleteTaskFile}})
	}
	return nil
}
