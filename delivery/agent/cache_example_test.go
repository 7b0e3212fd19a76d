package agent_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/delivery/agent"
	pkg "github.com/consign/consign/package"
)

// The cache reserves room for a package version before its download,
// evicting old content that is neither persisted nor in use; the program
// then runs from the entry's directory.
func ExampleCache() {
	dir, _ := os.MkdirTemp("", "agent")
	defer os.RemoveAll(dir)
	st, err := agent.OpenState(filepath.Join(dir, "agent.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	clock := agent.NewSimClock(time.Date(2008, 3, 1, 9, 0, 0, 0, time.UTC))
	cache, err := agent.OpenCache(st, filepath.Join(dir, "cache"), &agent.CacheOptions{MaxBytes: 1000, Clock: clock.Now})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	// Office is persisted in the cache; an old runtime is not.
	for _, p := range []struct {
		id      string
		size    int64
		persist bool
	}{{"CEN00010", 600, true}, {"CEN00011", 300, false}} {
		_, release, err := cache.Reserve(consign.ObjectID(p.id), 1, p.size, p.persist)
		if err != nil {
			log.Fatal(err)
		}
		release()
	}

	// Two days later a 350-byte package arrives: the runtime is evicted.
	clock.Advance(48 * time.Hour)
	contentDir, release, err := cache.Reserve("CEN00012", 3, 350, false)
	if err != nil {
		log.Fatal(err)
	}
	// … download and verify the files into contentDir, then run:
	prog := pkg.NewProgram("CEN00012", "Install", "setup.exe /quiet")
	exec := agent.NewSimExecutor(&agent.SimOptions{Now: clock.Now, Sleep: clock.Sleep})
	exec.Script("CEN00012", "Install", agent.SimOutcome{ExitCode: 3010, Duration: 4 * time.Minute})
	outcome, _ := exec.Run(context.Background(), agent.CommandFor(prog, contentDir))
	release()
	fmt.Println("exit code", outcome.ExitCode, "→", outcome.Event(advertisement.DefaultExitCodes(), prog.AfterRunning))

	for _, e := range cache.Entries() {
		fmt.Printf("%s.%d %d bytes persist=%v\n", e.PackageID, e.Version, e.Size, e.Persist)
	}

	// A package larger than the whole cache fails with status 10050.
	_, _, err = cache.Reserve("CEN00013", 1, 5000, false)
	var space *agent.CacheSpaceError
	if errors.As(err, &space) {
		fmt.Println(space.Event(), space.Event().MessageID())
	}
	// Output:
	// exit code 3010 → Succeeded
	// CEN00010.1 600 bytes persist=true
	// CEN00012.3 350 bytes persist=false
	// CacheTooSmall 10050
}
