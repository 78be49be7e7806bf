package storage

import (
	"context"
	"slices"
)

// Lister is implemented by stores that can list the keys they hold a
// record for. Keys returns them sorted; a key deleted or saved while Keys
// runs may or may not be listed. It honours ctx for any I/O it does.
//
// [Memory] implements it. [File] and [Keyring] do not: a record's file
// name is a digest of its key (the key itself is only the associated data
// of its encryption), so the key cannot be read back from the directory,
// and OS keyrings have no portable way to enumerate entries. Package
// client keeps its own index of the accounts it logged in, for any store.
type Lister interface {
	Keys(ctx context.Context) ([]string, error)
}

var _ Lister = (*Memory)(nil)

// Keys implements [Lister]: the keys of the records m holds, sorted.
func (m *Memory) Keys(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	keys := make([]string, 0, len(m.records))
	for k := range m.records {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	slices.Sort(keys)
	return keys, nil
}
