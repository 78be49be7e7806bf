package storage

import (
	"context"
	"errors"
	"time"
)

// ErrLeaseLost is returned, wrapped, by [Lease.Keep] when the lease has
// expired (its holder was paused, or partitioned from the store, for
// longer than the lease lasts) and so another process may hold the lock
// now. Whatever the holder read under the lease may be stale.
var ErrLeaseLost = errors.New("storage: lock lease lost")

// Lease is a lock on one key that lasts a bounded time unless it is kept,
// as a shared store such as Redis grants one: a crashed holder blocks the
// others only until the lease runs out.
//
// A Lease is used by one goroutine at a time.
type Lease interface {
	// Keep makes sure the lease is held for at least d from now, renewing
	// it if it would end sooner. It returns an error wrapping
	// [ErrLeaseLost] if the lease was lost; the holder must then not act
	// on what it read under the lease (package tokensource re-reads under
	// a new lease instead of redeeming a refresh token another process
	// may have redeemed). Other errors (the store cannot be reached) mean
	// the lease could not be confirmed.
	Keep(ctx context.Context, d time.Duration) error
	// Release ends the lease if it is still held. It is called exactly
	// once.
	Release() error
}

// LeaseLocker is implemented by stores whose locks are leases. Package
// tokensource prefers it to [Locker] and calls [Lease.Keep] right before
// each token request leaves the process, so that a holder whose lease
// expired during a pause does not redeem a refresh token another holder
// has already rotated. The window that remains is the time between Keep
// and the request reaching the provider.
//
// LockLease blocks until it holds the lease for key or ctx is done, in
// which case it returns an error wrapping ctx.Err().
type LeaseLocker interface {
	LockLease(ctx context.Context, key string) (Lease, error)
}
