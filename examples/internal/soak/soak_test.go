package main

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the soak's child processes: the
// parent re-executes os.Executable() with -child, as the program does.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == "-child" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

// TestSoakSmoke runs the soak's whole code path (provider, headless
// login, fault injector, 64 goroutines and 4 child processes on the
// encrypted file store, final refresh, assertions) for 10 seconds, so that
// go test work proves the program still works. The real run is
// go run ./examples/internal/soak -duration 2m (results in testdata/results.txt).
func TestSoakSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s soak; skipped with -short")
	}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler)) // zitadel logs every request through it
	t.Cleanup(func() { slog.SetDefault(prev) })

	var out strings.Builder
	o := options{Duration: 10 * time.Second, Goroutines: 64, Children: 4, ChildGoroutines: 16, Pause: 50 * time.Millisecond, FaultRate: 0.3, Seed: 1}
	err := run(context.Background(), o, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
}
