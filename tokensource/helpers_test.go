package tokensource

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// fixture is a Source wired to a fake token endpoint and a memory store
// holding a freshly logged-in account.
type fixture struct {
	srv    *tokentest.Server
	store  *storage.Memory
	src    *Source
	events *eventLog
	logs   *syncBuffer
}

type option func(*Config)

func newFixture(t *testing.T, srv *tokentest.Server, expiry time.Time, opts ...option) *fixture {
	t.Helper()
	if srv == nil {
		srv = tokentest.NewServer()
		t.Cleanup(srv.Close)
	}
	f := &fixture{srv: srv, store: storage.NewMemory(), events: &eventLog{}, logs: &syncBuffer{}}
	at, rt, exp := srv.Login()
	if !expiry.IsZero() {
		exp = expiry
	}
	if err := f.store.Save(context.Background(), "acct", &storage.Token{AccessToken: at, TokenType: "Bearer", RefreshToken: rt, Expiry: exp, Version: 1}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		OAuth2:  &oauth2.Config{ClientID: "client", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}},
		Store:   f.store,
		Key:     "acct",
		OnEvent: f.events.add,
		Logger:  slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	f.src = src
	f.events.settle, f.logs.settle = src.settle, src.settle
	return f
}

// settle waits until the events of every refresh that has released its
// waiters were delivered: hooks run after the waiters are released.
func (s *Source) settle() {
	for s.emitting.Load() > 0 {
		time.Sleep(time.Millisecond)
	}
}

// stored returns the record in the fixture's store.
func (f *fixture) stored(t *testing.T) *storage.Token {
	t.Helper()
	rec, err := f.store.Load(context.Background(), "acct")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return rec
}

type eventLog struct {
	mu     sync.Mutex
	events []Event
	settle func() // waits for events still being delivered; nil: none
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) count(k EventKind) int {
	if l.settle != nil {
		l.settle()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	settle func() // waits for log lines still being written; nil: none
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	if b.settle != nil {
		b.settle()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// flakyStore fails Save while failing is true.
type flakyStore struct {
	*storage.Memory
	mu      sync.Mutex
	failing bool
	saves   int
}

var errDiskFull = errors.New("disk full")

func (s *flakyStore) Save(ctx context.Context, key string, t *storage.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	if s.failing {
		return errDiskFull
	}
	return s.Memory.Save(ctx, key, t)
}

func (s *flakyStore) setFailing(v bool) {
	s.mu.Lock()
	s.failing = v
	s.mu.Unlock()
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expired is an expiry in the past, so the first Token() refreshes.
var expired = time.Now().Add(-time.Hour)
