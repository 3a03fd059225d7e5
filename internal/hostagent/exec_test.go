package hostagent

import "os/exec"

func execIP(args ...string) ([]byte, error) { return exec.Command("ip", args...).CombinedOutput() }
