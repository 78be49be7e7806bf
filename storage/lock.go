package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// Polling bounds for a lock file held by another process.
const (
	lockPollMin = time.Millisecond
	lockPollMax = 20 * time.Millisecond
)

// lockSet serialises holders of lock files within one process. flock
// conflicts between open file descriptions, but fcntl-based emulations do
// not between goroutines of one process, and waiting on a channel is
// cheaper than polling the file; so each Lock first takes the in-process
// lock for its path, then the file lock. The zero value is ready to use.
type lockSet struct {
	mu    sync.Mutex
	locks map[string]*procLock // guarded by mu; entries with no holder and no waiter are removed
}

// procLock is the in-process lock of one lock file.
type procLock struct {
	held    chan struct{} // has one element while the lock is held
	waiters int           // guarded by lockSet.mu; holder included
}

// Lock implements [Locker]. It takes an advisory lock (flock(2) on Unix,
// LockFileEx on Windows) on the file "<name>.lock" beside key's record,
// creating it with mode 0600 if needed. Lock files are never deleted.
// Goroutines of one process that lock the same key serialise too. Lock
// waits until the lock is free, polling every 1 to 20 ms, or until ctx is
// done, when it returns an error matching [ErrLockTimeout] and ctx.Err().
// The operating system releases the lock of a process that dies, however
// it dies. The lock is not reentrant. The returned unlock function must be
// called exactly once; a second call returns an error.
func (f *File) Lock(ctx context.Context, key string) (func() error, error) {
	if key == "" {
		return nil, errors.New("storage: file: lock of an empty key")
	}
	if err := f.checkSameDir(); err != nil {
		return nil, fmt.Errorf("storage: file: %w", err)
	}
	return f.locks.lock(ctx, f.lockPath(key, ".lock"), key)
}

func (s *lockSet) lock(ctx context.Context, path, key string) (func() error, error) {
	l, err := s.acquire(ctx, path, key)
	if err != nil {
		return nil, err
	}
	fl := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR|noFollow), flock.SetPermissions(0o600))
	if err := pollLock(ctx, fl); err != nil {
		s.release(path, l, true)
		return nil, fmt.Errorf("storage: lock %q: %w", key, err)
	}
	var once sync.Once
	return func() error {
		err := fmt.Errorf("storage: lock %q: unlocked twice", key)
		once.Do(func() {
			err = fl.Unlock()
			s.release(path, l, true)
			if err != nil {
				err = fmt.Errorf("storage: unlock %q: %w", key, err)
			}
		})
		return err
	}, nil
}

// lockProc takes only the in-process lock of path, for callers that
// serialise the goroutines of this process and not other processes. The
// returned function releases it and must be called exactly once.
func (s *lockSet) lockProc(ctx context.Context, path, key string) (func(), error) {
	l, err := s.acquire(ctx, path, key)
	if err != nil {
		return nil, err
	}
	return func() { s.release(path, l, true) }, nil
}

// acquire takes the in-process lock of path or returns an error matching
// ErrLockTimeout and ctx.Err() when ctx is done first.
func (s *lockSet) acquire(ctx context.Context, path, key string) (*procLock, error) {
	s.mu.Lock()
	if s.locks == nil {
		s.locks = make(map[string]*procLock)
	}
	l := s.locks[path]
	if l == nil {
		l = &procLock{held: make(chan struct{}, 1)}
		s.locks[path] = l
	}
	l.waiters++
	s.mu.Unlock()

	select {
	case l.held <- struct{}{}:
		return l, nil
	case <-ctx.Done():
		s.release(path, l, false)
		return nil, fmt.Errorf("storage: lock %q: %w: %w", key, ErrLockTimeout, ctx.Err())
	}
}

// pollLock tries fl until it is locked or ctx is done.
func pollLock(ctx context.Context, fl *flock.Flock) error {
	wait := lockPollMin
	var timer *time.Timer
	for {
		ok, err := fl.TryLock()
		if err != nil {
			return symlinkError(fl.Path(), err) // err names the path
		}
		if ok {
			return nil
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrLockTimeout, ctx.Err())
		case <-timer.C:
		}
		wait = min(2*wait, lockPollMax)
	}
}

// release gives up one waiter's interest in l and, if held, the lock.
func (s *lockSet) release(path string, l *procLock, held bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if held {
		<-l.held
	}
	l.waiters--
	if l.waiters == 0 {
		delete(s.locks, path)
	}
}
