package agent_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/delivery/agent"
)

// An agent records status in the outbox as it works, and a sender uploads
// and acknowledges it when the site is reachable. What was not acknowledged
// is still there after a restart.
func ExampleOutbox() {
	dir, _ := os.MkdirTemp("", "agent")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "agent.db")

	st, err := agent.OpenState(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	ob, _ := agent.NewOutbox(st, nil)
	at := time.Date(2008, 3, 1, 9, 0, 0, 0, time.UTC)
	msg := func(id string, ev advertisement.Event, rc int) advertisement.Message {
		at = at.Add(time.Minute)
		return advertisement.Message{ID: id, AdvertisementID: "CEN20001", ResourceID: 42, Event: ev, Time: at, ExitCode: rc}
	}
	if err := ob.Add(msg("m1", advertisement.EventReceived, 0), msg("m2", advertisement.EventStarted, 0)); err != nil {
		log.Fatal(err)
	}

	// The site takes the first batch; the agent then runs the program and
	// restarts before the result is uploaded.
	batch, _ := ob.Pending(100)
	var seqs []uint64
	for _, e := range batch {
		seqs = append(seqs, e.Seq)
	}
	_ = ob.Ack(seqs...)
	_ = ob.Add(msg("m3", advertisement.EventSucceeded, 0))
	st.Close()

	st, _ = agent.OpenState(path, nil)
	defer st.Close()
	ob, _ = agent.NewOutbox(st, nil)
	left, _ := ob.Pending(100)
	for _, e := range left {
		fmt.Println(e.Message.ID, e.Message.Event)
	}
	// Output:
	// m3 Succeeded
}
