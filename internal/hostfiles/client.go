package hostfiles

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt/internal/hostproto"
	"github.com/cobaltbatch/cobalt/internal/nodefiles"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// Client reads the files of joined hosts' nodes for a control-plane
// replica. It presents the replica's client certificate and accepts only a
// host certificate of the CA for hostproto.FilesServerName of the host it
// means to reach: a request's URL names the host by that name, and the
// dialler reaches the address the host joined with.
type Client struct {
	http *http.Client
	// Address returns a host's address (from its store record).
	address func(ctx context.Context, hostID string) (string, error)
	port    int
}

// NewClient returns a client with the replica's certificate, the CA pool,
// and how to find a host's address. port 0 is hostproto.FilesPort.
func NewClient(cert tls.Certificate, roots *x509.CertPool, address func(ctx context.Context, hostID string) (string, error), port int) *Client {
	if port == 0 {
		port = hostproto.FilesPort
	}
	c := &Client{address: address, port: port}
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, Certificates: []tls.Certificate{cert}},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			name, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			hostID, ok := strings.CutSuffix(name, hostproto.FilesServerName(""))
			if !ok || hostID == "" {
				return nil, fmt.Errorf("not a host file API name: %s", name)
			}
			ip, err := c.address(ctx, hostID)
			if err != nil {
				return nil, err
			}
			return d.DialContext(ctx, network, net.JoinHostPort(ip, strconv.Itoa(c.port)))
		},
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 15 * time.Second,
	}
	c.http = &http.Client{Transport: tr}
	return c
}

// Source returns the files of a node on a host.
func (c *Client) Source(hostID, nodeID string) nodefiles.Source {
	return source{c: c, host: hostID, node: nodeID}
}

type source struct {
	c          *Client
	host, node string
}

func (s source) do(ctx context.Context, req request) (*http.Response, error) {
	req.node = s.node
	method := http.MethodGet
	if req.op == opDelete {
		method = http.MethodDelete
	}
	u := "https://" + net.JoinHostPort(hostproto.FilesServerName(s.host), strconv.Itoa(s.c.port)) + Prefix + req.op + "?" + req.query()
	hr, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.c.http.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", nodefiles.ErrUnreachable, err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e nodeproto.Error
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
	switch e.Code {
	case codeFileNotFound, codeNodeNotFound:
		return nil, nodefiles.ErrNotExist
	case codeNotServed:
		return nil, nodefiles.ErrNotServed
	case codeIsDirectory:
		return nil, nodefiles.ErrIsDir
	case codeInvalidPath:
		return nil, nodefiles.ErrInvalidPath
	}
	if resp.StatusCode >= 500 {
		return nil, fmt.Errorf("%w: %s", nodefiles.ErrUnreachable, resp.Status)
	}
	return nil, fmt.Errorf("host file API: %s %s", resp.Status, e.Code)
}

func decode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("%w: host file API answer: %w", nodefiles.ErrUnreachable, err)
	}
	return nil
}

func (s source) List(ctx context.Context, dir string, recursive bool) ([]nodefiles.Info, error) {
	resp, err := s.do(ctx, request{op: opList, dir: dir, recursive: recursive})
	if errors.Is(err, nodefiles.ErrNotExist) {
		return nil, nil // the node's directory is gone, as a local one would be
	}
	if err != nil {
		return nil, err
	}
	var b listBody
	if err := decode(resp, &b); err != nil {
		return nil, err
	}
	if len(b.Files) > nodefiles.MaxListed {
		b.Files = b.Files[:nodefiles.MaxListed]
	}
	return b.Files, nil
}

func (s source) Stat(ctx context.Context, dir, name string) (nodefiles.Info, error) {
	var info nodefiles.Info
	resp, err := s.do(ctx, request{op: opStat, dir: dir, name: name})
	if err != nil {
		return info, err
	}
	err = decode(resp, &info)
	return info, err
}

func (s source) Open(ctx context.Context, dir, name string, offset, length int64) (io.ReadCloser, error) {
	resp, err := s.do(ctx, request{op: opRead, dir: dir, name: name, offset: offset, length: length})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func (s source) Remove(ctx context.Context, dir, name string, recursive bool) error {
	resp, err := s.do(ctx, request{op: opDelete, dir: dir, name: name, recursive: recursive})
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
