package main

import (
	"strings"
	"testing"
	"time"
)

func TestWaitIndicator(t *testing.T) {
	t.Run("terminal", func(t *testing.T) {
		var scr screen
		stop := startWaiting(&scr, true, time.Now().Add(time.Minute), 5*time.Millisecond)
		time.Sleep(60 * time.Millisecond)
		stop()
		stop() // idempotent
		out := scr.String()
		if n := strings.Count(out, "\r\033[K"); n < 3 {
			t.Errorf("got %d redraws, want several: %q", n, out)
		}
		for _, want := range []string{"⠋ Waiting for the code to be approved… 0s (it expires in 59s)", "⠙ Waiting"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q: %q", want, out)
			}
		}
		if !strings.HasSuffix(out, "\r\033[K") {
			t.Errorf("the line is not erased at the end: %q", out)
		}
	})
	t.Run("pipe", func(t *testing.T) {
		var scr screen
		stop := startWaiting(&scr, false, time.Now().Add(time.Minute), 5*time.Millisecond)
		time.Sleep(20 * time.Millisecond)
		stop()
		if got, want := scr.String(), "Waiting for the code to be approved…\n"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}
