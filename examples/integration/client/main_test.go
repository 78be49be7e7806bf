package client_test

import (
	"log/slog"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// zitadel's OP logs every request through slog.Default.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}
