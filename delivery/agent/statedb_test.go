package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/consign/consign"
)

// openTestState opens a state file in a fresh directory, without fsyncs,
// and closes it when the test ends.
func openTestState(t testing.TB) (*State, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.db")
	st, err := OpenState(path, &StateOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

// reopen closes st and opens its file again.
func reopen(t testing.TB, st *State) *State {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, err := OpenState(st.Path(), &StateOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	return st2
}

func TestStateKeyValue(t *testing.T) {
	st, _ := openTestState(t)
	if _, ok, err := st.Get("etag"); err != nil || ok {
		t.Fatalf("Get of a missing key = ok %v, err %v; want false, nil", ok, err)
	}
	if err := st.Put("etag", []byte(`"v1"`)); err != nil {
		t.Fatal(err)
	}
	if err := st.Put("empty", nil); err != nil {
		t.Fatal(err)
	}
	v, ok, err := st.Get("etag")
	if err != nil || !ok || string(v) != `"v1"` {
		t.Fatalf("Get = %q, %v, %v; want \"v1\", true, nil", v, ok, err)
	}
	v[0] = 'X' // the caller's copy
	st = reopen(t, st)
	if v, ok, _ := st.Get("etag"); !ok || string(v) != `"v1"` {
		t.Fatalf("after reopen Get = %q, %v; want \"v1\", true", v, ok)
	}
	if v, ok, _ := st.Get("empty"); !ok || len(v) != 0 {
		t.Fatalf("Get(empty) = %q, %v; want empty, true", v, ok)
	}
	if err := st.Delete("etag"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete("never"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if _, ok, _ := st.Get("etag"); ok {
		t.Fatal("deleted key still there")
	}
}

func TestStateInvalidKeys(t *testing.T) {
	st, _ := openTestState(t)
	for _, k := range []string{"", strings.Repeat("k", MaxKeyLen+1)} {
		err := st.Put(k, []byte("v"))
		var ve *consign.ValidationError
		if !errors.Is(err, consign.ErrInvalid) || !errors.As(err, &ve) || ve.Field != "key" {
			t.Errorf("Put(%d-byte key) = %v; want ErrInvalid naming key", len(k), err)
		}
		if err := st.Delete(k); !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("Delete(%d-byte key) = %v; want ErrInvalid", len(k), err)
		}
	}
	if _, err := OpenState("", nil); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("OpenState(\"\") = %v; want ErrInvalid", err)
	}
}

func TestStateLockedBySecondAgent(t *testing.T) {
	_, path := openTestState(t)
	start := time.Now()
	_, err := OpenState(path, &StateOptions{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, consign.ErrUnavailable) || !strings.Contains(err.Error(), "locked by another agent") {
		t.Fatalf("second OpenState = %v; want ErrUnavailable saying the file is locked", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("second OpenState took %v with a 50ms timeout", el)
	}
	if _, err := OpenState(path, &StateOptions{LockTimeout: -1}); !errors.Is(err, consign.ErrUnavailable) {
		t.Fatalf("no-wait OpenState = %v; want ErrUnavailable", err)
	}
}

func TestStateClosed(t *testing.T) {
	st, _ := openTestState(t)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := st.Put("k", nil); !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("Put after Close = %v; want ErrUnavailable", err)
	}
	if _, _, err := st.Get("k"); !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("Get after Close = %v; want ErrUnavailable", err)
	}
	ob, _ := NewOutbox(st, nil)
	if err := ob.Add(testMessage(1)); !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("Outbox.Add after Close = %v; want ErrUnavailable", err)
	}
}

func TestStateRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()

	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("records")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenState(foreign, nil); !errors.Is(err, consign.ErrFailedPrecondition) || !strings.Contains(err.Error(), "not an agent state file") {
		t.Errorf("OpenState(other bbolt file) = %v; want ErrFailedPrecondition", err)
	}

	newer := filepath.Join(dir, "newer.db")
	st, err := OpenState(newer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(metaBucket).Put(formatKey, putUint64(StateFormat+1))
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := OpenState(newer, nil); !errors.Is(err, consign.ErrFailedPrecondition) || !strings.Contains(err.Error(), "newer") {
		t.Errorf("OpenState(newer format) = %v; want ErrFailedPrecondition saying newer", err)
	}

	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not bbolt ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenState(garbage, nil); !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Errorf("OpenState(garbage) = %v; want ErrFailedPrecondition", err)
	}
}
