package storage

import (
	"context"
	"fmt"
	"sync"
)

// Memory is a [Store] and [Locker] that keeps records in process memory.
// Records are lost when the process exits. Load and Save copy the record,
// so callers never share state with the store.
//
// The zero value is an empty store ready to use. A Memory must not be
// copied after first use. It is safe for concurrent use.
type Memory struct {
	mu      sync.Mutex
	records map[string]Token    // guarded by mu
	locks   map[string]*keyLock // guarded by mu; one entry per locked or waited-for key
}

// keyLock is a lock for one key that can be waited for with a context.
type keyLock struct {
	held    chan struct{} // has one element while the lock is held
	waiters int           // guarded by Memory.mu; entries with no holder and no waiter are removed
}

// NewMemory returns an empty [Memory].
func NewMemory() *Memory { return new(Memory) }

// Load implements [Store].
func (m *Memory) Load(ctx context.Context, key string) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.records[key]
	if !ok {
		return nil, fmt.Errorf("storage: memory: %w", ErrNotFound)
	}
	return &t, nil
}

// Save implements [Store]. It refuses, with an error matching [ErrStale],
// a versioned record whose Version is not above the stored one's.
func (m *Memory) Save(ctx context.Context, key string, t *Token) error {
	if t == nil {
		return fmt.Errorf("storage: memory: save of a nil token")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.records[key]; ok {
		if err := checkFence(&cur, t); err != nil {
			return fmt.Errorf("storage: memory: save %q: %w", key, err)
		}
	}
	if m.records == nil {
		m.records = make(map[string]Token)
	}
	m.records[key] = *t
	return nil
}

// Delete implements [Store].
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.records, key)
	return nil
}

// Lock implements [Locker]: it serialises the holders of key within this
// process. The lock is not reentrant.
func (m *Memory) Lock(ctx context.Context, key string) (func() error, error) {
	m.mu.Lock()
	if m.locks == nil {
		m.locks = make(map[string]*keyLock)
	}
	l := m.locks[key]
	if l == nil {
		l = &keyLock{held: make(chan struct{}, 1)}
		m.locks[key] = l
	}
	l.waiters++
	m.mu.Unlock()

	select {
	case l.held <- struct{}{}:
	case <-ctx.Done():
		m.release(key, l, false)
		return nil, fmt.Errorf("storage: memory: lock %q: %w", key, ctx.Err())
	}
	var once sync.Once
	return func() error {
		released := false
		once.Do(func() { m.release(key, l, true); released = true })
		if !released {
			return fmt.Errorf("storage: memory: lock %q released twice", key)
		}
		return nil
	}, nil
}

// release gives up one waiter's interest in l and, if held, the lock itself.
func (m *Memory) release(key string, l *keyLock, held bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if held {
		<-l.held
	}
	l.waiters--
	if l.waiters == 0 {
		delete(m.locks, key)
	}
}
