//go:build !unix

package publish

import "os/exec"

// setProcessGroup keeps exec's default of killing the process on
// cancellation where process groups do not exist.
func setProcessGroup(*exec.Cmd) {}
