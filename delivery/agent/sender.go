package agent

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
)

// MaxReportBatch is the most status messages the agent sends in one
// Report.
const MaxReportBatch = 100

// MaxBatchPerAdvertisement is the most messages about one advertisement in
// one Report. The site recognises a resent message by the last 32 message
// IDs it took for each device and advertisement; a batch that stays within
// that is recognised whole when it is sent again after a lost reply, so
// at-least-once delivery never counts a message twice.
const MaxBatchPerAdvertisement = 32

// errNotRegistered: there is no credential to send with yet.
var errNotRegistered = consign.Errorf(consign.ErrUnavailable, "agent.drain", "", "not registered")

// sendLoop drains the outbox to the site when kicked (new messages, a
// finished run, a registration) and, after a failure, on a jittered,
// doubling back-off until the site takes everything.
func (a *Agent) sendLoop(ctx context.Context) {
	bo := a.newBackoff()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kickSend:
		case <-retry.C:
		}
		if err := a.drain(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, errNotRegistered) {
				continue // the registration kicks the sender
			}
			a.log.Debug("status upload failed; retrying", "err", err)
			a.emit(Event{Kind: EventError, Detail: "status", Err: err})
			retry.Reset(bo.next())
			continue
		}
		bo.reset()
		retry.Stop()
	}
}

// drain sends the outbox's messages, oldest first, in batches, and acks
// each batch the site took. It returns when the outbox is empty, or the
// first failure.
func (a *Agent) drain(ctx context.Context) error {
	dropped := uint64(0)
	for ctx.Err() == nil {
		rid := a.ResourceID()
		if rid == 0 {
			return errNotRegistered
		}
		entries, err := a.outbox.Pending(MaxReportBatch)
		if err != nil {
			seq, ok := damagedEntry(err)
			if !ok || seq == dropped {
				return err
			}
			a.log.Error("dropping a damaged outbox entry", "seq", seq, "err", err)
			a.emit(Event{Kind: EventStatusDropped, Detail: "outbox entry " + strconv.FormatUint(seq, 10), Err: err})
			if err := a.outbox.Ack(seq); err != nil {
				return err
			}
			dropped = seq
			continue
		}
		if len(entries) == 0 {
			return nil
		}
		batch := batchOf(entries)
		err = a.send(ctx, rid, batch)
		switch {
		case err == nil:
		case !errors.Is(err, consign.ErrInvalid):
			return err
		case len(batch) == 1:
			if !a.drop(batch[0], err) {
				return err
			}
		default:
			// One message the site refuses must not hold back the rest:
			// send them one by one, dropping the refused ones.
			for _, e := range batch {
				if err := a.send(ctx, rid, []Entry{e}); err != nil && !a.drop(e, err) {
					return err
				}
			}
		}
	}
	return ctx.Err()
}

// send reports a batch under the device's current ResourceID and acks it.
func (a *Agent) send(ctx context.Context, rid uint32, batch []Entry) error {
	msgs := make([]advertisement.Message, len(batch))
	seqs := make([]uint64, len(batch))
	for i, e := range batch {
		// The device's ResourceID now: a device registered again under a
		// new one reports what it did under the old one as itself.
		msgs[i], seqs[i] = e.Message, e.Seq
		msgs[i].ResourceID = rid
	}
	reply, err := a.cfg.MP.Report(ctx, msgs)
	if err != nil {
		a.unauthenticated(err)
		return err
	}
	if err := a.outbox.Ack(seqs...); err != nil {
		return err
	}
	a.emit(Event{Kind: EventStatusSent, Count: len(msgs), Accepted: reply.Accepted, Duplicates: reply.Duplicates})
	return nil
}

// drop removes a message the site refused as invalid from the outbox; it
// reports whether it did (err is not such a refusal, or the ack failed:
// not).
func (a *Agent) drop(e Entry, err error) bool {
	if !errors.Is(err, consign.ErrInvalid) {
		return false
	}
	if ackErr := a.outbox.Ack(e.Seq); ackErr != nil {
		return false
	}
	a.log.Error("the site refused a status message; dropped", "id", e.Message.ID, "event", e.Message.Event, "err", err)
	a.emit(Event{Kind: EventStatusDropped, AdvertisementID: e.Message.AdvertisementID, Status: e.Message.Event,
		Detail: "message " + e.Message.ID, Err: err})
	return true
}

// batchOf returns the longest prefix of entries, in outbox order, with at
// most MaxReportBatch messages and at most MaxBatchPerAdvertisement about
// any one advertisement.
func batchOf(entries []Entry) []Entry {
	per := map[string]int{}
	for i, e := range entries {
		if i == MaxReportBatch {
			return entries[:i]
		}
		id := string(e.Message.AdvertisementID)
		if per[id] == MaxBatchPerAdvertisement {
			return entries[:i]
		}
		per[id]++
	}
	return entries
}

// damagedEntry reads the sequence number of a damaged outbox entry from
// Outbox.Pending's error.
func damagedEntry(err error) (uint64, bool) {
	var ce *consign.Error
	if !errors.As(err, &ce) || !errors.Is(err, consign.ErrFailedPrecondition) || ce.Op != "agent.Outbox.Pending" {
		return 0, false
	}
	seq, perr := strconv.ParseUint(ce.Key, 10, 64)
	return seq, perr == nil
}
