//go:build !unix

package main

import (
	"context"
	"testing"
)

// terminate stops the service by cancelling its context: there is no
// SIGTERM to send here.
func terminate(t *testing.T, cancel context.CancelFunc) { cancel() }
