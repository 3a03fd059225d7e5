package container

import (
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// deniedSyscalls fail with EPERM in every container: kernel interfaces a
// batch task has no use for and that widen the kernel's attack surface
// from inside a user namespace (new namespaces, keyrings shared across the
// node, BPF, perf, userfaultfd, module and kexec loading, handle-based
// opens, mounts). Everything else is allowed, as without a profile.
var deniedSyscalls = []string{
	"unshare", "setns", "mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen", "fsmount", "fsconfig", "fspick",
	"add_key", "request_key", "keyctl",
	"bpf", "perf_event_open", "userfaultfd",
	"init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
	"open_by_handle_at", "name_to_handle_at", "lookup_dcookie",
	"acct", "swapon", "swapoff", "reboot", "syslog", "quotactl", "iopl", "ioperm",
}

// seccompProfile is the containers' profile: deniedSyscalls, and clone's
// namespace flags (CLONE_NEWUSER and the others) refused as unshare is.
func seccompProfile() *specs.LinuxSeccomp {
	var arches []specs.Arch
	switch runtime.GOARCH {
	case "amd64":
		arches = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	case "arm64":
		arches = []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	}
	// CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME:
	// a clone that asks for any of them fails; clone3 (whose flags seccomp
	// cannot see) says ENOSYS, so libcs fall back to clone.
	flags := []uint64{0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080}
	enosys := uint(38)
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: arches,
		Syscalls: []specs.LinuxSyscall{
			{Names: deniedSyscalls, Action: specs.ActErrno},
			{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys},
		},
	}
	for _, f := range flags {
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"clone"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: f, ValueTwo: f, Op: specs.OpMaskedEqual}}})
	}
	return p
}
