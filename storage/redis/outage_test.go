package redisstore_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	redisstore "github.com/tokenkeeper/tokenkeeper/storage/redis"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// newSource returns a Source on its own client of addr, sharing the
// account with the other Sources of the test.
func newSource(t *testing.T, addr, tokenURL string) *tokensource.Source {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ContextTimeoutEnabled: true, DialTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	s, err := redisstore.New(redisstore.Config{Client: c, Key: parentKey(t), LeaseTTL: time.Second, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	src, err := tokensource.New(tokensource.Config{
		OAuth2: &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: tokenURL}},
		Store:  s, Key: replicaKey, RefreshBefore: -1, RefreshTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func parentKey(t *testing.T) storage.FileKey {
	raw, _ := hex.DecodeString(rawTestKey)
	k, err := storage.KeyFromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRedisRestart (fault test d): redis-server is killed and restarted
// while three Sources share an account. With AOF (appendfsync always)
// nothing is lost: refreshes go on once it is back, no spent token is
// presented. Without persistence the record is gone after the restart:
// the Sources cannot tell that from a logout by another replica, so they
// report ErrLoginRequired (ReasonLoggedOut) and never present a spent
// refresh token nor resurrect the record; the operator must enable
// persistence (see the README).
func TestRedisRestart(t *testing.T) {
	for _, aof := range []bool{true, false} {
		name := map[bool]string{true: "aof", false: "no persistence"}[aof]
		t.Run(name, func(t *testing.T) {
			r := startRedis(t, aof)
			srv := tokentest.NewServer()
			t.Cleanup(srv.Close)
			srv.Lifetime = time.Second
			s := parentStore(t, r)
			seed(t, s, srv)
			var ok, temporary, login atomic.Int32
			var other atomic.Value
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 3 {
				src := newSource(t, r.Addr(), srv.TokenURL())
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
						_, err := src.TokenContext(ctx)
						cancel()
						var te *tokensource.Error
						switch {
						case err == nil:
							ok.Add(1)
						case errors.Is(err, tokensource.ErrLoginRequired):
							login.Add(1)
						case errors.As(err, &te) && te.Temporary(), errors.Is(err, redisstore.ErrUnavailable), errors.Is(err, storage.ErrLockTimeout):
							temporary.Add(1)
						default:
							other.Store(err.Error())
						}
						time.Sleep(20 * time.Millisecond)
					}
				})
			}
			time.Sleep(2500 * time.Millisecond)
			before := srv.Refreshes()
			r.Restart()
			time.Sleep(3 * time.Second)
			close(stop)
			wg.Wait()
			t.Logf("%s: %d tokens served, %d temporary errors, %d login required; %d refreshes (%d before the restart), %d rejected",
				name, ok.Load(), temporary.Load(), login.Load(), srv.Refreshes(), before, srv.Rejected())
			if o := other.Load(); o != nil {
				t.Errorf("an unclassified error: %v", o)
			}
			if srv.Rejected() != 0 {
				t.Errorf("%d spent refresh tokens presented", srv.Rejected())
			}
			if aof {
				if login.Load() != 0 || srv.Refreshes() <= before {
					t.Errorf("with AOF: %d login-required answers, refreshes %d → %d; want none and refreshes going on", login.Load(), before, srv.Refreshes())
				}
				checkLive(t, s, srv)
				return
			}
			if login.Load() == 0 {
				t.Errorf("without persistence: no Source reported the lost record as ErrLoginRequired")
			}
			if _, err := s.Load(context.Background(), replicaKey); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("without persistence: the record was resurrected (%v), want ErrNotFound", err)
			}
		})
	}
}

// stallProxy forwards TCP to addr and stops forwarding while stalled.
type stallProxy struct {
	l       net.Listener
	addr    string
	stalled atomic.Bool
}

func newStallProxy(t *testing.T, addr string) *stallProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{l: l, addr: addr}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Go(func() { p.pipe(out, in) })
			wg.Go(func() { p.pipe(in, out) })
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *stallProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.stalled.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}

// TestRedisStalled (fault test e): Redis stops answering (a proxy stops
// forwarding) for 5 s, longer than the 1 s token lifetime. The valid
// token is served, then errors wrapping ErrUnavailable once the Source's
// RefreshTimeout (2 s) for the lock has passed, then tokens again.
func TestRedisStalled(t *testing.T) {
	r := startRedis(t, false)
	srv := tokentest.NewServer()
	t.Cleanup(srv.Close)
	srv.Lifetime = time.Second
	s := parentStore(t, r)
	seed(t, s, srv)
	p := newStallProxy(t, r.Addr())
	src := newSource(t, p.l.Addr().String(), srv.TokenURL())
	call := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := src.TokenContext(ctx)
		return err
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	p.stalled.Store(true)
	var served, temporary int
	var firstErr error
	end := time.Now().Add(5 * time.Second)
	for time.Now().Before(end) {
		start := time.Now()
		err := call()
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("a call took %v during the stall, want at most about the 2 s RefreshTimeout", d)
		}
		var te *tokensource.Error
		switch {
		case err == nil:
			if temporary > 0 {
				t.Errorf("a token was served during the stall after the token expired")
			}
			served++
		case errors.Is(err, redisstore.ErrUnavailable):
			temporary++
			if firstErr == nil {
				firstErr = err
				t.Logf("during the stall: %v (tokensource.Error temporary: %v)", err, errors.As(err, &te) && te.Temporary())
			}
		default:
			t.Fatalf("during the stall: %v, want an error wrapping ErrUnavailable", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stalled.Store(false)
	var recovered time.Duration
	start := time.Now()
	for {
		if err := call(); err == nil {
			recovered = time.Since(start)
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("no token 10 s after Redis answered again")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("stall: %d calls served the valid token, then %d temporary errors (first: %v); a token again %v after the stall", served, temporary, firstErr, recovered)
	if served == 0 || temporary == 0 {
		t.Errorf("want the valid token served, then temporary errors")
	}
	if srv.Rejected() != 0 {
		t.Errorf("%d spent refresh tokens presented", srv.Rejected())
	}
	checkLive(t, s, srv)
}
