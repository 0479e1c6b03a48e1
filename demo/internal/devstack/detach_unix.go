//go:build unix

package devstack

import (
	"os/exec"
	"syscall"
)

// detach puts cmd in a process group of its own, so that a Ctrl-C at the
// terminal reaches only the demo, which then stops cmd itself, in its
// order (Redis after the replicas that use it).
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
