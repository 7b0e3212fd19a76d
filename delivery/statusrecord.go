package delivery

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/tasksequence"
)

// Status and execution-history records are the Site's highest-volume
// writes (every batch of status messages rewrites one per device and
// advertisement),
// so, like devices (collection.EncodeDevice), they are stored in a compact
// binary form.
//
// A status record (kindStatus, key advertisement/device) holds a device's
// status for an advertisement and what the Site remembers of the messages
// taken in for it:
//
//	version byte (statusCodec)
//	byte    HasExitCode | LastStatusTime set<<1 | LastAcceptanceTime set<<2 |
//	        task sequence run set<<3 | task sequence steps<<4
//	varint  Acceptance, Delivery, LastEvent, LastMessageID, LastExitCode
//	time    LastStatusTime, LastAcceptanceTime, when set: varint Unix
//	        seconds, uvarint nanoseconds
//	string  Detail (uvarint length, bytes)
//	uvarint count, then count × 8 bytes: recent message-ID hashes, oldest first
//	uvarint count, then per program run recorded: string PackageID,
//	        string Program, history
//	time    TaskSequenceRun, when flags bit 3 is set
//	        uvarint count, then per task sequence step, when flags bit 4
//	        is set: uvarint index, byte state | continued<<4, varint
//	        exit code, string name, string detail
//
// A history is a byte Ran | Succeeded<<1 and, when Ran, LastRun as a time.
// Times decode in UTC.
//
// A device's execution history of a program (what rerun rules check,
// §1.18) travels in the status record of the advertisement whose messages
// recorded the run, so that taking in a batch writes one record per
// advertisement, not one more per program. The Site's history of a program
// is the latest run any of the device's status records (or history
// records) holds. Deleting an advertisement moves the runs its statuses
// recorded into history records (kindHistory, key device/program: a
// version byte, historyCodec, and a history), so the device's history
// outlives the advertisement, as the client's own does.
const (
	statusCodec  byte = 1
	historyCodec byte = 1
)

// recentMessages is how many message IDs the Site remembers per device and
// advertisement to recognise a resent message. A device resends what it
// has not seen acknowledged — the last batch or few — so 32 covers every
// honest resend; an older message sent again is taken as new, which
// changes nothing, because a status only moves forward in time
// (advertisement.ClientStatus.Apply ignores a message older than the last
// one on its track) and a history keeps the latest run.
const recentMessages = 32

// clientState is what the Site keeps of one device's status for one
// advertisement. Values are immutable once stored in adState.statuses.
type clientState struct {
	advertisement.ClientStatus
	// recent holds messageHash of the last recentMessages message IDs
	// taken in for the advertisement, oldest first.
	recent []uint64
	// runs are the program runs the advertisement's messages recorded:
	// its program's and those of programs run first (§1.3), each the
	// latest known when it was recorded, in no particular order.
	runs []programRun
	// tsRun is when the device's latest run of the advertised task
	// sequence started (its Started message); steps are how that run's
	// steps ended, by step index. Never written into once stored.
	tsRun time.Time
	steps []stepRecord
}

// stepRecord is how one task sequence step ended on a device.
type stepRecord struct {
	index     int
	name      string
	state     tasksequence.StepState
	continued bool
	exitCode  int
	detail    string
}

// setStep records how step m.Step ended, replacing an earlier report of
// the same step, and keeps steps by index. It never writes into a slice
// shared with a stored value.
func (c *clientState) setStep(m advertisement.Message) {
	r := stepRecord{index: m.Step.Index, name: m.Step.Name, state: m.Step.State, continued: m.Step.Continued, exitCode: m.ExitCode, detail: m.Detail}
	i, found := slices.BinarySearchFunc(c.steps, r.index, func(s stepRecord, idx int) int { return cmp.Compare(s.index, idx) })
	c.steps = slices.Clone(c.steps)
	if found {
		c.steps[i] = r
		return
	}
	c.steps = slices.Insert(c.steps, i, r)
}

// programRun is a device's execution history of one program.
type programRun struct {
	ref pkg.ProgramRef
	h   advertisement.History
}

// run returns the history of ref that c holds.
func (c *clientState) run(ref pkg.ProgramRef) (advertisement.History, bool) {
	for _, r := range c.runs {
		if r.ref == ref {
			return r.h, true
		}
	}
	return advertisement.History{}, false
}

// setRun records h as the history of ref in c, never writing into a slice
// shared with a stored value.
func (c *clientState) setRun(ref pkg.ProgramRef, h advertisement.History) {
	i := slices.IndexFunc(c.runs, func(r programRun) bool { return r.ref == ref })
	c.runs = slices.Clone(c.runs)
	if i < 0 {
		c.runs = append(c.runs, programRun{ref, h})
		return
	}
	c.runs[i].h = h
}

// hasStatus reports whether the device has a status for the advertisement:
// a record may hold only the IDs of messages about programs run first
// (§1.3), which leave the advertisement's status at No Status.
func (c *clientState) hasStatus() bool {
	return c != nil && c.ClientStatus != (advertisement.ClientStatus{})
}

// seen reports whether a message with ID hash h was taken in recently.
func (c *clientState) seen(h uint64) bool { return slices.Contains(c.recent, h) }

// remember notes the message ID hash h, forgetting the oldest beyond
// recentMessages. It never writes into a slice shared with a stored value.
func (c *clientState) remember(h uint64) {
	if len(c.recent) < recentMessages {
		c.recent = append(slices.Clip(c.recent), h)
		return
	}
	next := make([]uint64, recentMessages, recentMessages)
	copy(next, c.recent[len(c.recent)-recentMessages+1:])
	next[recentMessages-1] = h
	c.recent = next
}

// messageHash is the 64-bit FNV-1a hash of a message ID (written out: the
// hash/fnv form costs an allocation per message). Two IDs of one device
// and advertisement collide within the window with probability about 2⁻⁵⁹,
// which is far below any other cause of a lost message.
func messageHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// appendTime and recordReader.time carry an instant as Unix seconds and
// nanoseconds, read back in UTC.
func appendTime(b []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(b, t.Unix()), uint64(t.Nanosecond()))
}

func encodeStatus(c *clientState) []byte {
	s := &c.ClientStatus
	b := make([]byte, 0, 40+len(s.Detail)+8*len(c.recent))
	b = append(b, statusCodec)
	var flags byte
	for i, on := range []bool{s.HasExitCode, !s.LastStatusTime.IsZero(), !s.LastAcceptanceTime.IsZero(), !c.tsRun.IsZero(), len(c.steps) > 0} {
		if on {
			flags |= 1 << i
		}
	}
	b = append(b, flags)
	for _, v := range []int64{int64(s.Acceptance), int64(s.Delivery), int64(s.LastEvent), int64(s.LastMessageID), int64(s.LastExitCode)} {
		b = binary.AppendVarint(b, v)
	}
	if !s.LastStatusTime.IsZero() {
		b = appendTime(b, s.LastStatusTime)
	}
	if !s.LastAcceptanceTime.IsZero() {
		b = appendTime(b, s.LastAcceptanceTime)
	}
	b = appendString(b, s.Detail)
	b = binary.AppendUvarint(b, uint64(len(c.recent)))
	for _, h := range c.recent {
		b = binary.LittleEndian.AppendUint64(b, h)
	}
	b = binary.AppendUvarint(b, uint64(len(c.runs)))
	for _, r := range c.runs {
		b = appendString(b, string(r.ref.PackageID))
		b = appendString(b, r.ref.Program)
		b = appendHistory(b, r.h)
	}
	if !c.tsRun.IsZero() {
		b = appendTime(b, c.tsRun)
	}
	if len(c.steps) > 0 {
		b = binary.AppendUvarint(b, uint64(len(c.steps)))
		for _, st := range c.steps {
			b = binary.AppendUvarint(b, uint64(st.index))
			state := byte(st.state)
			if st.continued {
				state |= 1 << 4
			}
			b = append(b, state)
			b = binary.AppendVarint(b, int64(st.exitCode))
			b = appendString(b, st.name)
			b = appendString(b, st.detail)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendHistory(b []byte, h advertisement.History) []byte {
	var flags byte
	if h.Ran {
		flags |= 1
	}
	if h.Succeeded {
		flags |= 2
	}
	b = append(b, flags)
	if h.Ran {
		b = appendTime(b, h.LastRun)
	}
	return b
}

// history reads what appendHistory wrote.
func (r *recordReader) history() advertisement.History {
	flags := r.byte()
	h := advertisement.History{Ran: flags&1 != 0, Succeeded: flags&2 != 0}
	if flags&^3 != 0 {
		r.fail(errors.New("history with unknown flags"))
	}
	if h.Ran {
		h.LastRun = r.time()
	}
	return h
}

func (r *recordReader) time() time.Time {
	sec := r.varint()
	ns := r.uvarint()
	if ns >= 1e9 {
		r.fail(errTruncated)
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).UTC()
}

func decodeStatus(data []byte) (*clientState, error) {
	r := recordReader{b: data}
	if v := r.byte(); r.err == nil && v != statusCodec {
		return nil, fmt.Errorf("status record version %d: this Site reads version %d", v, statusCodec)
	}
	flags := r.byte()
	c := &clientState{}
	s := &c.ClientStatus
	s.HasExitCode = flags&1 != 0
	s.Acceptance = advertisement.AcceptanceState(r.varint())
	s.Delivery = advertisement.DeliveryState(r.varint())
	s.LastEvent = advertisement.Event(r.varint())
	s.LastMessageID = int(r.varint())
	s.LastExitCode = int(r.varint())
	if flags&2 != 0 {
		s.LastStatusTime = r.time()
	}
	if flags&4 != 0 {
		s.LastAcceptanceTime = r.time()
	}
	s.Detail = r.str()
	if n := r.count(8); n > 0 {
		c.recent = make([]uint64, n)
		for i, b := 0, r.bytes(8*n); i < n; i++ {
			c.recent[i] = binary.LittleEndian.Uint64(b[8*i:])
		}
	}
	if n := r.count(3); n > 0 {
		c.runs = make([]programRun, n)
		for i := range c.runs {
			c.runs[i].ref = pkg.ProgramRef{PackageID: consign.ObjectID(r.str()), Program: r.str()}
			c.runs[i].h = r.history()
		}
	}
	if flags&8 != 0 {
		c.tsRun = r.time()
	}
	if flags&16 != 0 {
		c.steps = make([]stepRecord, r.count(5))
		for i := range c.steps {
			st := &c.steps[i]
			st.index = int(r.uvarint())
			b := r.byte()
			st.state, st.continued = tasksequence.StepState(b&0xf), b&(1<<4) != 0
			st.exitCode = int(r.varint())
			st.name, st.detail = r.str(), r.str()
			if b&^0x1f != 0 || (i > 0 && st.index <= c.steps[i-1].index) {
				r.fail(errors.New("task sequence steps malformed"))
			}
		}
	}
	if flags&^0x1f != 0 {
		r.fail(errors.New("unknown flags"))
	}
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("status record: %w", err)
	}
	return c, nil
}

func encodeHistory(h advertisement.History) []byte {
	return appendHistory([]byte{historyCodec}, h)
}

func decodeHistory(data []byte) (advertisement.History, error) {
	r := recordReader{b: data}
	if v := r.byte(); r.err == nil && v != historyCodec {
		return advertisement.History{}, fmt.Errorf("history record version %d: this Site reads version %d", v, historyCodec)
	}
	h := r.history()
	if err := r.end(); err != nil {
		return advertisement.History{}, fmt.Errorf("history record: %w", err)
	}
	return h, nil
}

// errTruncated reports a binary record that ends early or whose lengths
// do not fit in it.
var errTruncated = errors.New("record truncated or malformed")

// recordReader reads the fields of a binary record, remembering the first
// failure: after it every read returns zero values.
type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *recordReader) uvarint() uint64 {
	n, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *recordReader) varint() int64 {
	n, k := binary.Varint(r.b)
	if k <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *recordReader) byte() byte {
	if len(r.b) == 0 {
		r.fail(errTruncated)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// count reads a number of items of at least size bytes each, which must
// fit in what is left of the record, so that a corrupt record cannot make
// the decoder allocate without bound.
func (r *recordReader) count(size int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/size) {
		r.fail(errTruncated)
		return 0
	}
	return int(n)
}

// bytes reads n bytes (n from count, so they are there).
func (r *recordReader) bytes(n int) []byte {
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

// take reads n bytes, failing when fewer are left.
func (r *recordReader) take(n int) []byte {
	if n > len(r.b) {
		r.fail(errTruncated)
		return make([]byte, n)
	}
	return r.bytes(n)
}

func (r *recordReader) str() string { return string(r.bytes(r.count(1))) }

// end returns the first failure, or an error if bytes are left over.
func (r *recordReader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes after its end", len(r.b))
	}
	return r.err
}
