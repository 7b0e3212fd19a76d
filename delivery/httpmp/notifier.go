package httpmp

import (
	"context"
	"sync"

	"github.com/consign/consign/delivery"
)

// Notifier is the push half of the management point: a delivery.Transport
// that wakes the long polls (RouteWait) of the devices a Site names, so a
// new mandatory advertisement reaches an online device in the time of one
// round trip instead of at its next poll (ConfigMgr 2007 had no push,
// §3.1 item 5). Pass it to delivery.Open and to the Server's
// Options.Notifier.
//
// Notify never blocks: a device that is not waiting at that moment is not
// remembered, because its next RouteWait compares its ETag with the
// current policy first and returns at once when they differ. A Notifier
// wakes only the long polls of its own process; a site run as several
// processes over one store needs each process's Site to notify (every
// Site follows the store's change feed, but only the one that commits a
// change notifies). MQTT, which the issue allows as a second push channel,
// is not included.
//
// A Notifier is safe for concurrent use. Its zero value is not usable; make
// one with NewNotifier.
type Notifier struct {
	mu    sync.Mutex
	waits map[uint32]*waitSet
}

// waitSet is the long polls of one device: ch is closed by Notify; n counts
// the waiters so that the last to leave removes the set.
type waitSet struct {
	ch chan struct{}
	n  int
}

var _ delivery.Transport = (*Notifier)(nil)

// NewNotifier returns a Notifier with no waiters.
func NewNotifier() *Notifier {
	return &Notifier{waits: make(map[uint32]*waitSet)}
}

// Notify wakes every long poll of the given devices. It returns ctx.Err()
// when ctx is already done, and nil otherwise.
func (n *Notifier) Notify(ctx context.Context, resourceIDs []uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, id := range resourceIDs {
		if ws, ok := n.waits[id]; ok {
			close(ws.ch)
			delete(n.waits, id)
		}
	}
	return nil
}

// Waiting reports how many devices have a long poll in progress (for
// monitoring, and for tests that check a poll ends when its client goes
// away).
func (n *Notifier) Waiting() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.waits)
}

// subscribe registers a waiter for device id and returns the channel Notify
// closes and the function that unregisters it (call it exactly once).
func (n *Notifier) subscribe(id uint32) (<-chan struct{}, func()) {
	n.mu.Lock()
	ws, ok := n.waits[id]
	if !ok {
		ws = &waitSet{ch: make(chan struct{})}
		n.waits[id] = ws
	}
	ws.n++
	n.mu.Unlock()
	return ws.ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		ws.n--
		if ws.n == 0 && n.waits[id] == ws {
			delete(n.waits, id)
		}
	}
}
