package delivery

import (
	"context"
	"sync"
)

// Transport tells devices that new policy is waiting for them, so they need
// not wait for their next poll (ConfigMgr 2007 had no push: §3.1 item 5; a
// Transport is how Consign does better). Notify must not block for long and
// must be safe for concurrent use. A failed Notify is logged by the Site and
// does not fail the workflow that caused it: the device still gets the
// policy at its next poll.
type Transport interface {
	Notify(ctx context.Context, resourceIDs []uint32) error
}

// ChannelTransport is the in-process Transport for tests and examples: each
// device subscribes to a channel that receives a signal whenever its policy
// may have changed. Signals coalesce: a device that has not yet read the
// previous signal gets no second one.
type ChannelTransport struct {
	mu   sync.Mutex
	subs map[uint32]chan struct{}
}

// NewChannelTransport returns an empty ChannelTransport.
func NewChannelTransport() *ChannelTransport {
	return &ChannelTransport{subs: make(map[uint32]chan struct{})}
}

// Subscribe returns the channel that signals device id. Every call for the
// same id returns the same channel.
func (t *ChannelTransport) Subscribe(id uint32) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	ch, ok := t.subs[id]
	if !ok {
		ch = make(chan struct{}, 1)
		t.subs[id] = ch
	}
	return ch
}

// Notify signals every subscribed device in resourceIDs; devices that never
// subscribed are skipped.
func (t *ChannelTransport) Notify(ctx context.Context, resourceIDs []uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range resourceIDs {
		if ch, ok := t.subs[id]; ok {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	return nil
}
