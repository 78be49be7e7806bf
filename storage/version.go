package storage

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
)

// checkFence returns an error wrapping ErrStale when t may not replace
// stored, the record the store holds for the key (nil when none): stored
// has a Version at or above t's and t is versioned (Version > 0).
func checkFence(stored, t *Token) error {
	if stored == nil || t.Version == 0 || t.Version > stored.Version {
		return nil
	}
	return fmt.Errorf("%w: the stored record has version %d, this one %d; Load the stored record and use it instead",
		ErrStale, stored.Version, t.Version)
}

// newLineage returns a new random lineage id.
func newLineage() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lineage: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// maxRetired bounds the retired lineages remembered per key.
const maxRetired = 8

// seenRecords is what a [File] remembers, in this process, of the records
// it has loaded and saved, to refuse a record rolled back to an older
// version. The zero value is ready to use.
type seenRecords struct {
	mu   sync.Mutex
	keys map[string]*seenKey // guarded by mu
}

// seenKey is what is known of one key's records. Its methods are called
// with the key's in-process lock held (File.keyMu), never concurrently.
type seenKey struct {
	lineage string   // the lineage of the newest record seen; "" none
	version uint64   // the highest version seen in that lineage
	retired []string // lineages replaced since (a Delete, a new login), oldest first
}

// get returns key's state, creating it.
func (s *seenRecords) get(key string) *seenKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = make(map[string]*seenKey)
	}
	k := s.keys[key]
	if k == nil {
		k = new(seenKey)
		s.keys[key] = k
	}
	return k
}

// check returns an error wrapping ErrRolledBack when a record of lineage
// with version v is older than what was seen: a lower version of the same
// lineage, a record of a lineage replaced since, or a version below floor
// (known from outside this process, 0 for none). Unversioned records
// (version 0) and records without a lineage are not checked.
func (k *seenKey) check(lineage string, v, floor uint64) error {
	const fix = "the record file was restored from a backup or replaced by an older copy, and its refresh token has probably been used up; " +
		"put the newest copy back, or Delete the key and log in again"
	switch {
	case v == 0:
		return nil
	case v < floor:
		return fmt.Errorf("%w: version %d is older than version %d, recorded in the OS keyring at the last save; %s", ErrRolledBack, v, floor, fix)
	case lineage == "":
		return nil
	case lineage == k.lineage && v < k.version:
		return fmt.Errorf("%w: version %d is older than version %d, seen by this process; %s", ErrRolledBack, v, k.version, fix)
	case slices.Contains(k.retired, lineage):
		return fmt.Errorf("%w: the record belongs to a login that a Delete or a new login replaced; %s", ErrRolledBack, fix)
	}
	return nil
}

// observe records a record of lineage with version v that was loaded.
func (k *seenKey) observe(lineage string, v uint64) {
	switch {
	case lineage == "":
	case lineage == k.lineage:
		k.version = max(k.version, v)
	default:
		k.retire()
		k.lineage, k.version = lineage, v
	}
}

// saved records a record of lineage with version v that was just saved.
func (k *seenKey) saved(lineage string, v uint64) {
	if lineage != k.lineage {
		k.retire()
	}
	k.lineage, k.version = lineage, v
}

// retire moves the current lineage to the retired ones.
func (k *seenKey) retire() {
	if k.lineage == "" {
		return
	}
	if len(k.retired) == maxRetired {
		k.retired = slices.Delete(k.retired, 0, 1)
	}
	k.retired = append(k.retired, k.lineage)
	k.lineage, k.version = "", 0
}
