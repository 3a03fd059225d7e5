package agent

import (
	"fmt"
	"net"
	"strconv"

	"github.com/cobaltbatch/cobalt/internal/azurenames"
)

// azureNamesAddress is where Azure's hostnames resolve inside a node: its
// loopback, where port 443 is forwarded to the control plane's listener for
// those names.
var azureNamesAddress = [4]byte{127, 0, 0, 1}

// listenAzureNames binds, inside the node's namespace (the caller is in
// it), the DNS responder on 127.0.0.1:53 (UDP and TCP) and the forward of
// 127.0.0.1:443 to azurePort on target (the agent's loopback, or the
// control plane's address on a joined host).
func (n *netnsIsolation) listenAzureNames(target string, azurePort int) error {
	ln, err := net.Listen("tcp4", "127.0.0.1:443")
	if err != nil {
		return fmt.Errorf("forward port 443: %w", err)
	}
	n.lns = append(n.lns, ln)
	n.targets = append(n.targets, net.JoinHostPort(target, strconv.Itoa(azurePort)))
	if n.dnsUDP, err = net.ListenPacket("udp4", "127.0.0.1:53"); err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	if n.dnsTCP, err = net.Listen("tcp4", "127.0.0.1:53"); err != nil {
		n.dnsUDP.Close()
		n.dnsUDP = nil
		return fmt.Errorf("dns: %w", err)
	}
	return nil
}

// serveAzureNames answers DNS queries until the namespace closes.
func (n *netnsIsolation) serveAzureNames() {
	if n.dnsUDP == nil {
		return
	}
	n.wg.Add(2)
	go func() { defer n.wg.Done(); _ = azurenames.ServeDNS(n.dnsUDP, azureNamesAddress) }()
	go func() { defer n.wg.Done(); _ = azurenames.ServeDNSTCP(n.dnsTCP, azureNamesAddress) }()
}
