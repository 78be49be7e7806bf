package nodeop

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// maxStderr caps how much of the provider's stderr is kept for the log.
const maxStderr = 1 << 20

// process is a running `node server.mjs`.
type process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser // closing it makes server.mjs exit
	issuer string
	stderr *lockedBuffer
	done   chan error // receives cmd.Wait's result
}

// startProcess starts server.mjs and waits for the first line of its
// stdout, which names the issuer.
func startProcess(node, dir string, config []byte) (*process, error) {
	cmd := exec.Command(node, filepath.Join(dir, "server.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODEOP_CONFIG="+string(config), "NODE_ENV=test")
	p := &process{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	first := &firstLine{line: make(chan []byte, 1)}
	cmd.Stdout = first
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("nodeop: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("nodeop: starting node: %w", err)
	}
	go func() { p.done <- cmd.Wait() }()
	select {
	case line := <-first.line:
		var hello struct {
			Issuer string `json:"issuer"`
		}
		if err := json.Unmarshal(line, &hello); err != nil || hello.Issuer == "" {
			p.stop()
			return nil, fmt.Errorf("nodeop: server.mjs said %q, want its issuer as JSON", line)
		}
		p.issuer = hello.Issuer
		return p, nil
	case err := <-p.done:
		p.done <- err
		return nil, fmt.Errorf("nodeop: server.mjs exited: %v\nstderr:\n%s", err, p.stderr.String())
	case <-time.After(startTimeout):
		p.stop()
		return nil, fmt.Errorf("nodeop: server.mjs did not start within %v\nstderr:\n%s", startTimeout, p.stderr.String())
	}
}

// stop closes the provider's stdin, which makes it exit, and kills it if it
// has not exited after 5 s. It waits for the process in both cases.
func (p *process) stop() error {
	p.stdin.Close()
	select {
	case err := <-p.done:
		return exitError(err)
	case <-time.After(5 * time.Second):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("nodeop: killing node: %w", err)
	}
	<-p.done
	return errors.New("nodeop: node did not exit when its stdin was closed; killed")
}

// exitError returns nil for a clean exit.
func exitError(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("nodeop: node: %w", err)
}

// firstLine is the provider's stdout: it delivers the first line and
// discards the rest.
type firstLine struct {
	mu   sync.Mutex
	buf  []byte
	sent bool
	line chan []byte
}

func (f *firstLine) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sent {
		return len(b), nil
	}
	f.buf = append(f.buf, b...)
	if i := bytes.IndexByte(f.buf, '\n'); i >= 0 {
		f.sent = true
		f.line <- f.buf[:i]
		f.buf = nil
	} else if len(f.buf) > 1<<16 {
		f.sent = true
		f.line <- f.buf
	}
	return len(b), nil
}

// lockedBuffer keeps the first maxStderr bytes written to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := maxStderr - l.buf.Len(); room > 0 {
		l.buf.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
