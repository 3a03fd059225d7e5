package hostapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/hostproto"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/publicaddr"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Handler serves the host protocol's paths (mount it beside the node API).
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+hostproto.JoinPath, s.handleJoin)
	mux.HandleFunc("POST "+hostproto.HeartbeatPath, s.handleHeartbeat)
	mux.HandleFunc("POST "+hostproto.NodeCredentialPath, s.handleNodeCredential)
	return mux
}

func writeErr(w http.ResponseWriter, err error) {
	code := cobalt.ErrorReason(err)
	if code == "" {
		code = string(cobalt.ErrorCode(err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(errwire.StatusOf(err))
	_ = json.NewEncoder(w).Encode(nodeproto.Error{Code: code, Message: cobalt.ErrorMessage(err)})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func invalid(msg string) error {
	return cobalt.Errorf(cobalt.EInvalid, "%s", msg).WithReason(errwire.ReasonInvalidRequest)
}

// readBody reads a bounded JSON body into v.
func readBody(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, hostproto.MaxBody))
	if err != nil {
		return cobalt.Errorf(cobalt.ETooLarge, "The request body is too large.").WithReason(errwire.ReasonInvalidRequest)
	}
	return decodeJSON(b, v)
}

// decodeJSON decodes an untrusted body.
func decodeJSON(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return invalid("The request body is not valid JSON.")
	}
	return nil
}

// capacityOf validates reported capacity.
func capacityOf(c hostproto.Capacity) (Capacity, error) {
	if c.Cores < 0 || c.Cores > 1<<16 || c.MemoryBytes < 0 || c.MaxNodes < 0 || c.MaxNodes > 1<<16 {
		return Capacity{}, invalid("The capacity is out of range.")
	}
	return Capacity(c), nil
}

// validateJoin checks a join request's fields.
func validateJoin(req hostproto.JoinRequest) (Capacity, error) {
	if req.Token == "" || len(req.Token) > 256 {
		return Capacity{}, unauthorized("The join token is not valid: unknown, used or expired.")
	}
	if req.Name == "" || len(req.Name) > 253 || strings.ContainsAny(req.Name, "\x00\r\n") {
		return Capacity{}, invalid("The host name is not valid.")
	}
	if publicaddr.Validate(req.Address) != nil {
		return Capacity{}, invalid("The host address must be an IP address or a DNS name.")
	}
	return capacityOf(req.Capacity)
}

func (s *Service) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req hostproto.JoinRequest
	if err := readBody(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	c, err := validateJoin(req)
	if err != nil {
		writeErr(w, err)
		return
	}
	h, cred, err := s.Join(r.Context(), req.Token, req.Name, req.Address, c)
	if err != nil {
		s.logFailure(r, err)
		writeErr(w, err)
		return
	}
	writeJSON(w, hostproto.JoinResponse{HostID: h.ID, Credential: cred,
		HeartbeatSeconds: int(s.cfg.Heartbeat.Seconds()), LeaseSeconds: int(s.cfg.Lease.Seconds())})
}

// authenticate returns the host of the request's bearer credential, or
// writes the refusal and returns false.
func (s *Service) authenticate(w http.ResponseWriter, r *http.Request) (store.HostRecord, bool) {
	cred, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		writeErr(w, unauthorized("A host credential is required."))
		return store.HostRecord{}, false
	}
	h, err := s.Authenticate(r.Context(), cred)
	if err != nil {
		s.logFailure(r, err)
		writeErr(w, err)
		return store.HostRecord{}, false
	}
	return h, true
}

func (s *Service) handleNodeCredential(w http.ResponseWriter, r *http.Request) {
	h, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	var req hostproto.NodeCredentialRequest
	if err := readBody(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.NodeID == "" || len(req.NodeID) > 256 {
		writeErr(w, invalid("The node ID is not valid."))
		return
	}
	if h.Local || h.State != store.HostReady || s.cfg.Nodes == nil {
		writeErr(w, cobalt.Errorf(cobalt.ENotFound, "The host has no node %s waiting for its credential.", req.NodeID).WithReason(errwire.ReasonNodeNotFound))
		return
	}
	l, err := s.cfg.Nodes.MintHostNodeCredential(r.Context(), h.ID, req.NodeID)
	if err != nil {
		s.logFailure(r, err)
		writeErr(w, err)
		return
	}
	writeJSON(w, hostproto.NodeCredentialResponse{NodeID: l.NodeID, PoolID: l.PoolID, AccountName: l.AccountName, Credential: l.Credential})
}

func (s *Service) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	h, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	var req hostproto.HeartbeatRequest
	if err := readBody(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if len(req.Nodes) > hostproto.MaxNodesReported {
		writeErr(w, invalid("Too many nodes reported."))
		return
	}
	c, err := capacityOf(req.Capacity)
	if err != nil {
		writeErr(w, err)
		return
	}
	h, nodes, err := s.Heartbeat(r.Context(), h, c)
	if err != nil {
		s.logFailure(r, err)
		writeErr(w, err)
		return
	}
	out := hostproto.HeartbeatResponse{HostID: h.ID, State: h.State, Nodes: []hostproto.Node{}}
	for _, n := range nodes {
		out.Nodes = append(out.Nodes, hostproto.Node{NodeID: n.ID, PoolID: n.PoolKey, State: n.State})
	}
	if len(req.FilesKey) > 0 && s.cfg.IssueFilesCert != nil && h.State == store.HostReady && !h.Local {
		// The certificate names this host only: a host's credential
		// buys a certificate for its own file API and no other name.
		der, err := s.cfg.IssueFilesCert(req.FilesKey, hostproto.FilesServerName(h.ID), hostproto.FilesCertLifetime)
		if err != nil {
			writeErr(w, invalid("The file API key is not valid: "+err.Error()))
			return
		}
		out.FilesCertificate = der
	}
	writeJSON(w, out)
}

// logFailure logs server-side failures; refusals are the caller's business.
func (s *Service) logFailure(r *http.Request, err error) {
	if cobalt.ErrorCode(err) == cobalt.EInternal {
		s.log.Error("host api request failed", logkey.Path, r.URL.Path, logkey.Err, err)
	}
}
