package storage

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	dbus "github.com/godbus/dbus/v5"
	"github.com/zalando/go-keyring"
)

// keyringAvailable reports ErrKeyringUnavailable when there is no D-Bus
// session bus to connect to. Without this check go-keyring's D-Bus library
// would run dbus-launch, which starts a session bus that outlives us.
func keyringAvailable() error {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return nil
	}
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = "/run/user/" + strconv.Itoa(os.Getuid())
	}
	for _, name := range []string{"bus", "dbus-session"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)", ErrKeyringUnavailable)
}

// Secret Service names used to diagnose errors.
const (
	secretsName        = "org.freedesktop.secrets"
	loginCollection    = dbus.ObjectPath("/org/freedesktop/secrets/collection/login")
	defaultCollection  = dbus.ObjectPath("/org/freedesktop/secrets/aliases/default")
	collectionLockProp = "org.freedesktop.Secret.Collection.Locked"
)

// classifyOS maps a go-keyring error on Linux: failures to reach the bus or
// the Secret Service are ErrKeyringUnavailable. go-keyring reports a
// locked collection it could not unlock (the unlock prompt was dismissed
// or could not be shown) with an untyped error, so for other errors the
// collection's Locked property is read: if it is locked, the error is
// ErrKeyringLocked. No error text is matched.
func classifyOS(err error) error {
	if err == nil || errors.Is(err, keyring.ErrNotFound) {
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", ErrKeyringUnavailable, err)
	}
	if collectionLocked() {
		return fmt.Errorf("%w: %w", ErrKeyringLocked, err)
	}
	return err
}

func unavailable(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) || errors.Is(err, dbus.ErrClosed) {
		return true
	}
	name := ""
	var e dbus.Error
	var pe *dbus.Error
	switch {
	case errors.As(err, &e):
		name = e.Name
	case errors.As(err, &pe):
		name = pe.Name
	default:
		return false
	}
	switch name {
	case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner",
		"org.freedesktop.DBus.Error.NoServer", "org.freedesktop.DBus.Error.Disconnected",
		"org.freedesktop.DBus.Error.Spawn.ExecFailed", "org.freedesktop.DBus.Error.Spawn.ChildExited",
		"org.freedesktop.DBus.Error.Spawn.ServiceNotFound", "org.freedesktop.DBus.Error.Spawn.FileInvalid":
		return true
	}
	return false
}

// collectionLocked reports whether the collection go-keyring uses (login,
// or else the default alias) is locked.
func collectionLocked() bool {
	conn, err := dbus.SessionBus()
	if err != nil {
		return false
	}
	for _, path := range []dbus.ObjectPath{loginCollection, defaultCollection} {
		v, err := conn.Object(secretsName, path).GetProperty(collectionLockProp)
		if err != nil {
			continue
		}
		locked, ok := v.Value().(bool)
		return ok && locked
	}
	return false
}
