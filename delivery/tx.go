package delivery

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection"
	pkg "github.com/consign/consign/package"
)

// tx collects one workflow's writes. Each write expects the revision the
// Site last saw for its record, so a concurrent change by another Site
// process makes the whole Apply fail with a conflict instead of being lost.
type tx struct {
	st     *state
	now    time.Time
	writes []Write
	index  map[rkey]int // position of each record in writes
	serial uint32       // next object serial handed out by this tx
	// ciSerial is the next CI_ID handed out by this tx.
	ciSerial uint32
	// programs planned in this tx, for dependency-chain checks.
	programs map[pkg.ProgramRef]*pkg.Program
	// newPackage is a package created earlier in this plan (DistributeSoftware).
	newPackage *pkg.Package
	// newCollection is a collection created earlier in this plan.
	newCollection *collection.Collection
	// ids are the object IDs this plan creates.
	ids map[consign.ObjectID]bool
}

func (t *tx) expect(kind, key string) int64 {
	rev, _ := t.st.revision(kind, key) // 0 when absent: "must not exist"
	return rev
}

// grow makes room for n more writes, for plans that know their size.
func (t *tx) grow(n int) {
	if t.index == nil {
		t.index = make(map[rkey]int, n)
	}
	t.writes = slices.Grow(t.writes, n)
}

func (t *tx) add(w Write) {
	k := rkey{w.Record.Kind, w.Record.Key}
	if t.index == nil {
		t.index = make(map[rkey]int)
	}
	if i, ok := t.index[k]; ok {
		t.writes[i] = w // a later write of the same record in one plan wins
		return
	}
	t.index[k] = len(t.writes)
	t.writes = append(t.writes, w)
}

// put encodes v as the record kind/key.
func (t *tx) put(kind, key string, index map[string]string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		// Every stored type is plain data; failing to encode one is a bug.
		panic(fmt.Sprintf("delivery: encoding %s/%s: %v", kind, key, err))
	}
	t.putData(kind, key, index, data)
}

// putData writes already encoded data as the record kind/key.
func (t *tx) putData(kind, key string, index map[string]string, data []byte) {
	t.add(Write{Op: Put, Record: Record{Kind: kind, Key: key, Index: index, Data: data}, Expect: t.expect(kind, key)})
}

// puts reports whether this plan writes the record kind/key.
func (t *tx) puts(kind, key string) bool {
	i, ok := t.index[rkey{kind, key}]
	return ok && t.writes[i].Op == Put
}

// del deletes the record kind/key if the Site knows it.
func (t *tx) del(kind, key string) {
	if _, ok := t.st.revision(kind, key); !ok {
		if i, ok := t.index[rkey{kind, key}]; ok {
			// Created earlier in this plan: drop the creation.
			t.writes[i] = Write{Op: Delete, Record: Record{Kind: kind, Key: key}, Expect: AnyRevision}
		}
		return
	}
	t.add(Write{Op: Delete, Record: Record{Kind: kind, Key: key}, Expect: t.expect(kind, key)})
}

// guard records that this plan relies on the object kind/key staying: it
// rewrites the object's guard record (created with the object). Deleting the object deletes the guard
// with the revision the deleter saw (unguard), so a deletion racing with
// this plan in another Site process conflicts with it, whichever commits
// first — instead of leaving, say, an advertisement of a deleted
// collection.
func (t *tx) guard(kind, key string) {
	t.put(kindGuard, kind+"/"+key, nil, struct{}{})
}

// unguard deletes the guard of kind/key along with the object, expecting
// the guard as this Site saw it (absent included).
func (t *tx) unguard(kind, key string) {
	k := kind + "/" + key
	t.add(Write{Op: Delete, Record: Record{Kind: kindGuard, Key: k}, Expect: t.expect(kindGuard, k)})
}

// newID hands out the next object ID of this site, persisting the counter
// in the same atomic write.
func (t *tx) newID() consign.ObjectID {
	if t.serial == 0 {
		t.serial = t.st.counter
		if t.serial == 0 {
			t.serial = 1
		}
	}
	id := consign.NewObjectID(t.st.opts.SiteCode, t.serial)
	for t.idTaken(id) {
		t.serial++
		id = consign.NewObjectID(t.st.opts.SiteCode, t.serial)
	}
	t.serial++
	t.put(kindCounter, counterKey, nil, t.serial)
	return id
}

// idTaken reports whether a package, collection or advertisement has id,
// stored or planned in this tx (imported objects may use this site's code,
// and one DistributeSoftware creates several objects).
func (t *tx) idTaken(id consign.ObjectID) bool {
	if t.ids[id] {
		return true
	}
	if _, ok := t.st.packages[id]; ok {
		return true
	}
	if _, ok := t.st.ads[id]; ok {
		return true
	}
	_, ok := t.st.engine.Collection(id)
	return ok
}

// claim records that this tx creates an object with id.
func (t *tx) claim(id consign.ObjectID) {
	if t.ids == nil {
		t.ids = make(map[consign.ObjectID]bool)
	}
	t.ids[id] = true
}

// sortedKeys returns m's keys in order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mustDecode decodes a record this Site encoded itself.
func mustDecode(data []byte, v any) {
	if err := json.Unmarshal(data, v); err != nil {
		panic(fmt.Sprintf("delivery: decoding own record: %v", err))
	}
}

// prefixed puts a path prefix such as "NewPrograms[2]" before the field of
// every validation error in err.
func prefixed(err error, field string, i int) error {
	return under(err, fmt.Sprintf("%s[%d]", field, i))
}

// under puts prefix and a dot before the field of every validation error
// in err ("device" + "Name" → "device.Name").
func under(err error, prefix string) error {
	return rewrite(err, func(ve *consign.ValidationError) *consign.ValidationError {
		return &consign.ValidationError{Field: prefix + "." + ve.Field, Value: ve.Value, Rule: ve.Rule}
	})
}

// without drops the validation errors about the given fields from err.
func without(err error, fields ...string) error {
	return rewrite(err, func(ve *consign.ValidationError) *consign.ValidationError {
		if slices.Contains(fields, ve.Field) {
			return nil
		}
		return ve
	})
}

// rewrite maps every validation error in err through f (nil drops it);
// other errors are kept as they are.
func rewrite(err error, f func(*consign.ValidationError) *consign.ValidationError) error {
	if err == nil {
		return nil
	}
	var probs consign.Problems
	var me interface{ WrappedErrors() []error }
	errs := []error{err}
	if errors.As(err, &me) {
		errs = me.WrappedErrors()
	}
	for _, e := range errs {
		var ve *consign.ValidationError
		if !errors.As(e, &ve) {
			probs.Merge(e)
		} else if nv := f(ve); nv != nil {
			probs.AddValue(nv.Field, nv.Value, nv.Rule)
		}
	}
	return probs.Err()
}
