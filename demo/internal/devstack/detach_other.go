//go:build !unix

package devstack

import "os/exec"

// detach does nothing here: see detach_unix.go.
func detach(*exec.Cmd) {}
