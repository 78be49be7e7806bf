// Command testprogress turns the output of go test -json into one line per
// package as each package starts and ends, a line every 30 seconds while
// nothing else happens (which packages are running, or that the go command
// is still compiling), the full output of every failed test, and a summary.
//
//	go test -race -json work | go run ./tools/testprogress
//
// It exits 1 when a test or a build failed, when a package started but
// never reported a result, or when no package reported anything (go test
// then printed its error on standard error); 0 otherwise. It uses only the
// standard library.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// event is a go test -json event (cmd/test2json) or a build event (go help
// buildjson); Action tells them apart.
type event struct {
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	FailedBuild string
	ImportPath  string // build events
}

// pkgState is what is known of one package's test run.
type pkgState struct {
	running              bool
	done                 bool
	passed, failed, skip int
	output               []string            // package-level output (race reports included), printed if the package fails
	tests                map[string][]string // output per running test, printed if it fails
}

// progress prints the run as it goes. All fields are guarded by mu.
type progress struct {
	mu         sync.Mutex
	w          io.Writer
	start      time.Time
	last       time.Time // when a line was last printed
	pkgs       map[string]*pkgState
	order      []string // packages in the order they started or reported
	okPkgs     int
	failedPkgs []string
	noTests    int
	skipped    []string // "package Test: reason"
	buildFail  bool
}

func main() {
	p := &progress{w: os.Stdout, start: time.Now(), pkgs: map[string]*pkgState{}}
	p.last = p.start
	stop := make(chan struct{})
	go p.heartbeat(stop, 30*time.Second)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		p.line(sc.Bytes())
	}
	close(stop)
	if err := sc.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "testprogress: reading input: %v\n", err)
		os.Exit(1)
	}
	if !p.summary() {
		os.Exit(1)
	}
}

// heartbeat prints which packages are running when nothing was printed for
// every, until stop is closed.
func (p *progress) heartbeat(stop <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every / 6)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			p.mu.Lock()
			if now.Sub(p.last) >= every {
				var running []string
				for _, name := range p.order {
					if s := p.pkgs[name]; s.running && !s.done {
						running = append(running, short(name))
					}
				}
				if len(running) == 0 {
					p.printf("… compiling (go test compiles each package's test binary before it starts it)")
				} else {
					p.printf("… running: %s", strings.Join(running, ", "))
				}
			}
			p.mu.Unlock()
		}
	}
}

// printf prints one line prefixed with the elapsed time; p.mu is held.
func (p *progress) printf(format string, args ...any) {
	p.last = time.Now()
	fmt.Fprintf(p.w, "[%4.0fs] %s\n", p.last.Sub(p.start).Seconds(), fmt.Sprintf(format, args...))
}

func (p *progress) pkg(name string) *pkgState {
	s, ok := p.pkgs[name]
	if !ok {
		s = &pkgState{tests: map[string][]string{}}
		p.pkgs[name] = s
		p.order = append(p.order, name)
	}
	return s
}

// line handles one line of go test -json output.
func (p *progress) line(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ev event
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &ev) != nil {
		fmt.Fprintf(p.w, "%s\n", b) // not an event: pass it on
		return
	}
	switch ev.Action {
	case "build-output":
		fmt.Fprint(p.w, ev.Output)
		return
	case "build-fail":
		p.buildFail = true
		p.printf("FAIL   build of %s", ev.ImportPath)
		return
	}
	if ev.Package == "" {
		return
	}
	s := p.pkg(ev.Package)
	if ev.Test != "" {
		p.testEvent(s, ev)
		return
	}
	switch ev.Action {
	case "start":
		s.running = true
		p.printf("start  %s", short(ev.Package))
	case "output":
		s.output = append(s.output, ev.Output)
	case "pass", "fail", "skip":
		p.packageDone(s, ev)
	}
}

// testEvent records one test's event in s; p.mu is held.
func (p *progress) testEvent(s *pkgState, ev event) {
	switch ev.Action {
	case "output":
		s.tests[ev.Test] = append(s.tests[ev.Test], ev.Output)
	case "pass":
		s.passed++
		// go test -json gives a race report to whichever test was
		// announced last, which may pass: print it all the same, since the
		// run fails (the racing test is marked failed elsewhere).
		if out := s.tests[ev.Test]; slices.ContainsFunc(out, func(l string) bool { return strings.Contains(l, "WARNING: DATA RACE") }) {
			p.printf("RACE   %s %s (the report was in this test's output)", short(ev.Package), ev.Test)
			for _, l := range out {
				fmt.Fprint(p.w, "       ", l)
			}
		}
		delete(s.tests, ev.Test)
	case "skip":
		s.skip++
		reason := ""
		for _, l := range s.tests[ev.Test] {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "=== ") && !strings.HasPrefix(l, "--- SKIP") {
				reason = l
				break
			}
		}
		p.skipped = append(p.skipped, fmt.Sprintf("%s %s: %s", short(ev.Package), ev.Test, reason))
		delete(s.tests, ev.Test)
	case "fail":
		s.failed++
		p.printf("FAIL   %s %s", short(ev.Package), ev.Test)
		for _, l := range s.tests[ev.Test] {
			fmt.Fprint(p.w, "       ", l)
		}
		delete(s.tests, ev.Test)
	}
}

// packageDone prints a package's result; p.mu is held.
func (p *progress) packageDone(s *pkgState, ev event) {
	s.done = true
	name := short(ev.Package)
	counts := fmt.Sprintf("%d passed", s.passed)
	if s.skip > 0 {
		counts += fmt.Sprintf(", %d skipped", s.skip)
	}
	if s.failed > 0 {
		counts += fmt.Sprintf(", %d failed", s.failed)
	}
	switch {
	case ev.Action == "fail":
		p.failedPkgs = append(p.failedPkgs, name)
		p.printf("FAIL   %s (%s, %.1fs)", name, counts, ev.Elapsed)
		// What no test claims says why: a build failure, a panic, a
		// timeout, TestMain, or a race report (the race detector writes
		// it outside any test's output).
		for _, l := range s.output {
			fmt.Fprint(p.w, "       ", l)
		}
	case ev.Action == "skip" || s.passed+s.skip+s.failed == 0:
		p.noTests++
		p.printf("-      %s (no tests)", name)
	default:
		p.okPkgs++
		p.printf("ok     %s (%s, %.1fs)", name, counts, ev.Elapsed)
	}
}

// summary prints the totals and reports whether the run passed.
func (p *progress) summary() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	var passed, skipped, failed int
	var unfinished []string
	for _, name := range p.order {
		s := p.pkgs[name]
		passed, skipped, failed = passed+s.passed, skipped+s.skip, failed+s.failed
		if s.running && !s.done {
			unfinished = append(unfinished, short(name))
		}
	}
	if len(p.skipped) > 0 {
		fmt.Fprintf(p.w, "skipped tests:\n")
		for _, s := range p.skipped {
			fmt.Fprintf(p.w, "  %s\n", s)
		}
	}
	p.printf("%d packages ok, %d failed, %d without tests; tests (subtests included): %d passed, %d skipped, %d failed",
		p.okPkgs, len(p.failedPkgs), p.noTests, passed, skipped, failed)
	ok := true
	if len(p.failedPkgs) > 0 || failed > 0 || p.buildFail {
		slices.Sort(p.failedPkgs)
		fmt.Fprintf(p.w, "FAIL: %s\n", strings.Join(p.failedPkgs, " "))
		ok = false
	}
	if len(unfinished) > 0 {
		fmt.Fprintf(p.w, "FAIL: started but never finished: %s\n", strings.Join(unfinished, " "))
		ok = false
	}
	if p.okPkgs+len(p.failedPkgs)+p.noTests == 0 {
		fmt.Fprintf(p.w, "FAIL: go test reported no package (see its error above)\n")
		ok = false
	}
	return ok
}

// short trims the module prefix shared by every tokenkeeper package.
func short(pkg string) string {
	if s, ok := strings.CutPrefix(pkg, "github.com/tokenkeeper/tokenkeeper/"); ok {
		return s
	}
	return pkg
}
