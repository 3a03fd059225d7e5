package server

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/pki"
)

// hostsListener is the listener for Azure's public hostnames on the host,
// at HostsAddress:443; hostsAddressFile records its address for
// `cobalt env --hosts`, and is absent when the host does not get the names.
const (
	hostsListener    = "azure-hosts"
	hostsAddressFile = "hosts-address"
)

// bindHostsAddress binds HostsAddress:443 when it can: the same router as
// the nodes' "azure" listener, for hosts whose /etc/hosts maps Azure's names
// to that address.
func (s *Server) bindHostsAddress() error {
	addr := s.opts.HostsAddress
	if addr == "" {
		addr = "127.0.0.2"
	}
	_ = os.Remove(s.dir.file(hostsAddressFile))
	if addr == "off" {
		return nil
	}
	if ip := net.ParseIP(addr); ip == nil || !ip.IsLoopback() {
		return errors.New("the hosts address must be a loopback address, such as 127.0.0.2")
	}
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "443"))
	if err != nil {
		s.log.Info("Azure's hostnames are served inside nodes only: the hosts address is not free",
			logkey.Addr, net.JoinHostPort(addr, "443"), logkey.Err, err)
		return nil
	}
	s.listeners[hostsListener] = l
	return pki.WriteFileAtomic(s.dir.file(hostsAddressFile), []byte(addr+"\n"), 0o600)
}

// ReadHostsAddress returns the loopback address on whose port 443 the
// installation in dir serves Azure's public hostnames to the host, or "" if
// it does not.
func ReadHostsAddress(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, hostsAddressFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
