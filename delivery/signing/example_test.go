package signing_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/consign/consign/delivery/signing"
)

// The site signs a device's policy; the agent verifies it, and later
// refuses an older policy replayed to it.
func Example() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	// Site: a keyring (persist it with Save) and a signer over it.
	ring, err := signing.GenerateKeyring(nil, now)
	if err != nil {
		panic(err)
	}
	signer := signing.NewSigner(ring)
	v1, _ := signer.Sign(signing.KindPolicy, "DEV00042", []byte(`{"offers":1}`), 1, now, 24*time.Hour)
	v2, _ := signer.Sign(signing.KindPolicy, "DEV00042", []byte(`{"offers":2}`), 2, now.Add(time.Hour), 24*time.Hour)

	// Agent: trusts the site's public keys, with its own clock.
	clock := now.Add(2 * time.Hour)
	agent, err := signing.NewVerifier(ring.PublicKeys(), &signing.VerifierOptions{
		Clock: func() time.Time { return clock },
	})
	if err != nil {
		panic(err)
	}
	// Envelopes travel as JSON.
	wire, _ := json.Marshal(v2)
	var received signing.Envelope
	if err := json.Unmarshal(wire, &received); err != nil {
		panic(err)
	}
	policy, err := agent.Verify(received, signing.KindPolicy, "DEV00042")
	fmt.Printf("policy %s, err %v\n", policy, err)

	// An attacker replays the older policy.
	_, err = agent.Verify(v1, signing.KindPolicy, "DEV00042")
	fmt.Println("replay refused as rollback:", errors.Is(err, signing.ErrRollback))

	// A day later, with the site unreachable, the policy expires.
	clock = now.Add(26 * time.Hour)
	_, err = agent.Verify(received, signing.KindPolicy, "DEV00042")
	fmt.Println("frozen:", errors.Is(err, signing.ErrExpired))
	// Output:
	// policy {"offers":2}, err <nil>
	// replay refused as rollback: true
	// frozen: true
}
