//go:build unix

package main

import (
	"context"
	"os"
	"syscall"
	"testing"
)

// terminate sends SIGTERM to this process, as an orchestrator would to the
// service; run's signal.NotifyContext turns it into a clean shutdown.
func terminate(t *testing.T, _ context.CancelFunc) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}
