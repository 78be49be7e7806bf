package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// startWaiting shows that tkcli is waiting for the device login to be
// approved, until the returned stop is called. On a terminal it redraws
// one line every frame with a spinner, the time waited and the time left
// before the code expires, and erases it on stop; elsewhere (a pipe, a log)
// it writes one line.
func startWaiting(w io.Writer, tty bool, expires time.Time, frame time.Duration) (stop func()) {
	if !tty {
		fmt.Fprintln(w, "Waiting for the code to be approved…")
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		spin := []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
		start := time.Now()
		t := time.NewTicker(frame)
		defer t.Stop()
		for i := 0; ; i++ {
			line := fmt.Sprintf("%c Waiting for the code to be approved… %s", spin[i%len(spin)], time.Since(start).Truncate(time.Second))
			if !expires.IsZero() {
				line += fmt.Sprintf(" (it expires in %s)", max(time.Until(expires), 0).Truncate(time.Second))
			}
			fmt.Fprintf(w, "\r\033[K%s", line)
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done); wg.Wait() })
	}
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
