package tokensource_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// The multi-process test re-executes the test binary as children. Each
// child opens the shared store, then, for every line "go <offset>" on its
// stdin, moves its clock <offset> seconds ahead (past the token's expiry),
// calls Token() and answers "<access token> <refresh token>" of its
// current record on stdout.
const (
	childEnv    = "TOKENKEEPER_MP_CHILD"
	children    = 8
	rounds      = 20
	roundOffset = 2 * 3600 // seconds: each round is two hours later, past the 1 h tokens
)

func TestMultiProcessOneRefreshPerRound(t *testing.T) {
	for _, kind := range []string{"file", "keyring"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			if kind == "keyring" {
				if err := keyringAvailable(); err != nil {
					if os.Getenv("TOKENKEEPER_REQUIRE_KEYRING") == "1" {
						t.Fatalf("no Secret Service (%v), and TOKENKEEPER_REQUIRE_KEYRING=1", err)
					}
					t.Skipf("no Secret Service (%v); run: .ci/with-secret-service go test ./tokensource/", err)
				}
			}
			runMultiProcess(t, kind)
		})
	}
}

func runMultiProcess(t *testing.T, kind string) {
	srv := tokentest.NewServer()
	defer srv.Close()
	env := []string{childEnv + "=" + kind, "MP_DIR=" + filepath.Join(t.TempDir(), "store"), "MP_TOKEN_URL=" + srv.TokenURL(),
		"MP_KEY=" + hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
		"MP_SERVICE=tokenkeeper-mp-" + strconv.Itoa(os.Getpid())}
	store, err := openStore(envMap(env))
	if err != nil {
		t.Fatal(err)
	}
	at, rt, exp := srv.Login()
	if err := store.Save(context.Background(), "acct", &storage.Token{AccessToken: at, RefreshToken: rt, Expiry: exp, Version: 1}); err != nil {
		t.Fatal(err)
	}
	procs := make([]*child, children)
	for i := range procs {
		procs[i] = startChild(t, env)
	}
	for r := 1; r <= rounds; r++ {
		answers := make([]string, children)
		var wg sync.WaitGroup
		for i, p := range procs { // every child calls Token() at the same moment
			wg.Go(func() { answers[i] = p.ask(t, fmt.Sprintf("go %d", r*roundOffset)) })
		}
		wg.Wait()
		for i, a := range answers {
			if a != answers[0] {
				t.Fatalf("round %d: child %d holds %q, child 0 %q", r, i, a, answers[0])
			}
		}
		if got := srv.Refreshes(); got != r {
			t.Fatalf("after round %d the server saw %d refreshes, want %d", r, got, r)
		}
	}
	if srv.Rejected() != 0 {
		t.Errorf("the server rejected %d refreshes (a rotated token was reused)", srv.Rejected())
	}
	rec, err := store.Load(context.Background(), "acct")
	if err != nil {
		t.Fatal(err)
	}
	final := procs[0].ask(t, "current")
	if want := rec.AccessToken + " " + rec.RefreshToken; final != want {
		t.Errorf("children hold %q, the store %q", final, want)
	}
	for _, p := range procs {
		p.stop(t)
	}
	t.Logf("%s store: %d processes, %d rounds, %d refreshes, %d token requests, %d rejected", kind, children, rounds, srv.Refreshes(), srv.Requests(), srv.Rejected())
}

type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startChild(t *testing.T, env []string) *child {
	cmd := exec.Command(os.Args[0], "-test.run=^TestMultiProcessChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	if ready := c.read(t); ready != "ready" {
		t.Fatalf("child said %q, want ready", ready)
	}
	return c
}

func (c *child) ask(t *testing.T, line string) string {
	if _, err := fmt.Fprintln(c.in, line); err != nil {
		t.Errorf("write to child: %v", err)
		return ""
	}
	return c.read(t)
}

func (c *child) read(t *testing.T) string {
	for c.out.Scan() {
		if line, ok := strings.CutPrefix(c.out.Text(), "mp: "); ok {
			return line
		}
	}
	t.Errorf("child exited: %v", c.out.Err())
	return ""
}

func (c *child) stop(t *testing.T) {
	c.in.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("child: %v", err)
	}
}

// TestMultiProcessChild is the child's side; it does nothing in a normal run.
func TestMultiProcessChild(t *testing.T) {
	kind := os.Getenv(childEnv)
	if kind == "" {
		t.Skip("runs only as a child of TestMultiProcessOneRefreshPerRound")
	}
	if err := serveChild(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "child %d: %v\n", os.Getpid(), err)
		os.Exit(1)
	}
	os.Exit(0)
}

func serveChild(in io.Reader, out io.Writer) error {
	env := envMap(os.Environ())
	store, err := openStore(env)
	if err != nil {
		return err
	}
	var offset atomic.Int64
	src, err := tokensource.New(tokensource.Config{
		OAuth2: &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: env["MP_TOKEN_URL"]}},
		Store:  store,
		Key:    "acct",
		Now:    func() time.Time { return time.Now().Add(time.Duration(offset.Load()) * time.Second) },
	})
	if err != nil {
		return err
	}
	defer src.Close()
	fmt.Fprintln(out, "mp: ready")
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		if s, ok := strings.CutPrefix(lines.Text(), "go "); ok {
			n, _ := strconv.ParseInt(s, 10, 64)
			offset.Store(n)
			if _, err := src.Token(); err != nil {
				return fmt.Errorf("Token: %w", err)
			}
		}
		rec, err := src.Current(context.Background())
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "mp: %s %s\n", rec.AccessToken, rec.RefreshToken)
	}
	return lines.Err()
}

func openStore(env map[string]string) (storage.Store, error) {
	key, err := hex.DecodeString(env["MP_KEY"])
	if err != nil {
		return nil, err
	}
	if env[childEnv] == "keyring" {
		return storage.NewKeyring(storage.KeyringConfig{Service: env["MP_SERVICE"], Dir: env["MP_DIR"]})
	}
	fk, err := storage.KeyFromBytes(key)
	if err != nil {
		return nil, err
	}
	return storage.NewFile(storage.FileConfig{Dir: env["MP_DIR"], Key: fk})
}

func envMap(kv []string) map[string]string {
	m := make(map[string]string)
	for _, s := range kv {
		if k, v, ok := strings.Cut(s, "="); ok {
			m[k] = v
		}
	}
	return m
}

// keyringAvailable probes the Secret Service with a throw-away store.
func keyringAvailable() error {
	k, err := storage.NewKeyring(storage.KeyringConfig{Service: "tokenkeeper-mp-probe", Dir: filepath.Join(os.TempDir(), "tokenkeeper-mp-probe-"+strconv.Itoa(os.Getpid())), Timeout: 3 * time.Second})
	if err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Join(os.TempDir(), "tokenkeeper-mp-probe-"+strconv.Itoa(os.Getpid())))
	_, err = k.Load(context.Background(), "probe")
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return err
}
