package storage

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dbus "github.com/godbus/dbus/v5"
)

// TestKeyringRealLocked locks the Secret Service's login collection over
// D-Bus. go-keyring then asks the service to unlock it, the service cannot
// show its prompt (no display), and the call must fail promptly with
// ErrKeyringLocked. The collection is unlocked again with the throw-away
// password through gnome-keyring's internal interface.
func TestKeyringRealLocked(t *testing.T) {
	k := realKeyring(t)
	pass := os.Getenv(keyringPassEnv)
	if pass == "" {
		skipOrFail(t, keyringPassEnv+" is not set, so the collection could not be unlocked again")
	}
	ctx := context.Background()
	mustSave(t, k, "acct", testToken(1, 0))
	conn, err := dbus.SessionBus()
	if err != nil {
		t.Fatal(err)
	}
	svc := conn.Object(secretsName, "/org/freedesktop/secrets")
	var locked []dbus.ObjectPath
	var prompt dbus.ObjectPath
	if err := svc.Call("org.freedesktop.Secret.Service.Lock", 0, []dbus.ObjectPath{loginCollection}).Store(&locked, &prompt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unlockCollection(t, conn, pass) })
	if !collectionLocked() {
		t.Fatal("the collection is not locked after Lock")
	}

	fresh, err := NewKeyring(KeyringConfig{Service: k.service, Dir: k.files.dir, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for name, op := range map[string]func() error{
		"Load":            func() error { _, err := fresh.Load(ctx, "acct"); return err },
		"Save of new key": func() error { return fresh.Save(ctx, "other", testToken(1, 0)) },
	} {
		start := time.Now()
		err := op()
		if !errors.Is(err, ErrKeyringLocked) {
			t.Errorf("%s: got %v, want ErrKeyringLocked", name, err)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("%s took %v", name, el)
		}
	}
	unlockCollection(t, conn, pass)
	if _, err := fresh.Load(ctx, "acct"); err != nil {
		t.Fatalf("Load after unlocking: %v", err)
	}
}

// unlockCollection unlocks the login collection with its password.
func unlockCollection(t *testing.T, conn *dbus.Conn, pass string) {
	t.Helper()
	svc := conn.Object(secretsName, "/org/freedesktop/secrets")
	var out dbus.Variant
	var session dbus.ObjectPath
	if err := svc.Call("org.freedesktop.Secret.Service.OpenSession", 0, "plain", dbus.MakeVariant("")).Store(&out, &session); err != nil {
		t.Fatal(err)
	}
	secret := struct {
		Session     dbus.ObjectPath
		Parameters  []byte
		Value       []byte
		ContentType string
	}{session, []byte{}, []byte(pass), "text/plain"}
	err := svc.Call("org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface.UnlockWithMasterPassword", 0, loginCollection, secret).Err
	if err != nil {
		t.Fatalf("unlock the collection: %v", err)
	}
}

// TestKeyringNoDBus runs go-keyring in a child process (godbus keeps one
// session bus connection per process) with no usable session bus, and
// expects ErrKeyringUnavailable promptly; and with a bus that never
// answers, ErrKeyringTimeout after the configured timeout.
func TestKeyringNoDBus(t *testing.T) {
	dir := t.TempDir()
	silent := filepath.Join(dir, "silent.sock")
	l, err := net.Listen("unix", silent)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // accept and never answer
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"nonexistent socket", []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(dir, "nonexistent")}, "unavailable"},
		{"no address", []string{"DBUS_SESSION_BUS_ADDRESS=", "XDG_RUNTIME_DIR=" + dir}, "unavailable"},
		{"bus never answers", []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + silent}, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			c := startChild(t, "TestKeyringNoDBus", "keyring-get", filepath.Join(t.TempDir(), "d"), make([]byte, KeySize), "300ms", tt.env...)
			line := c.expect(t, "result ")
			if !strings.HasPrefix(line, "result "+tt.want+" ") {
				t.Fatalf("got %q, want %q", line, tt.want)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("took %v", el)
			}
			t.Log(line)
		})
	}
}
