//go:build unix

package redisstore_test

import (
	"syscall"
	"testing"
)

func (r *replica) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %d: %v", sig, r.cmd.Process.Pid, err)
	}
}
