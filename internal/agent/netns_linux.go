//go:build linux

package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// NetnsDir is where named network namespaces live (as `ip netns` keeps them).
const NetnsDir = "/run/netns"

// NetnsPrefix starts the name of every namespace Cobalt creates.
const NetnsPrefix = "cobalt-"

// IMDSAddress is the link-local address IMDS serves on inside a namespace.
const IMDSAddress = "169.254.169.254"

var netnsProbe struct {
	once sync.Once
	ok   bool
}

// netnsSupported reports whether this process can create named network
// namespaces: root (in the initial user namespace, as a user namespace's
// root cannot mount /run/netns), the ip command, and a namespace created
// and deleted once as a probe.
func netnsSupported() bool {
	netnsProbe.once.Do(func() {
		if os.Geteuid() != 0 {
			return
		}
		if _, err := exec.LookPath("ip"); err != nil {
			return
		}
		name := NamespaceName(os.Getpid(), "probe")
		if err := runIP("netns", "add", name); err != nil {
			return
		}
		netnsProbe.ok = deleteNamespace(name) == nil
	})
	return netnsProbe.ok
}

// NamespaceName is the network namespace name of nodeID when created by the
// process pid: cobalt-<pid>-<8 hex of the node ID's hash>. The pid lets a
// later start find namespaces whose owner died (see SweepNamespaces).
func NamespaceName(pid int, nodeID string) string {
	sum := sha256.Sum256([]byte(nodeID))
	return NetnsPrefix + strconv.Itoa(pid) + "-" + hex.EncodeToString(sum[:4])
}

// InNodeNamespace reports whether this process runs inside the network
// namespace named name, one Cobalt created (NetnsPrefix), as bound under
// NetnsDir: the check every command that sends to the IMDS address makes
// first, so that nothing is sent there from the host's network.
func InNodeNamespace(name string) bool {
	if !strings.HasPrefix(name, NetnsPrefix) || strings.ContainsRune(name, '/') {
		return false
	}
	return sameNetns(filepath.Join(NetnsDir, name))
}

// sameNetns reports whether this process's network namespace is the one
// bound at path.
func sameNetns(path string) bool {
	var self, want syscall.Stat_t
	if syscall.Stat("/proc/self/ns/net", &self) != nil || syscall.Stat(path, &want) != nil {
		return false
	}
	return self.Ino == want.Ino && self.Dev == want.Dev
}

// namespaceOwner parses the owner pid from a namespace name.
func namespaceOwner(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, NetnsPrefix)
	if !ok {
		return 0, false
	}
	p, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	return pid, err == nil && pid > 0
}

// SweepNamespaces deletes the cobalt-* namespaces whose creating process is
// gone (left behind by a crash). Namespaces of live processes, this one
// included, are kept. It returns the names it removed.
func SweepNamespaces(logger *slog.Logger) ([]string, error) {
	ents, err := os.ReadDir(NetnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		pid, ok := namespaceOwner(e.Name())
		if !ok || processAlive(pid) {
			continue
		}
		if err := deleteNamespace(e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		if logger != nil {
			logger.Info("removed stale node namespace", logkey.Netns, e.Name())
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func runIP(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// deleteNamespace deletes the named network namespace as `ip netns delete`
// does (detach the bind mount that names it, remove the file), without
// starting ip: a node's teardown ran one ip process per node. The
// namespace itself ends with its last process.
func deleteNamespace(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return fmt.Errorf("delete netns %q: not a namespace name", name)
	}
	path := filepath.Join(NetnsDir, name)
	_ = unix.Unmount(path, unix.MNT_DETACH) // not mounted: the removal decides
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete netns %s: %w", name, err)
	}
	return nil
}

// inNamespace runs fn on an OS thread switched into the namespace at path,
// then switches the thread back. Sockets created by fn stay in the namespace.
func inNamespace(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		host, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer host.Close()
		target, err := os.Open(path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(host.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine rather than
			// serving other goroutines from the wrong namespace.
			errc <- errors.Join(ferr, fmt.Errorf("setns back to the host: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// netnsIsolation is a node as its own network namespace.
type netnsIsolation struct {
	// pool is the node's place on its pool's private network (nil: none).
	pool *poolNet

	name    string
	path    string
	logger  *slog.Logger
	servers []*http.Server
	lns     []net.Listener
	// targets[i] is where connections to lns[i] are forwarded: the port
	// at upstreams[0] (see dialUpstream).
	targets []string
	// upstreams are the control-plane hosts a forward dials, in turn;
	// upstream is the index of the one that answered last.
	upstreams []string
	upstream  atomic.Int32
	// dnsUDP and dnsTCP answer Azure's hostnames inside the namespace.
	dnsUDP net.PacketConn
	dnsTCP net.Listener

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	// sessionTask maps a session of the node to its task (nil: no node).
	sessionTask func(sid int) string
}

// setSessionTask sets how attribute finds a session's task.
func (n *netnsIsolation) setSessionTask(f func(sid int) string) {
	n.mu.Lock()
	n.sessionTask = f
	n.mu.Unlock()
}

// forwards are the control plane's ports a netns node reaches on its own
// loopback, at the same addresses as outside.
type forwards struct {
	ports []int
	// azurePort is the listener for Azure's public hostnames, 0 for none.
	azurePort int
	// public is the installation's public address: when it is an IP other
	// than loopback, the node has it on its lo and the ports are forwarded
	// from it too (a DNS name resolves to 127.0.0.1 in the node).
	public string
	// target is the host the ports are forwarded to from the agent's
	// namespace: "" for 127.0.0.1 (the control plane runs beside the
	// agent), the control plane's address on a joined host.
	target string
	// replicas are the hosts of the other control-plane replicas, dialled
	// in turn when target fails (replicas serve on the same ports).
	replicas []string
}

// targetHost is where forwarded connections go first.
func (fw forwards) targetHost() string {
	if fw.target == "" {
		return "127.0.0.1"
	}
	return fw.target
}

// upstreams are the hosts forwarded connections are dialled at, in turn.
func (fw forwards) upstreams() []string {
	hosts := []string{fw.targetHost()}
	for _, h := range fw.replicas {
		if h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// publicIP is the public address when the node must carry it, else nil.
func (fw forwards) publicIP() net.IP {
	ip := net.ParseIP(fw.public)
	if ip == nil || ip.IsLoopback() {
		return nil
	}
	return ip
}

// loopbackIPs are the addresses the node carries on its lo besides
// 127.0.0.1 and IMDS: the public address, and on a joined host every
// control-plane replica's (when they are IPs), so that a URL naming any
// replica's address reaches the services through the forwards, whichever
// replica answers them.
func (fw forwards) loopbackIPs() []net.IP {
	var ips []net.IP
	add := func(ip net.IP) {
		if ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() && !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	add(fw.publicIP())
	if fw.target != "" {
		for _, h := range fw.upstreams() {
			add(net.ParseIP(h))
		}
	}
	return ips
}

// hosts are the addresses inside the node on which ports are forwarded.
func (fw forwards) hosts() []string {
	hosts := []string{"127.0.0.1"}
	for _, ip := range fw.loopbackIPs() {
		hosts = append(hosts, ip.String())
	}
	return hosts
}

// newNetnsIsolation creates the namespace name with lo up and the IMDS
// address on lo, serves h.imds on 169.254.169.254:80 inside it, and forwards
// each of fw.ports from 127.0.0.1:PORT (and PUBLIC:PORT) inside to
// 127.0.0.1:PORT of the agent's own namespace (fw.target:PORT on a joined host).
//
// With pid > 0 the namespace is not created but attached: it is the network
// namespace of the node sandbox's init pid (created by its clone, so that it
// belongs to the node's user namespace), given the name as `ip netns add`
// would.
//
// With azurePort > 0, the node also gets Azure's public hostnames
// (internal/azurenames): a DNS responder on 127.0.0.1:53 inside answers them
// with 127.0.0.1, and 127.0.0.1:443 inside is forwarded to azurePort, the
// control plane's listener for those names.
func newNetnsIsolation(name string, h handlers, fw forwards, logger *slog.Logger, pid int) (n *netnsIsolation, err error) {
	n = &netnsIsolation{name: name, path: filepath.Join(NetnsDir, name), logger: logger, conns: map[net.Conn]struct{}{}, upstreams: fw.upstreams()}
	if _, statErr := os.Stat(n.path); statErr == nil {
		// Left over by this very pid (an earlier node with the same ID).
		if err := deleteNamespace(name); err != nil {
			return nil, err
		}
	}
	if pid > 0 {
		err = attachNamespace(name, pid)
	} else {
		err = runIP("netns", "add", name)
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = n.close()
		}
	}()
	var imdsLn net.Listener
	if err := inNamespace(n.path, func() error {
		// The IMDS address exists only on lo inside the node's own
		// namespace, and so does the public address, if it is an IP.
		if err := loopbackWithIMDS(fw.loopbackIPs()...); err != nil {
			return err
		}
		var err error
		imdsLn, err = net.Listen("tcp4", IMDSAddress+":80")
		if err != nil {
			return err
		}
		for _, p := range fw.ports {
			for _, host := range fw.hosts() {
				ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
				if err != nil {
					return fmt.Errorf("forward port %d: %w", p, err)
				}
				n.lns = append(n.lns, ln)
				n.targets = append(n.targets, net.JoinHostPort(fw.targetHost(), strconv.Itoa(p)))
			}
		}
		if fw.azurePort > 0 {
			return n.listenAzureNames(fw.targetHost(), fw.azurePort)
		}
		return nil
	}); err != nil {
		if imdsLn != nil {
			imdsLn.Close()
		}
		return n, err
	}
	// One bound for all of the node's local endpoints: past it, new
	// connections wait in the backlogs inside the node's namespace.
	lim := h.limit()
	for i, ln := range n.lns {
		n.lns[i] = lim.listener(ln)
	}
	srv := newServer(h.imds)
	n.servers = append(n.servers, srv)
	imdsLimited := lim.listener(imdsLn)
	go func() { _ = srv.Serve(imdsLimited) }()
	for i, ln := range n.lns {
		n.wg.Add(1)
		go n.forward(ln, n.targets[i])
	}
	n.serveAzureNames()
	return n, nil
}

// forward accepts connections inside the namespace and splices each to
// target (127.0.0.1:PORT), dialled from the agent's namespace.
func (n *netnsIsolation) forward(ln net.Listener, target string) {
	defer n.wg.Done()
	for {
		in, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		if !n.track(in) {
			in.Close()
			return
		}
		go func() {
			defer n.untrack(in)
			out, err := n.dialUpstream(target)
			if err != nil {
				n.logger.Debug("forward dial", logkey.Addr, target, logkey.Err, err)
				return
			}
			if !n.track(out) {
				out.Close()
				return
			}
			defer n.untrack(out)
			p := &pipe{idle: forwardIdleTimeout}
			p.touch()
			done := make(chan bool, 2)
			go func() { done <- p.copy(out, in) }()
			go func() { done <- p.copy(in, out) }()
			if !<-done {
				// Idle or broken: end both directions now.
				in.Close()
				out.Close()
			}
			<-done
		}()
	}
}

// dialUpstream dials target's port at the control-plane host that answered
// last, then at each other in turn: a node on a joined host keeps reaching
// the services when the replica it used dies.
func (n *netnsIsolation) dialUpstream(target string) (net.Conn, error) {
	_, port, err := net.SplitHostPort(target)
	if err != nil || len(n.upstreams) < 2 {
		return net.DialTimeout("tcp", target, 10*time.Second)
	}
	first := int(n.upstream.Load())
	var errs []error
	for i := range n.upstreams {
		idx := (first + i) % len(n.upstreams)
		out, err := net.DialTimeout("tcp", net.JoinHostPort(n.upstreams[idx], port), 5*time.Second)
		if err == nil {
			if idx != first && n.upstream.CompareAndSwap(int32(first), int32(idx)) {
				n.logger.Warn("control-plane replica out of reach: the node's forwarded ports moved to another", logkey.Addr, n.upstreams[idx])
			}
			return out, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// pipe copies the two directions of a forwarded connection with small
// buffers and ends it once neither direction carried anything for idle.
type pipe struct {
	idle time.Duration
	last atomic.Int64 // unix nanoseconds of the last transfer either way
}

func (p *pipe) touch() { p.last.Store(time.Now().UnixNano()) }

// copy copies src to dst until src ends (then dst is half-closed and copy
// reports true) or the connection broke or went idle (false).
func (p *pipe) copy(dst, src net.Conn) bool {
	buf := make([]byte, 8<<10)
	for {
		_ = src.SetReadDeadline(time.Now().Add(p.idle))
		nr, err := src.Read(buf)
		if nr > 0 {
			p.touch()
			_ = dst.SetWriteDeadline(time.Now().Add(p.idle))
			if _, werr := dst.Write(buf[:nr]); werr != nil {
				return false
			}
			p.touch()
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			closeWrite(dst)
			return true
		case errors.Is(err, os.ErrDeadlineExceeded) && time.Since(time.Unix(0, p.last.Load())) < p.idle:
			// The other direction is busy: the connection is not idle.
		default:
			return false
		}
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// processConnLimit is the process-wide bound on node-facing connections: a
// quarter of the descriptors the process may open (each forwarded
// connection takes two, and the process's own listeners need the rest).
func processConnLimit() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<22 {
		return 1 << 20
	}
	return max(DefaultMaxLocalConnections, int(lim.Cur/4))
}

func (n *netnsIsolation) track(c net.Conn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.conns[c] = struct{}{}
	return true
}

func (n *netnsIsolation) untrack(c net.Conn) {
	c.Close()
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
}

func (n *netnsIsolation) env() []string { return nil }

// wrap runs cmd inside the namespace through nsenter. Entering a namespace
// needs the agent's privileges, so a task that runs as another user has
// nsenter switch to that user after entering.
func (n *netnsIsolation) wrap(cmd *exec.Cmd) {
	var drop []string
	if spa := cmd.SysProcAttr; spa != nil && spa.Credential != nil {
		c := spa.Credential
		drop = []string{"--setgid=" + strconv.FormatUint(uint64(c.Gid), 10), "--setuid=" + strconv.FormatUint(uint64(c.Uid), 10)}
		spa.Credential = nil
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		nsenter = "/usr/bin/nsenter"
	}
	args := append([]string{"nsenter", "--net=" + n.path}, drop...)
	args = append(append(args, "--", cmd.Path), cmd.Args[1:]...)
	cmd.Path, cmd.Args = nsenter, args
}

func (n *netnsIsolation) imdsURL() string { return "http://" + IMDSAddress }

func (n *netnsIsolation) namespace() string { return n.name }

func (n *netnsIsolation) close() error {
	n.mu.Lock()
	n.closed = true
	for c := range n.conns {
		c.Close()
	}
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, s := range n.servers {
		_ = s.Shutdown(ctx)
		_ = s.Close()
	}
	for _, ln := range n.lns {
		ln.Close()
	}
	if n.dnsUDP != nil {
		n.dnsUDP.Close()
		n.dnsTCP.Close()
	}
	n.wg.Wait()
	err := deleteNamespace(n.name)
	n.pool.leave()
	return err
}
