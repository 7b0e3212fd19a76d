package httpmp_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/httpmp"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/delivery/signing"
	pkg "github.com/consign/consign/package"
)

// A site with a management point on 127.0.0.1, and a device that
// registers, long-polls, is woken by a new advertisement, fetches and
// verifies its signed policy, and reports success.
func ExampleServer() {
	ctx := context.Background()
	notifier := httpmp.NewNotifier()
	site, err := delivery.Open(ctx, memstore.New(), notifier, nil)
	if err != nil {
		panic(err)
	}
	ring, err := signing.GenerateKeyring(nil, time.Now())
	if err != nil {
		panic(err)
	}
	tokenKey := make([]byte, 32)
	rand.Read(tokenKey)
	mp, err := httpmp.NewServer(site, httpmp.Options{Keyring: ring, TokenKeys: [][]byte{tokenKey}, Notifier: notifier})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(mp)
	defer ts.Close()
	defer mp.Close()

	// The device registers and fetches its (empty) policy.
	dev := httpmp.NewClient(ts.URL, ts.Client())
	reg, err := dev.Register(ctx, &collection.Device{Name: "PC01", SMSUniqueIdentifier: "GUID:PC01",
		OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 6.1", Client: true}, "")
	if err != nil {
		panic(err)
	}
	_, etag, err := dev.Policy(ctx, "")
	if err != nil {
		panic(err)
	}

	// It long-polls; the administrator advertises a program to All Systems.
	woken := make(chan bool)
	go func() {
		changed, err := dev.Wait(ctx, etag)
		if err != nil {
			panic(err)
		}
		woken <- changed
	}()
	for notifier.Waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	p, _ := site.CreatePackage(ctx, pkg.NewPackage("", "Contoso Tools"))
	_ = site.CreateProgram(ctx, pkg.NewProgram(p.ID, "Install", "setup.exe /s"))
	ad := advertisement.New("", "Contoso Tools", p.ID, "Install", collection.AllSystemsID, time.Now().Add(-time.Minute))
	ad.PresentTimeIsGMT, ad.ASAP = true, true
	ad, err = site.CreateAdvertisement(ctx, ad)
	if err != nil {
		panic(err)
	}
	fmt.Println("woken:", <-woken)

	// The new policy verifies against the keys from registration.
	env, _, err := dev.Policy(ctx, etag)
	if err != nil {
		panic(err)
	}
	verifier, _ := signing.NewVerifier(reg.Keys, nil)
	body, err := verifier.Verify(*env, signing.KindPolicy, strconv.FormatUint(uint64(reg.ResourceID), 10))
	if err != nil {
		panic(err)
	}
	var policy httpmp.PolicyPayload
	_ = json.Unmarshal(body, &policy)
	o := policy.Offers[0]
	fmt.Println("offered:", o.Advertisement.Name, "runs", o.Program.CommandLine)

	// It runs the program and reports; a resend is recognised.
	now := time.Now()
	msgs := []advertisement.Message{
		{ID: "1", AdvertisementID: ad.ID, Event: advertisement.EventStarted, Time: now},
		{ID: "2", AdvertisementID: ad.ID, Event: advertisement.EventSucceeded, Time: now.Add(time.Second)},
	}
	r1, _ := dev.Report(ctx, msgs)
	r2, _ := dev.Report(ctx, msgs)
	fmt.Printf("accepted %d, then %d duplicates\n", r1.Accepted, r2.Duplicates)
	sum, _ := site.AdvertisementSummary(ad.ID)
	fmt.Println("succeeded:", sum.Counts.Succeeded)
	// Output:
	// woken: true
	// offered: Contoso Tools runs setup.exe /s
	// accepted 2, then 2 duplicates
	// succeeded: 1
}
