package blob

import (
	"net/http"
	"net/url"

	"github.com/cobaltbatch/cobalt"
)

// op is one Blob API operation with what it takes to be allowed.
type op struct {
	name  string
	level int
	// action is the RBAC action: a data action when data is set, else a
	// control action (containers/*). addAction lets blobs/add/action grant the
	// creation of a new blob.
	action    string
	data      bool
	addAction bool
	// sas holds the SAS permission letters any of which grants the operation;
	// sasService, for container-level operations, those of a service SAS ("" = not
	// allowed with a service SAS); sasNew the letters that grant only creating a new blob.
	sas, sasService, sasNew string
	// srt is the account SAS resource type: 's'ervice, 'c'ontainer or 'o'bject.
	srt byte
	// keyOnly operations take only the account key (SharedKey; Entra ID and
	// SAS are refused, as for the container ACL). batch operations need only
	// authentication: each subrequest is authorized on its own.
	keyOnly, batch bool
	fn             func(*Service, *request) error
}

var (
	opAccountInfo    = &op{name: "GetAccountInformation", level: levelAccount, action: actContainerRead, sas: "rwdlacup", srt: 's', fn: (*Service).handleGetAccountInfo}
	opListContainers = &op{name: "ListContainers", level: levelAccount, action: actContainerRead, sas: "l", srt: 's', fn: (*Service).handleListContainers}

	opCreateContainer = &op{name: "CreateContainer", level: levelContainer, action: actContainerWrite, sas: "cw", srt: 'c', fn: (*Service).handleCreateContainer}
	opDeleteContainer = &op{name: "DeleteContainer", level: levelContainer, action: actContainerDel, sas: "d", srt: 'c', fn: (*Service).handleDeleteContainer}
	opGetContainer    = &op{name: "GetContainerProperties", level: levelContainer, action: actContainerRead, sas: "r", sasService: "r", srt: 'c', fn: (*Service).handleGetContainer}
	opSetContainerMD  = &op{name: "SetContainerMetadata", level: levelContainer, action: actContainerWrite, sas: "w", srt: 'c', fn: (*Service).handleSetContainerMetadata}
	opListBlobs       = &op{name: "ListBlobs", level: levelContainer, action: actBlobRead, data: true, sas: "l", sasService: "l", srt: 'c', fn: (*Service).handleListBlobs}

	opPutBlob       = &op{name: "PutBlob", level: levelBlob, action: actBlobWrite, data: true, addAction: true, sas: "w", sasNew: "c", srt: 'o', fn: (*Service).handlePutBlob}
	opPutBlock      = &op{name: "PutBlock", level: levelBlob, action: actBlobWrite, data: true, addAction: true, sas: "w", sasNew: "ca", srt: 'o', fn: (*Service).handlePutBlock}
	opPutBlockList  = &op{name: "PutBlockList", level: levelBlob, action: actBlobWrite, data: true, addAction: true, sas: "w", sasNew: "c", srt: 'o', fn: (*Service).handlePutBlockList}
	opGetBlockList  = &op{name: "GetBlockList", level: levelBlob, action: actBlobRead, data: true, sas: "r", srt: 'o', fn: (*Service).handleGetBlockList}
	opGetBlob       = &op{name: "GetBlob", level: levelBlob, action: actBlobRead, data: true, sas: "r", srt: 'o', fn: (*Service).handleGetBlob}
	opDeleteBlob    = &op{name: "DeleteBlob", level: levelBlob, action: actBlobDelete, data: true, sas: "d", srt: 'o', fn: (*Service).handleDeleteBlob}
	opSetBlobMD     = &op{name: "SetBlobMetadata", level: levelBlob, action: actBlobWrite, data: true, sas: "w", srt: 'o', fn: (*Service).handleSetBlobMetadata}
	opSetBlobProps  = &op{name: "SetBlobProperties", level: levelBlob, action: actBlobWrite, data: true, sas: "w", srt: 'o', fn: (*Service).handleSetBlobProperties}
	opGetBlobMDOnly = &op{name: "GetBlobMetadata", level: levelBlob, action: actBlobRead, data: true, sas: "r", srt: 'o', fn: (*Service).handleGetBlobMetadata}

	opGetServiceProps = &op{name: "GetBlobServiceProperties", level: levelAccount, action: actServiceRead, sas: "r", srt: 's', fn: (*Service).handleGetServiceProps}
	opSetServiceProps = &op{name: "SetBlobServiceProperties", level: levelAccount, action: actServiceWrite, sas: "w", srt: 's', fn: (*Service).handleSetServiceProps}
	opServiceStats    = &op{name: "GetBlobServiceStats", level: levelAccount, action: actServiceRead, sas: "r", srt: 's', fn: (*Service).handleServiceStats}
	opFindBlobs       = &op{name: "FindBlobsByTags", level: levelAccount, action: actBlobFilter, data: true, sas: "f", srt: 's', fn: (*Service).handleFindBlobs}
	opBatch           = &op{name: "BlobBatch", level: levelAccount, batch: true, sas: "rwdlacuptfx", srt: 's'}

	opLeaseContainer   = &op{name: "LeaseContainer", level: levelContainer, action: actContainerWrite, sas: "wd", sasService: "wd", srt: 'c', fn: (*Service).handleLeaseContainer}
	opGetContainerACL  = &op{name: "GetContainerACL", level: levelContainer, keyOnly: true, srt: 'c', fn: (*Service).handleGetACL}
	opSetContainerACL  = &op{name: "SetContainerACL", level: levelContainer, keyOnly: true, srt: 'c', fn: (*Service).handleSetACL}
	opFindBlobsInCont  = &op{name: "FindBlobsByTags", level: levelContainer, action: actBlobFilter, data: true, sas: "f", sasService: "f", srt: 'c', fn: (*Service).handleFindBlobs}
	opBatchContainer   = &op{name: "BlobBatch", level: levelContainer, batch: true, sas: "rwdlacuptfx", sasService: "rwdlacuptfx", srt: 'c'}
	opContainerUnknown = &op{name: "Unsupported", level: levelContainer, action: actContainerRead, sas: "rl", sasService: "rl", srt: 'c', fn: (*Service).handleUnsupportedContainerComp}

	opLeaseBlob   = &op{name: "LeaseBlob", level: levelBlob, action: actBlobWrite, data: true, sas: "wd", srt: 'o', fn: (*Service).handleLeaseBlob}
	opAppendBlock = &op{name: "AppendBlock", level: levelBlob, action: actBlobWrite, data: true, sas: "aw", srt: 'o', fn: (*Service).handleAppendBlock}
	opSealBlob    = &op{name: "SealBlob", level: levelBlob, action: actBlobWrite, data: true, sas: "w", srt: 'o', fn: (*Service).handleSeal}
	opSetTier     = &op{name: "SetBlobTier", level: levelBlob, action: actBlobWrite, data: true, sas: "w", srt: 'o', fn: (*Service).handleSetTier}
	opGetTags     = &op{name: "GetBlobTags", level: levelBlob, action: actTagsRead, data: true, sas: "t", srt: 'o', fn: (*Service).handleGetTags}
	opSetTags     = &op{name: "SetBlobTags", level: levelBlob, action: actTagsWrite, data: true, sas: "t", srt: 'o', fn: (*Service).handleSetTags}
	opBlobUnknown = &op{name: "Unsupported", level: levelBlob, action: actBlobRead, data: true, sas: "r", srt: 'o', fn: (*Service).handleUnsupportedContainerComp}
	opAbortCopy   = &op{name: "AbortCopyBlob", level: levelBlob, action: actBlobWrite, data: true, sas: "w", srt: 'o', fn: (*Service).handleAbortCopy}
)

// The batch operations serve their subrequests through the whole service,
// so their handler is set here to break the initialization cycle.
func init() {
	opBatch.fn = (*Service).handleBatch
	opBatchContainer.fn = (*Service).handleBatch
}

func unsupportedComp(v string) error {
	return apiErr(cobalt.EInvalid, codeInvalidQuery, "Value for one of the query parameters specified in the request URI is invalid: comp=%q is not supported.", v).WithTarget("comp")
}

func unsupportedVerb() error {
	return apiErr(cobalt.EInvalid, codeUnsupportedVerb, "The resource doesn't support specified Http Verb.")
}

// resolveOp maps method, target level and the restype/comp parameters to an operation.
func resolveOp(method string, t target, q url.Values) (*op, error) {
	comp, restype := q.Get("comp"), q.Get("restype")
	switch t.level() {
	case levelAccount:
		if method == http.MethodGet && comp == "list" {
			return opListContainers, nil
		}
		if (method == http.MethodGet || method == http.MethodHead) && restype == "account" && comp == "properties" {
			return opAccountInfo, nil
		}
		if method == http.MethodPost && restype == "service" && comp == "userdelegationkey" {
			return opGetUserDelegationKey, nil
		}
		if restype == "service" && comp == "properties" {
			switch method {
			case http.MethodGet:
				return opGetServiceProps, nil
			case http.MethodPut:
				return opSetServiceProps, nil
			}
			return nil, unsupportedVerb()
		}
		if restype == "service" && comp == "stats" && method == http.MethodGet {
			return opServiceStats, nil
		}
		if comp == "blobs" && method == http.MethodGet {
			return opFindBlobs, nil
		}
		if comp == "batch" && method == http.MethodPost {
			return opBatch, nil
		}
		if comp == "userdelegationkey" {
			return nil, unsupportedVerb()
		}
		if comp != "" && comp != "list" {
			return nil, unsupportedComp(comp)
		}
		return nil, apiErr(cobalt.EInvalid, codeInvalidQuery, "Value for one of the query parameters specified in the request URI is invalid.").WithTarget("comp")
	case levelContainer:
		if restype != "container" {
			return nil, apiErr(cobalt.EInvalid, codeInvalidQuery, "Value for one of the query parameters specified in the request URI is invalid: restype must be container.").WithTarget("restype")
		}
		switch comp {
		case "":
			switch method {
			case http.MethodPut:
				return opCreateContainer, nil
			case http.MethodDelete:
				return opDeleteContainer, nil
			case http.MethodGet, http.MethodHead:
				return opGetContainer, nil
			}
		case "metadata":
			switch method {
			case http.MethodPut:
				return opSetContainerMD, nil
			case http.MethodGet, http.MethodHead:
				return opGetContainer, nil
			}
		case "list":
			if method == http.MethodGet {
				return opListBlobs, nil
			}
		case "lease":
			if method == http.MethodPut {
				return opLeaseContainer, nil
			}
		case "acl":
			switch method {
			case http.MethodGet, http.MethodHead:
				return opGetContainerACL, nil
			case http.MethodPut:
				return opSetContainerACL, nil
			}
		case "blobs":
			if method == http.MethodGet {
				return opFindBlobsInCont, nil
			}
		case "batch":
			if method == http.MethodPost {
				return opBatchContainer, nil
			}
		default:
			// Azure checks that the container exists first.
			return opContainerUnknown, nil
		}
		return nil, unsupportedVerb()
	}
	switch comp {
	case "":
		switch method {
		case http.MethodPut:
			return opPutBlob, nil
		case http.MethodGet, http.MethodHead:
			return opGetBlob, nil
		case http.MethodDelete:
			return opDeleteBlob, nil
		}
	case "block":
		if method == http.MethodPut {
			return opPutBlock, nil
		}
	case "blocklist":
		switch method {
		case http.MethodPut:
			return opPutBlockList, nil
		case http.MethodGet:
			return opGetBlockList, nil
		}
	case "metadata":
		switch method {
		case http.MethodPut:
			return opSetBlobMD, nil
		case http.MethodGet, http.MethodHead:
			return opGetBlobMDOnly, nil
		}
	case "properties":
		if method == http.MethodPut {
			return opSetBlobProps, nil
		}
	case "lease":
		if method == http.MethodPut {
			return opLeaseBlob, nil
		}
	case "appendblock":
		if method == http.MethodPut {
			return opAppendBlock, nil
		}
	case "seal":
		if method == http.MethodPut {
			return opSealBlob, nil
		}
	case "tier":
		if method == http.MethodPut {
			return opSetTier, nil
		}
	case "tags":
		switch method {
		case http.MethodGet:
			return opGetTags, nil
		case http.MethodPut:
			return opSetTags, nil
		}
	case "copy":
		if method == http.MethodPut {
			return opAbortCopy, nil
		}
	default:
		// Azure checks that the container exists first.
		return opBlobUnknown, nil
	}
	return nil, unsupportedVerb()
}
