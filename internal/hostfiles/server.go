package hostfiles

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodefiles"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// Server serves the files of a host's nodes. Only nodes Owns reports are
// served, each from NodesDir/NODE, read-only but for delete.
type Server struct {
	NodesDir string
	Owns     func(nodeID string) bool
	Logger   *slog.Logger
	cert     atomic.Pointer[tls.Certificate]
}

// SetCertificate sets the certificate the server presents (until one is
// set, every handshake fails).
func (s *Server) SetCertificate(c *tls.Certificate) { s.cert.Store(c) }

// Certificate returns the certificate the server presents, or nil.
func (s *Server) Certificate() *tls.Certificate { return s.cert.Load() }

// TLSConfig requires a client certificate from the CA in clientCAs with the
// client-authentication usage: the control plane's, no host's (the CA
// issues hosts server certificates only).
func (s *Server) TLSConfig(clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  clientCAs,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := s.cert.Load(); c != nil {
				return c, nil
			}
			return nil, errors.New("the host has no file API certificate yet")
		},
	}
}

// ServeHTTP answers one request. Only requests over TLS with a verified
// client certificate are served: the TLS configuration verifies it, and a
// handler reached otherwise refuses.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		writeErr(w, http.StatusUnauthorized, "Unauthorized", "A control-plane client certificate is required.")
		return
	}
	req, err := parseRequest(r)
	if err != nil {
		if errors.Is(err, nodefiles.ErrInvalidPath) {
			writeErr(w, http.StatusBadRequest, codeInvalidPath, "The file path is not valid.")
			return
		}
		writeErr(w, http.StatusBadRequest, codeInvalidRequest, "The request is not a file API request.")
		return
	}
	if s.Owns == nil || !s.Owns(req.node) {
		writeErr(w, http.StatusNotFound, codeNodeNotFound, "The host runs no such node.")
		return
	}
	src := nodefiles.Local(filepath.Join(s.NodesDir, req.node))
	ctx := r.Context()
	switch req.op {
	case opList:
		files, err := src.List(ctx, req.dir, req.recursive)
		if err != nil {
			s.fail(w, err)
			return
		}
		if files == nil {
			files = []nodefiles.Info{}
		}
		writeJSON(w, listBody{Files: files})
	case opStat:
		info, err := src.Stat(ctx, req.dir, req.name)
		if err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, info)
	case opRead:
		f, err := src.Open(ctx, req.dir, req.name, req.offset, req.length)
		if err != nil {
			s.fail(w, err)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.Copy(w, f) // bounded by length; a short file ends early
	case opDelete:
		if err := src.Remove(ctx, req.dir, req.name, req.recursive); err != nil {
			s.fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

type listBody struct {
	Files []nodefiles.Info `json:"files"`
}

// fail writes a nodefiles error in the API's format.
func (s *Server) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, nodefiles.ErrNotExist):
		writeErr(w, http.StatusNotFound, codeFileNotFound, "The file does not exist.")
	case errors.Is(err, nodefiles.ErrNotServed):
		writeErr(w, http.StatusForbidden, codeNotServed, nodefiles.ErrNotServed.Error())
	case errors.Is(err, nodefiles.ErrIsDir):
		writeErr(w, http.StatusConflict, codeIsDirectory, nodefiles.ErrIsDir.Error())
	case errors.Is(err, nodefiles.ErrInvalidPath):
		writeErr(w, http.StatusBadRequest, codeInvalidPath, "The file path is not valid.")
	default:
		if s.Logger != nil {
			s.Logger.Warn("host file API request failed", logkey.Err, err)
		}
		writeErr(w, http.StatusInternalServerError, "InternalError", "The host could not complete the request.")
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, "InternalError", "encode")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(nodeproto.Error{Code: code, Message: msg})
}
