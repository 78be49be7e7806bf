package storage

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tests that need another process re-execute the test binary with
// childEnv set to a role; TestMain runs the role instead of the tests.
const (
	childEnv    = "TOKENKEEPER_STORAGE_TEST_CHILD"
	childDirEnv = "TOKENKEEPER_STORAGE_TEST_DIR"
	childKeyEnv = "TOKENKEEPER_STORAGE_TEST_KEY" // hex
	childArgEnv = "TOKENKEEPER_STORAGE_TEST_ARG"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		if err := runChild(role); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(role string) error {
	switch role {
	case "crash-saver":
		return childSaveLoop()
	case "lock-holder":
		return childHoldLock()
	case "keyring-get":
		return childKeyringGet()
	}
	return fmt.Errorf("unknown role %q", role)
}

func childStore() (*File, error) {
	key, err := KeyFromEnv(childKeyEnv)
	if err != nil {
		return nil, err
	}
	return NewFile(FileConfig{Dir: os.Getenv(childDirEnv), Key: key})
}

// childSaveLoop saves records with increasing versions until killed,
// printing "saved N" after each Save returns.
func childSaveLoop() error {
	f, err := childStore()
	if err != nil {
		return err
	}
	ctx := context.Background()
	t, err := f.Load(ctx, "acct")
	if err != nil {
		return err
	}
	size, _ := strconv.Atoi(os.Getenv(childArgEnv))
	for v := t.Version + 1; ; v++ {
		if err := f.Save(ctx, "acct", testToken(v, size)); err != nil {
			return err
		}
		fmt.Printf("saved %d\n", v)
	}
}

// childHoldLock takes the lock of "acct", prints "locked", holds it for
// the duration in childArgEnv (forever if empty), unlocks and prints
// "unlocked".
func childHoldLock() error {
	f, err := childStore()
	if err != nil {
		return err
	}
	unlock, err := f.Lock(context.Background(), "acct")
	if err != nil {
		return err
	}
	fmt.Println("locked")
	hold, err := time.ParseDuration(os.Getenv(childArgEnv))
	if err != nil {
		select {}
	}
	time.Sleep(hold)
	fmt.Println("unlocked")
	return unlock()
}

// child is a running child process of the test binary.
type child struct {
	cmd   *exec.Cmd
	lines chan string // stdout, line by line; closed at EOF
}

// startChild starts the test binary in role with the store directory dir,
// the raw key and arg.
func startChild(t testing.TB, test, role, dir string, key []byte, arg string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, childDirEnv+"="+dir,
		childKeyEnv+"="+hex.EncodeToString(key), childArgEnv+"="+arg)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	// An os.Pipe rather than StdoutPipe: every line the child wrote before
	// it died is read, up to EOF, before Wait.
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 1<<16)}
	go func() {
		defer close(c.lines)
		defer out.Close()
		s := bufio.NewScanner(out)
		for s.Scan() {
			c.lines <- s.Text()
		}
		io.Copy(io.Discard, out)
	}()
	t.Cleanup(func() { c.kill() })
	return c
}

// expect waits for the next line of c and fails unless it starts with
// prefix; it returns the line.
func (c *child) expect(t testing.TB, prefix string) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok || !strings.HasPrefix(l, prefix) {
			t.Fatalf("child: got line %q (open %v), want %q", l, ok, prefix)
		}
		return l
	case <-time.After(10 * time.Second):
		t.Fatalf("child: no %q within 10 s", prefix)
	}
	return ""
}

// kill kills c with SIGKILL, waits for it and returns its remaining
// output lines.
func (c *child) kill() []string {
	c.cmd.Process.Kill()
	var rest []string
	for l := range c.lines {
		rest = append(rest, l)
	}
	if c.cmd.ProcessState == nil {
		c.cmd.Wait()
	}
	return rest
}
