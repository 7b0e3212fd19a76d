package pgstore

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
)

// The write path's answers when the connection fails mid-transaction:
// before COMMIT could run (nothing written, consign.ErrUnavailable), after
// it ran but before its reply arrived (success: the write is stored), and
// when PostgreSQL cannot be asked afterwards (ErrCommitUnknown, no code).

func putW(kind, key, data string, expect int64) delivery.Write {
	return delivery.Write{Op: delivery.Put, Expect: expect, Record: delivery.Record{Kind: kind, Key: key, Data: []byte(data),
		Index: map[string]string{"f": data}}}
}

// TestTerminatedMidTransaction ends the transaction's backend with
// pg_terminate_backend after the revision is taken and the Expects
// checked, before the writes and COMMIT are sent: the Apply must fail with
// consign.ErrUnavailable and leave everything as it was.
func TestTerminatedMidTransaction(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	for _, copyFrom := range []int{-1, 1} { // arrays, then COPY staging
		t.Run("CopyThreshold="+strconv.Itoa(copyFrom), func(t *testing.T) {
			s := openTest(t, dsn, freshSchema(t, dsn), &Options{CopyThreshold: copyFrom})
			killer := admin(t, dsn)
			r1, err := s.Apply(ctx, []delivery.Write{putW("package", "keep", "v1", 0), putW("package", "gone", "v1", 0)})
			if err != nil {
				t.Fatal(err)
			}
			before, err := s.Changes(ctx, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			killed := 0
			s.beforeCommit = func(pid uint32) {
				var ok bool
				if err := killer.QueryRow(ctx, "SELECT pg_terminate_backend($1, 5000)", int64(pid)).Scan(&ok); err != nil || !ok {
					t.Errorf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
				}
				killed++
			}
			_, err = s.Apply(ctx, []delivery.Write{putW("package", "keep", "v2", r1), putW("package", "new", "v1", 0),
				{Op: delivery.Delete, Expect: r1, Record: delivery.Record{Kind: "package", Key: "gone"}}})
			if killed != 1 {
				t.Fatalf("the backend was terminated %d times; want once", killed)
			}
			if !errors.Is(err, consign.ErrUnavailable) {
				t.Errorf("Apply whose backend was terminated = %v; want consign.ErrUnavailable", err)
			}
			_, err = s.PutBatch(ctx, []delivery.Record{{Kind: "package", Key: "batch", Data: []byte("x")}})
			if !errors.Is(err, consign.ErrUnavailable) {
				t.Errorf("PutBatch whose backend was terminated = %v; want consign.ErrUnavailable", err)
			}
			s.beforeCommit = nil
			after, err := s.Changes(ctx, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !sameFeed(before, after) {
				t.Errorf("the interrupted writes changed the store:\nbefore %+v\nafter  %+v", before, after)
			}
			// Still usable, and the revision the failed Apply took was given back.
			r2, err := s.Apply(ctx, []delivery.Write{putW("package", "keep", "v2", r1)})
			if err != nil || r2 != r1+1 {
				t.Errorf("Apply after the interruption = %d, %v; want revision %d", r2, err, r1+1)
			}
		})
	}
}

func sameFeed(a, b []delivery.Change) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Deleted != y.Deleted || x.Record.Kind != y.Record.Kind || x.Record.Key != y.Record.Key ||
			x.Record.Revision != y.Record.Revision || string(x.Record.Data) != string(y.Record.Data) {
			return false
		}
	}
	return true
}

// proxy forwards TCP connections to PostgreSQL and can cut them at the
// worst moment: once swallow is called, the next bytes the server sends
// on a connection open at that time are dropped and the connection is
// closed, so the client never learns how its last request ended.
type proxy struct {
	ln     net.Listener
	target string
	refuse atomic.Bool // close new connections at once

	mu    sync.Mutex
	links []*link
}

type link struct {
	client, server net.Conn
	swallow        atomic.Bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, l := range p.links {
			l.client.Close()
			l.server.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.refuse.Load() {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			l := &link{client: c, server: s}
			p.mu.Lock()
			p.links = append(p.links, l)
			p.mu.Unlock()
			wg.Go(func() {
				io.Copy(s, c)
				s.Close()
				c.Close()
			})
			wg.Go(func() {
				defer c.Close()
				defer s.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 && l.swallow.Load() {
						return
					}
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	return p
}

// swallow makes every connection open now lose the server's next reply.
func (p *proxy) swallow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		l.swallow.Store(true)
	}
}

// storeViaProxy opens a Store on a new schema whose pool of one connection
// connects through a proxy, and writes once so that the connection has
// prepared the write statements (pgx prepares a statement in a round trip
// of its own the first time; a reply lost there loses nothing).
func storeViaProxy(t *testing.T, opts Options) (*Store, *proxy) {
	t.Helper()
	dsn := testDSN(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = "127.0.0.1", uint16(p.ln.Addr().(*net.TCPAddr).Port)
	cfg.ConnConfig.ConnectTimeout = time.Second
	// One connection: the writes below run on the connection the warm-up
	// prepared its statements on, and resolving must work although the
	// pool has no other.
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	opts.Schema = freshSchema(t, dsn)
	s, err := New(context.Background(), pool, &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Apply(context.Background(), []delivery.Write{putW("warm", "up", "x", 0)}); err != nil {
		t.Fatal(err)
	}
	return s, p
}

// TestReplyLostAfterCommit loses the reply to the pipeline that holds
// COMMIT, after the server ran it: the outcome is unknown to the client,
// and the store must find out that the write is stored rather than report
// a retryable failure (a retry would then conflict with itself).
func TestReplyLostAfterCommit(t *testing.T) {
	ctx := context.Background()
	for _, copyFrom := range []int{-1, 1} {
		t.Run("CopyThreshold="+strconv.Itoa(copyFrom), func(t *testing.T) {
			s, p := storeViaProxy(t, Options{CopyThreshold: copyFrom})
			s.beforeCommit = func(uint32) { p.swallow() }
			rev, err := s.Apply(ctx, []delivery.Write{putW("package", "p", "v1", 0)})
			if err != nil || rev <= 0 {
				t.Fatalf("Apply whose COMMIT ran but whose reply was lost = %d, %v; want success", rev, err)
			}
			s.beforeCommit = nil
			r, err := s.Get(ctx, "package", "p")
			if err != nil || r.Revision != rev || string(r.Data) != "v1" {
				t.Errorf("Get = %+v, %v; want the record at revision %d", r, err, rev)
			}
		})
	}
}

// TestCommitOutcomeUnknown loses the reply to COMMIT and then refuses every
// new connection: the store cannot learn what happened and must say so,
// with an error that matches ErrCommitUnknown and not
// consign.ErrUnavailable (which would promise that nothing was written).
func TestCommitOutcomeUnknown(t *testing.T) {
	ctx := context.Background()
	s, p := storeViaProxy(t, Options{ResolveTimeout: 500 * time.Millisecond})
	s.beforeCommit = func(uint32) {
		p.refuse.Store(true)
		p.swallow()
	}
	start := time.Now()
	_, err := s.Apply(ctx, []delivery.Write{putW("package", "p", "v1", 0)})
	if !errors.Is(err, ErrCommitUnknown) || errors.Is(err, consign.ErrUnavailable) || errors.Is(err, consign.ErrConflict) {
		t.Errorf("Apply whose outcome cannot be learnt = %v; want ErrCommitUnknown and no consign code", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Apply took %v to give up; want about ResolveTimeout (500ms)", d)
	}
	// It did commit: a direct connection sees it.
	var n int
	conn := admin(t, testDSN(t))
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+quote(s.Schema())+".records WHERE kind = 'package'::bytea AND NOT deleted").Scan(&n); err != nil || n != 1 {
		t.Errorf("records stored = %d, %v; want 1 (the COMMIT ran)", n, err)
	}
}
