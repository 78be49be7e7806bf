package storage

import (
	"fmt"
	"log/slog"
)

// The stores describe themselves without their records or keys: fmt would
// otherwise print a store's fields, cached tokens and file keys included.
// Their methods have pointer receivers because a store must not be
// copied; fmt prints a nil store as <nil>.

// String describes f by its directory.
func (f *File) String() string {
	if f == nil {
		return "<nil>"
	}
	return fmt.Sprintf("storage.File{Dir:%q}", f.dir)
}

// GoString is String: %#v never reveals the key either.
func (f *File) GoString() string { return f.String() }

// Format implements fmt.Formatter: every verb prints String.
func (f *File) Format(s fmt.State, verb rune) { fmt.Fprint(s, f.String()) }

// LogValue implements slog.LogValuer with the directory only.
func (f *File) LogValue() slog.Value {
	if f == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("dir", f.dir))
}

// String describes m without its records.
func (m *Memory) String() string {
	if m == nil {
		return "<nil>"
	}
	return "storage.Memory{}"
}

// GoString is String: %#v never reveals a record either.
func (m *Memory) GoString() string { return m.String() }

// Format implements fmt.Formatter: every verb prints String.
func (m *Memory) Format(s fmt.State, verb rune) { fmt.Fprint(s, m.String()) }

// LogValue implements slog.LogValuer without the records.
func (m *Memory) LogValue() slog.Value { return slog.StringValue(m.String()) }

// String describes k by its service and records directory.
func (k *Keyring) String() string {
	if k == nil {
		return "<nil>"
	}
	return fmt.Sprintf("storage.Keyring{Service:%q Dir:%q}", k.service, k.files.dir)
}

// GoString is String: %#v never reveals a cached key either.
func (k *Keyring) GoString() string { return k.String() }

// Format implements fmt.Formatter: every verb prints String.
func (k *Keyring) Format(s fmt.State, verb rune) { fmt.Fprint(s, k.String()) }

// LogValue implements slog.LogValuer with the service and directory only.
func (k *Keyring) LogValue() slog.Value {
	if k == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("service", k.service), slog.String("dir", k.files.dir))
}
