package batchapi

import "net/http"

type Pools interface{}

func notImpl(rc *reqCtx, p pathParams) {
	rc.writeError(newError(http.StatusNotImplemented, "NotImplemented", "Not implemented."))
}

func nodePath(pool, node string) string { return "/pools/" + pool + "/nodes/" + node }

var (
	hListPools, hAddPool, hListSupportedImages, hListNodeCounts, hListUsageMetrics                           = notImpl, notImpl, notImpl, notImpl, notImpl
	hGetPool, hPoolExists, hDeletePool, hPatchPool, hUpdatePoolProperties, hResizePool, hStopResize          = notImpl, notImpl, notImpl, notImpl, notImpl, notImpl, notImpl
	hEnableAutoScale, hDisableAutoScale, hEvaluateAutoScale, hRemoveNodes, hListNodes, hGetNode, hNodeAction = notImpl, notImpl, notImpl, notImpl, notImpl, notImpl, notImpl
	hNodeScheduling                                                                                          = notImpl
)
