package storage

import "errors"

// Errors of the durable stores. Each is returned wrapped, with the path or
// key and what to do about it; test for them with errors.Is. None of them
// ever carries a key, passphrase or token.
var (
	// ErrWrongKey means a record was encrypted with another key than the
	// store's: another FileKey, another passphrase, or (for [Keyring]) a
	// keyring entry that was replaced or removed. The record is left as it
	// is and Save refuses to overwrite it until it is deleted.
	ErrWrongKey = errors.New("storage: wrong key")

	// ErrCorrupt means a record file is damaged, truncated, not a record
	// file at all, or belongs to another account (it was copied or
	// renamed), or that a keyring entry holds something else than what
	// [Keyring] stores there. The record is left as it is and Save refuses
	// to overwrite it until it is deleted.
	ErrCorrupt = errors.New("storage: corrupt record file")

	// ErrUnsupportedVersion means a record file has a format version this
	// program does not know, most likely written by a newer tokenkeeper.
	// The file is left as it is and Save refuses to overwrite it.
	ErrUnsupportedVersion = errors.New("storage: unsupported record file version")

	// ErrInsecurePermissions means a file or directory could be read or
	// changed by other users, is owned by another user, or is a symlink.
	// The message names the fix, e.g. "chmod 600 <path>".
	ErrInsecurePermissions = errors.New("storage: insecure permissions")

	// ErrStale is returned by Save when the store already holds a record
	// for the key whose Version is at or above the one being saved: a
	// newer record was written since the caller loaded its own, and
	// writing would replace it with an older one. The stored record is
	// left as it is; load it and adopt it. A record saved with Version 0
	// is unversioned and is never refused for this reason.
	ErrStale = errors.New("storage: a newer record is stored")

	// ErrRolledBack is returned by Load, and by Save instead of
	// overwriting, when the stored record is older than one the store has
	// seen for the key: the record file was restored from a backup or
	// replaced by an older copy, whose refresh token has most likely been
	// used up (and reusing it may make the provider revoke the login). The
	// record is left as it is; put the newest copy back, or Delete the key
	// and log in again. What a store can detect is described on [File] and
	// [Keyring].
	ErrRolledBack = errors.New("storage: the stored record was rolled back to an older version")

	// ErrTooBig is returned by Save when the record would not fit in a
	// record file (1 MiB once encrypted, the most Load accepts). Nothing
	// is written and the stored record is left as it is.
	ErrTooBig = errors.New("storage: record too big")

	// ErrLockTimeout is returned by Lock when its context is done (deadline
	// or cancellation) before the lock was acquired. The error also wraps
	// the context's error.
	ErrLockTimeout = errors.New("storage: lock not acquired before the context was done")

	// ErrKeyringUnavailable means there is no OS keyring to talk to: no
	// D-Bus session bus or no Secret Service on it (Linux), or an
	// unsupported platform.
	ErrKeyringUnavailable = errors.New("storage: no OS keyring available")

	// ErrKeyringLocked means the keyring (on Linux, the Secret Service's
	// default collection) is locked and was not unlocked when asked.
	ErrKeyringLocked = errors.New("storage: OS keyring is locked")

	// ErrKeyringTooBig means the keyring refused an entry as too large.
	ErrKeyringTooBig = errors.New("storage: entry too big for the OS keyring")

	// ErrKeyringTimeout means a keyring call did not answer within
	// [KeyringConfig.Timeout].
	ErrKeyringTimeout = errors.New("storage: OS keyring did not answer in time")
)
