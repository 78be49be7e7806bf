package redisstore_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	redisstore "github.com/tokenkeeper/tokenkeeper/storage/redis"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
	"github.com/tokenkeeper/tokenkeeper/transport"
)

// The fault tests re-execute the test binary as replicas
// (TestHelperReplica) that share one account in a real redis-server
// through tokensource.Source. The parent runs the token endpoint.
const replicaKey = "acct"

// rawTestKey is the FileKey every replica of a test shares.
var rawTestKey = strings.Repeat("ab", storage.KeySize)

// replicaEnv is what a replica is told.
type replicaEnv struct {
	mode     string // "serve": call the resource for duration; "once": one TokenContext
	addr     string // Redis
	tokenURL string
	duration time.Duration
	leaseTTL time.Duration
	refresh  time.Duration // tokensource RefreshTimeout
	pause    string        // "load": print "tkr: loaded" and sleep at the first Load under the lease
}

func (e replicaEnv) environ() []string {
	return []string{"TKR_MODE=" + e.mode, "TKR_ADDR=" + e.addr, "TKR_TOKEN_URL=" + e.tokenURL,
		"TKR_DURATION=" + e.duration.String(), "TKR_LEASE=" + e.leaseTTL.String(), "TKR_REFRESH=" + e.refresh.String(), "TKR_PAUSE=" + e.pause}
}

// replica is a running child.
type replica struct {
	cmd   *exec.Cmd
	lines chan string // its "tkr: " lines; closed at exit
}

func startReplica(t *testing.T, e replicaEnv) *replica {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperReplica$", "-test.v=false")
	cmd.Env = append(os.Environ(), e.environ()...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{cmd: cmd, lines: make(chan string, 16)}
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "tkr: "); ok {
				r.lines <- l
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) // SIGKILL ends a stopped process too
	return r
}

// next returns the replica's next line, or "" after timeout or exit.
func (r *replica) next(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-r.lines:
		if !ok {
			return ""
		}
		return l
	case <-time.After(timeout):
		t.Errorf("no line from replica %d within %v", r.cmd.Process.Pid, timeout)
		return ""
	}
}

// TestHelperReplica is a replica's side; it does nothing in a normal run.
func TestHelperReplica(t *testing.T) {
	mode := os.Getenv("TKR_MODE")
	if mode == "" {
		t.Skip("runs only as a child of the fault tests")
	}
	if err := runReplica(mode); err != nil {
		fmt.Printf("tkr: error %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func envDuration(name string) time.Duration {
	d, _ := time.ParseDuration(os.Getenv(name))
	return d
}

// pausingStore prints "tkr: loaded" and sleeps at the first Load made
// under a lease, so that the parent can stop the process there.
type pausingStore struct {
	*redisstore.Store
	held, paused atomic.Bool
}

func (p *pausingStore) LockLease(ctx context.Context, key string) (storage.Lease, error) {
	l, err := p.Store.LockLease(ctx, key)
	p.held.Store(err == nil)
	return l, err
}

func (p *pausingStore) Load(ctx context.Context, key string) (*storage.Token, error) {
	t, err := p.Store.Load(ctx, key)
	if p.held.Load() && !p.paused.Swap(true) {
		fmt.Println("tkr: loaded")
		time.Sleep(time.Second)
	}
	return t, err
}

func runReplica(mode string) error {
	c := redis.NewClient(&redis.Options{Addr: os.Getenv("TKR_ADDR"), MaxRetries: -1, ContextTimeoutEnabled: true})
	defer c.Close()
	raw, _ := hex.DecodeString(rawTestKey)
	key, err := storage.KeyFromBytes(raw)
	if err != nil {
		return err
	}
	rs, err := redisstore.New(redisstore.Config{Client: c, Key: key, LeaseTTL: envDuration("TKR_LEASE"), Timeout: time.Second})
	if err != nil {
		return err
	}
	var store storage.Store = rs
	if os.Getenv("TKR_PAUSE") == "load" {
		store = &pausingStore{Store: rs}
	}
	src, err := tokensource.New(tokensource.Config{
		OAuth2:         &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: os.Getenv("TKR_TOKEN_URL")}},
		Store:          store,
		Key:            replicaKey,
		RefreshBefore:  -1, // refresh when found expired: one refresh per token lifetime
		RefreshTimeout: envDuration("TKR_REFRESH"),
	})
	if err != nil {
		return err
	}
	defer src.Close()
	if mode == "once" {
		// As a service would, call again after a temporary error.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for {
			tok, err := src.TokenContext(ctx)
			if err == nil {
				fmt.Printf("tkr: token %s\n", tok.AccessToken)
				return nil
			}
			if ctx.Err() != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	hc := &http.Client{Transport: &transport.Transport{Source: src}, Timeout: 10 * time.Second}
	resource := strings.TrimSuffix(os.Getenv("TKR_TOKEN_URL"), "/token") + "/resource"
	end := time.Now().Add(envDuration("TKR_DURATION"))
	calls, fails := 0, 0
	var firstErr string
	for time.Now().Before(end) {
		calls++
		resp, err := hc.Get(resource)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if err != nil {
			fails++
			if firstErr == "" {
				firstErr = err.Error()
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("tkr: result %d %d %q\n", calls, fails, firstErr)
	return nil
}

// seed stores a fresh login whose access token has expired.
func seed(t *testing.T, s *redisstore.Store, srv *tokentest.Server) {
	t.Helper()
	at, rt, _ := srv.Login()
	if err := s.Save(context.Background(), replicaKey, &storage.Token{AccessToken: at, RefreshToken: rt, TokenType: "Bearer",
		Expiry: time.Now().Add(-time.Second), Version: 1}); err != nil {
		t.Fatal(err)
	}
}

// parentStore is the parent's view of the replicas' store.
func parentStore(t *testing.T, r *redisServer) *redisstore.Store {
	raw, _ := hex.DecodeString(rawTestKey)
	key, err := storage.KeyFromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	return newStore(t, r, redisstore.Config{Key: key})
}

// checkLive fails unless the stored refresh token is the live one: the
// token endpoint accepts it (this redeems it; call last).
func checkLive(t *testing.T, s *redisstore.Store, srv *tokentest.Server) *storage.Token {
	t.Helper()
	rec, err := s.Load(context.Background(), replicaKey)
	if err != nil {
		t.Fatalf("final record: %v", err)
	}
	resp, err := http.PostForm(srv.TokenURL(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rec.RefreshToken}, "client_id": {"c"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the refresh token in Redis (version %d) is not the live one: the endpoint answered %d", rec.Version, resp.StatusCode)
	}
	return rec
}

// envInt reads a positive integer from the environment, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
