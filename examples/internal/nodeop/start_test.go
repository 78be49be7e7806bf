package nodeop

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// stopTB is a testing.TB whose Skip and Fatal end the goroutine and are
// recorded instead of ending the test; the rest goes to the real test.
type stopTB struct {
	testing.TB
	mu      sync.Mutex
	skipped string
	fatal   string
}

func (s *stopTB) Helper() {}

func (s *stopTB) Skipf(format string, args ...any) {
	s.mu.Lock()
	s.skipped = fmt.Sprintf(format, args...)
	s.mu.Unlock()
	runtime.Goexit()
}

func (s *stopTB) Fatalf(format string, args ...any) {
	s.mu.Lock()
	s.fatal = fmt.Sprintf(format, args...)
	s.mu.Unlock()
	runtime.Goexit()
}

func (s *stopTB) Fatal(args ...any) { s.Fatalf("%s", fmt.Sprint(args...)) }

// TestStartWithoutNode: without node on PATH, Start skips the test, except
// on CI (CI=true), where it fails it.
func TestStartWithoutNode(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, ci := range []string{"", "false", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			tb := &stopTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Start(tb, Options{})
				t.Error("Start returned without node")
			}()
			<-done
			got := tb.skipped
			if ci == "true" {
				got = tb.fatal
			}
			if !strings.Contains(got, "node or npm not found") {
				t.Fatalf("skipped %q, fatal %q; want the CI=true case to fail and the others to skip", tb.skipped, tb.fatal)
			}
		})
	}
}
