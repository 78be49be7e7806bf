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
package storage
