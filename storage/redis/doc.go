// Package redisstore is a shared [storage.Store] on Redis for services
// whose replicas act for the same accounts: a [storage.Locker] and
// [storage.LeaseLocker] whose lock is a lease, with fenced saves and
// records encrypted at rest in the format of the encrypted file store.
//
// It lives in its own module, github.com/tokenkeeper/tokenkeeper/storage/redis,
// so that programs which do not import it do not download go-redis.
//
// # Data layout
//
// For an account key K and [Config.Prefix] P (default "tokenkeeper:"),
// with T = up to 32 characters of K (everything but ASCII letters,
// digits and "@._+-" replaced by "_") followed by "-" and 32 hex digits of
// SHA-256(K):
//
//	P{T}:record  a hash: v = the record's Version (decimal), d = the record
//	             sealed by storage.SealRecord (AES-256-GCM, K in the
//	             associated data)
//	P{T}:lock    a string with a random owner token and a TTL (the lease)
//
// The braces are a Redis Cluster hash tag: both keys of an account live in
// the same slot, so every script touches one slot. Neither key holds a
// token in clear, so a dump, a replica or MONITOR shows none; v is in clear
// so that scripts can fence saves without the key.
//
// # Locks
//
// A lease is SET P{T}:lock <owner> NX PX <LeaseTTL>, in a script that also
// recognises its own owner token so that an acquisition whose answer was
// lost is not mistaken for another holder. The owner token is 128 random
// bits from crypto/rand. Release and renewal are compare-and-delete and
// compare-and-PEXPIRE scripts, so only the owner ends or extends a lease.
// A holder that crashes blocks the others for at most LeaseTTL. While a
// lease is held a goroutine renews it every LeaseTTL/3, until Release;
// [storage.Lease.Keep] renews it on demand (package tokensource calls it
// right before each token request). Waiters poll with capped exponential
// back-off and full jitter (at most [Config.MaxWait] between attempts),
// honouring their ctx. Polling rather than pub/sub or keyspace
// notifications: those need a dedicated connection per waiter and
// notify-keyspace-events in the server's configuration (often not
// allowed on managed Redis), and an expired lease announces nothing, so a
// poll would be needed anyway; a lock is held for one token request, and
// a waiter sends about 25 commands a second at most.
//
// [storage.Lease.Keep] extends the lease to the duration asked for, so a
// holder killed while its token request is in flight blocks the others
// until what Keep asked for runs out (tokensource asks for its
// RefreshTimeout, 30 s by default), not only LeaseTTL; a holder that
// crashes at any other time blocks them for at most LeaseTTL.
//
// What a lease cannot rule out: a holder paused (GC, SIGSTOP, a frozen VM)
// for longer than the lease, between a successful Keep and its request
// reaching the provider, or between the provider's answer and its Save.
// Keep confirms the lease for at least tokensource's RefreshTimeout, so
// only a pause longer than what is left of it opens the window; the
// fenced Save then still refuses to replace a newer record.
//
// # Persistence
//
// Run Redis with persistence for the records (appendonly yes; with
// appendfsync always no acknowledged rotation is lost). A Redis that
// restarts empty has lost every record: package tokensource cannot tell
// that from a logout by another replica, so each Source reports
// tokensource.ErrLoginRequired (ReasonLoggedOut) at its next refresh and
// never writes its in-memory copy back. A Redis that restarts with an
// older copy (appendfsync everysec, a restored snapshot) may hold a
// refresh token that was already rotated; with a provider that detects
// reuse, the next refresh then ends the session.
//
// # Errors
//
// Every Redis call is bounded by [Config.Timeout]. When Redis cannot be
// reached or does not answer in time the error wraps [ErrUnavailable]; a
// caller's cancelled or expired ctx is reported as ctx.Err(). No error
// holds a key, a token or the Redis password.
package redisstore
