package agent

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/tasksequence"
)

// DefaultOutboxMessages is the outbox bound when OutboxOptions.MaxMessages
// is zero. A run of one program produces about half a dozen status
// messages (received, download started and complete, started, the result),
// so 10,000 is well over a thousand runs a device could not report: far more
// than any real outage leaves behind, and, at a few hundred bytes per
// message, a few megabytes of state file at most.
const DefaultOutboxMessages = 10_000

// OutboxOptions tunes an Outbox. A nil *OutboxOptions, like the zero value,
// gives the defaults.
type OutboxOptions struct {
	// MaxMessages bounds the messages waiting to be acknowledged. Zero
	// means DefaultOutboxMessages; it must not be negative.
	MaxMessages int
}

// Outbox is the agent's durable queue of status messages for the site
// (§1.18, §4.2). Add stores messages before it returns; they stay, across
// restarts, until the site has acknowledged them with Ack. The sender reads
// Pending, uploads the batch, and acks what the site took. A crash between
// the upload and the Ack resends those messages: delivery is at least once,
// and the site drops duplicates by Message.ID (advertisement.ClientStatus
// applies a message twice to the same effect).
//
// # Bound
//
// The outbox holds at most MaxMessages. When an Add would exceed it, the
// whole Add is refused with an *OutboxFullError (matching
// consign.ErrUnavailable) and nothing is stored. Dropping old messages
// instead would make the outbox lie: the site would never learn of a
// failure or a success that was dropped, and would keep showing an old
// state as if it were current. A refused Add is visible: the agent can log
// it and hold back new work until the site is reachable and the outbox
// drains.
//
// An Outbox is safe for concurrent use, and several Outboxes over one State
// share one queue.
type Outbox struct {
	st  *State
	max int
}

// Entry is one message in the outbox with the sequence number Add gave it.
type Entry struct {
	// Seq orders the outbox: a later Add gets a larger Seq. Numbers are
	// never reused, even after an Ack.
	Seq     uint64
	Message advertisement.Message
}

// OutboxFullError is the refusal of an Add that would make the outbox hold
// more than its bound. It matches consign.ErrUnavailable: the Add had no
// effect and may be retried once the site has acknowledged messages.
type OutboxFullError struct {
	Pending int // messages already waiting
	Adding  int // messages the refused Add carried
	Max     int // the bound
}

// Error says how full the outbox is.
func (e *OutboxFullError) Error() string {
	return fmt.Sprintf("outbox full: %d messages waiting for the site, adding %d would pass the bound of %d",
		e.Pending, e.Adding, e.Max)
}

// Is makes errors.Is(err, consign.ErrUnavailable) true.
func (e *OutboxFullError) Is(target error) bool { return target == consign.ErrUnavailable }

// NewOutbox returns the outbox stored in st.
func NewOutbox(st *State, opts *OutboxOptions) (*Outbox, error) {
	var o OutboxOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxMessages < 0 {
		return nil, &consign.Error{Code: consign.ErrInvalid, Op: "agent.NewOutbox",
			Err: &consign.ValidationError{Field: "OutboxOptions.MaxMessages", Value: o.MaxMessages, Rule: "0 (the default) or more"}}
	}
	if o.MaxMessages == 0 {
		o.MaxMessages = DefaultOutboxMessages
	}
	return &Outbox{st: st, max: o.MaxMessages}, nil
}

// Add stores msgs, in order, each under the next sequence number, in one
// commit: when Add returns nil every message is durable; otherwise none
// was stored. Each message must pass advertisement.Message.Validate (a
// message the site would refuse would stay in the outbox forever), or Add
// fails with an error matching consign.ErrInvalid. Messages keep their IDs;
// adding a message whose ID is already waiting stores it again (the site
// dedupes). Add fails with an *OutboxFullError when the messages do not
// fit under the bound.
func (o *Outbox) Add(msgs ...advertisement.Message) error {
	const op = "agent.Outbox.Add"
	if len(msgs) == 0 {
		return nil
	}
	var ps consign.Problems
	vals := make([][]byte, len(msgs))
	for i, m := range msgs {
		if err := m.Validate(); err != nil {
			ps.AddValue("msgs["+strconv.Itoa(i)+"]", m.ID, err.Error())
			continue
		}
		v, err := encodeMessage(m)
		if err != nil {
			ps.AddValue("msgs["+strconv.Itoa(i)+"]", m.ID, "must encode: "+err.Error())
			continue
		}
		vals[i] = v
	}
	if err := ps.Err(); err != nil {
		return &consign.Error{Code: consign.ErrInvalid, Op: op, Err: err}
	}
	return o.st.update(op, "", func(tx *bolt.Tx) error {
		meta, b := tx.Bucket(metaBucket), tx.Bucket(outboxBucket)
		n, err := o.st.outboxCount(meta)
		if err != nil {
			return err
		}
		if n+uint64(len(msgs)) > uint64(o.max) {
			return &OutboxFullError{Pending: int(n), Adding: len(msgs), Max: o.max}
		}
		for _, v := range vals {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(putUint64(seq), v); err != nil {
				return err
			}
		}
		return meta.Put(outboxCountKey, putUint64(n+uint64(len(msgs))))
	})
}

// Pending returns up to max waiting messages, oldest (lowest Seq) first;
// max <= 0 returns them all. It does not remove them: only Ack does. A
// stored message that no longer decodes gives an error matching
// consign.ErrFailedPrecondition naming its Seq, which the caller may Ack to
// drop it.
func (o *Outbox) Pending(max int) ([]Entry, error) {
	const op = "agent.Outbox.Pending"
	var out []Entry
	err := o.st.view(op, "", func(tx *bolt.Tx) error {
		c := tx.Bucket(outboxBucket).Cursor()
		for k, v := c.First(); k != nil && (max <= 0 || len(out) < max); k, v = c.Next() {
			seq, ok := getUint64(k)
			if !ok {
				return consign.Errorf(consign.ErrFailedPrecondition, op, fmt.Sprintf("%x", k), "damaged outbox key")
			}
			m, err := decodeMessage(v)
			if err != nil {
				return consign.Errorf(consign.ErrFailedPrecondition, op, strconv.FormatUint(seq, 10),
					"damaged outbox entry (Ack it to drop it): %w", err)
			}
			out = append(out, Entry{Seq: seq, Message: m})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Ack removes the entries with the given sequence numbers, in one commit:
// the site has them. Numbers that are not waiting (already acked, or never
// given) are ignored, so acking twice is harmless.
func (o *Outbox) Ack(seqs ...uint64) error {
	const op = "agent.Outbox.Ack"
	if len(seqs) == 0 {
		return nil
	}
	return o.st.update(op, "", func(tx *bolt.Tx) error {
		meta, b := tx.Bucket(metaBucket), tx.Bucket(outboxBucket)
		n, err := o.st.outboxCount(meta)
		if err != nil {
			return err
		}
		removed := uint64(0)
		for _, seq := range seqs {
			k := putUint64(seq)
			if b.Get(k) == nil {
				continue
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			removed++
		}
		if removed > n {
			return consign.Errorf(consign.ErrFailedPrecondition, op, "", "damaged state file: outbox count %d is below the %d entries acked", n, removed)
		}
		return meta.Put(outboxCountKey, putUint64(n-removed))
	})
}

// Len returns how many messages are waiting.
func (o *Outbox) Len() (int, error) {
	var n uint64
	err := o.st.view("agent.Outbox.Len", "", func(tx *bolt.Tx) error {
		var err error
		n, err = o.st.outboxCount(tx.Bucket(metaBucket))
		return err
	})
	return int(n), err
}

// outboxCount reads the number of waiting messages, kept in the meta bucket
// and updated in the transaction that changes the outbox, so that Add
// checks the bound without counting.
func (s *State) outboxCount(meta *bolt.Bucket) (uint64, error) {
	v := meta.Get(outboxCountKey)
	n, ok := getUint64(v)
	if !ok {
		return 0, consign.Errorf(consign.ErrFailedPrecondition, "agent.Outbox", "", "damaged state file %s: outbox count is %x", s.path, v)
	}
	return n, nil
}

// storedMessage is a Message as the outbox stores it: JSON with short,
// fixed names, and the event by name, so that the file does not depend on
// Go field names or the order of the Event constants.
type storedMessage struct {
	ID              string    `json:"id"`
	AdvertisementID string    `json:"adv"`
	ResourceID      uint32    `json:"res"`
	Event           string    `json:"ev"`
	Time            time.Time `json:"t"`
	ExitCode        int       `json:"rc,omitempty"`
	Detail          string    `json:"d,omitempty"`
	RunFirstPackage string    `json:"rfp,omitempty"`
	RunFirstProgram string    `json:"rfg,omitempty"`
	RunFirst        bool      `json:"rf,omitempty"`
	// Step is a task sequence step's status (EventTSStep), its state by
	// name.
	Step *storedStep `json:"step,omitempty"`
}

// storedStep is an advertisement.StepStatus as the outbox stores it.
type storedStep struct {
	Index     int    `json:"i"`
	Name      string `json:"n"`
	State     string `json:"s"`
	Continued bool   `json:"c,omitempty"`
}

// eventsByName maps Event.String() back to the Event.
var eventsByName = func() map[string]advertisement.Event {
	m := map[string]advertisement.Event{}
	for e := advertisement.Event(1); ; e++ {
		name := e.String()
		if name == fmt.Sprintf("Event(%d)", int(e)) {
			return m
		}
		m[name] = e
	}
}()

func encodeMessage(m advertisement.Message) ([]byte, error) {
	s := storedMessage{
		ID: m.ID, AdvertisementID: string(m.AdvertisementID), ResourceID: m.ResourceID,
		Event: m.Event.String(), Time: m.Time, ExitCode: m.ExitCode, Detail: m.Detail,
	}
	if m.RunFirst != nil {
		s.RunFirst, s.RunFirstPackage, s.RunFirstProgram = true, string(m.RunFirst.PackageID), m.RunFirst.Program
	}
	if st := m.Step; st != nil {
		s.Step = &storedStep{Index: st.Index, Name: st.Name, State: st.State.String(), Continued: st.Continued}
	}
	return json.Marshal(s)
}

func decodeMessage(b []byte) (advertisement.Message, error) {
	var s storedMessage
	if err := json.Unmarshal(b, &s); err != nil {
		return advertisement.Message{}, err
	}
	ev, ok := eventsByName[s.Event]
	if !ok {
		return advertisement.Message{}, fmt.Errorf("unknown event %q", s.Event)
	}
	m := advertisement.Message{
		ID: s.ID, AdvertisementID: consign.ObjectID(s.AdvertisementID), ResourceID: s.ResourceID,
		Event: ev, Time: s.Time, ExitCode: s.ExitCode, Detail: s.Detail,
	}
	if s.RunFirst {
		m.RunFirst = &pkg.ProgramRef{PackageID: consign.ObjectID(s.RunFirstPackage), Program: s.RunFirstProgram}
	}
	if st := s.Step; st != nil {
		state, err := tasksequence.ParseStepState(st.State)
		if err != nil {
			return advertisement.Message{}, err
		}
		m.Step = &advertisement.StepStatus{Index: st.Index, Name: st.Name, State: state, Continued: st.Continued}
	}
	return m, nil
}
