// Package storage persists the tokens of one or more accounts.
//
// A [Store] keeps one [Token] record per account key. [Memory] keeps
// records in process memory; the encrypted file store and the OS keyring
// store keep them across process restarts. Stores that can serialise
// refreshes between processes also implement [Locker].
//
// Package tokensource is the only writer most programs need: it loads the
// record, refreshes it, bumps [Token.Version] and saves it back. Programs
// that manage tokens by hand follow the same contract.
//
// # Durable stores
//
// [File] keeps each account's record in its own AES-256-GCM encrypted
// file, for backends and headless programs. Its key is a [FileKey]: 32
// bytes given directly ([KeyFromBytes]), read from a file ([KeyFromFile])
// or an environment variable ([KeyFromEnv]), or derived from a passphrase
// with Argon2id ([KeyFromPassphrase]). Writes are atomic (temporary file,
// fsync, rename, directory fsync), files are mode 0600 in a 0700
// directory, and files that others could read or change are refused.
//
// [Keyring] is for desktop and CLI programs: the OS keyring holds a random
// key per account and the record is a [File] record encrypted with it, so
// records of any size work on every platform.
//
// [NewNative] makes the choice a desktop or CLI program needs: a
// [Keyring] when the machine has an OS keyring, else a [File] whose key
// file it creates, with a notice for the user; it moves a record from one
// to the other when the choice changes.
//
// All three lock an account across processes with a lock file
// ([File.Lock]).
//
// # Errors
//
// A record that cannot be read is never taken as "no record" and never
// overwritten by Save: [ErrWrongKey], [ErrCorrupt], [ErrUnsupportedVersion],
// [ErrInsecurePermissions] and [ErrRolledBack] (an older copy of the record
// was put back) say why, and the message names the fix. Save refuses a
// record that is not newer than the stored one with [ErrStale] (see
// [Store]) and, in the durable stores, one too big to be loaded again with
// [ErrTooBig].
// [ErrLockTimeout] reports a Lock whose context ended first; the keyring's
// own failures are [ErrKeyringUnavailable], [ErrKeyringLocked],
// [ErrKeyringTooBig] and [ErrKeyringTimeout]. No error carries a key,
// passphrase or token.
package storage
