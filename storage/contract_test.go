package storage

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStoreContract checks the Store and Locker contracts of storage.go
// on every store that needs no outside service (the keyring store's own
// tests run the same calls against a real Secret Service).
func TestStoreContract(t *testing.T) {
	type lockingStore interface {
		Store
		Locker
	}
	stores := map[string]func(t *testing.T) lockingStore{
		"memory":      func(*testing.T) lockingStore { return NewMemory() },
		"zero Memory": func(*testing.T) lockingStore { return new(Memory) },
		"file": func(t *testing.T) lockingStore {
			_, key := rawKey(t)
			f, err := NewFile(FileConfig{Dir: filepath.Join(t.TempDir(), "s"), Key: key})
			if err != nil {
				t.Fatal(err)
			}
			return f
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Run("absent key", func(t *testing.T) { checkAbsent(t, open(t)) })
			t.Run("save replaces and never aliases", func(t *testing.T) { checkNoAliasing(t, open(t)) })
			t.Run("lock serialises and honours ctx", func(t *testing.T) { checkLock(t, open(t)) })
		})
	}
}

func checkAbsent(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.Load(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load of an absent key: got %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "nobody"); err != nil {
		t.Errorf("Delete of an absent key: got %v, want nil", err)
	}
}

func checkNoAliasing(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Now().Round(0).UTC()
	in := &Token{AccessToken: "a1", TokenType: "Bearer", RefreshToken: "r1", IDToken: "i1", Scope: "openid", Expiry: now, Version: 1}
	if err := s.Save(ctx, "k", in); err != nil {
		t.Fatal(err)
	}
	in.RefreshToken = "changed by the caller after Save"
	got, err := s.Load(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshToken != "r1" || !got.Expiry.Equal(now) || got.Version != 1 {
		t.Fatalf("Load: got %v, want the record as saved", got)
	}
	got.AccessToken = "changed by the caller after Load"
	if again, _ := s.Load(ctx, "k"); again.AccessToken != "a1" {
		t.Errorf("a change to a loaded record reached the store: %v", again)
	}
	if err := s.Save(ctx, "k", &Token{AccessToken: "a2", Version: 2}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(ctx, "k"); got.RefreshToken != "" || got.IDToken != "" || got.AccessToken != "a2" {
		t.Errorf("Save merged instead of replacing: %v", got)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load after Delete: got %v, want ErrNotFound", err)
	}
}

func checkLock(t *testing.T, l Locker) {
	ctx := context.Background()
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			unlock, err := l.Lock(ctx, "k")
			if err != nil {
				t.Error(err)
				return
			}
			if inside.Add(1) > 1 {
				overlaps.Add(1)
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			if err := unlock(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d holders overlapped", n)
	}

	unlock, err := l.Lock(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	other, err := l.Lock(ctx, "another key") // locks are per key
	if err != nil {
		t.Fatalf("lock of another key while k is held: %v", err)
	}
	other()
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(short, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock of a held key with a short ctx: got %v, want context.DeadlineExceeded", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err == nil {
		t.Error("a second unlock returned nil, want an error")
	}
	again, err := l.Lock(ctx, "k") // a timed-out waiter left nothing behind
	if err != nil {
		t.Fatalf("Lock after the waiter gave up: %v", err)
	}
	again()
}
