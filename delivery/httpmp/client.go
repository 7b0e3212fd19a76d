package httpmp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery/signing"
)

// Client is the device side of the protocol: what an agent calls (it
// implements agent.ManagementPoint). It is safe for concurrent use.
//
// Every failure is an error an agent can branch on: a refusal is an
// *Error (see its Is for the codes it matches); a failure to reach the
// management point or to read its reply matches consign.ErrUnavailable
// and wraps the cause, so a cancelled ctx also matches context.Canceled.
type Client struct {
	base string
	hc   *http.Client

	mu    sync.RWMutex
	token string
}

// maxResponseBytes bounds a reply the Client reads.
const maxResponseBytes = 64 << 20

// NewClient returns a Client for the management point at baseURL (e.g.
// "http://mp.example.com:8080"; a path is kept, for a Server mounted
// below a prefix). hc sends the requests; nil means http.DefaultClient.
// Its Timeout, if any, must be longer than the server's WaitTimeout, or
// Wait fails with a timeout instead of answering false.
func NewClient(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// SetToken sets the device token sent with every call but Register.
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token = token
}

func (c *Client) bearer() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// Register registers the device (RouteRegister) and, on success, uses the
// new token for later calls. enrollSecret is sent as "Authorization:
// Enroll <secret>" when not empty.
func (c *Client) Register(ctx context.Context, d *collection.Device, enrollSecret string) (Registration, error) {
	var reg Registration
	err := c.call(ctx, http.MethodPost, RouteRegister, nil, RegisterRequest{Device: d}, &reg, func(h http.Header) {
		if enrollSecret != "" {
			h.Set("Authorization", "Enroll "+enrollSecret)
		}
	})
	if err != nil {
		return Registration{}, err
	}
	c.SetToken(reg.Token)
	return reg, nil
}

// PutInventory replaces the device's discovery data and inventory
// (RouteInventory).
func (c *Client) PutInventory(ctx context.Context, d *collection.Device) error {
	return c.call(ctx, http.MethodPut, RouteInventory, nil, InventoryUpload{Device: d}, nil, nil)
}

// Policy fetches the device's signed policy (RoutePolicy). When etag is
// not empty and still current, env is nil and newETag is etag: not
// modified. The envelope is returned as received; verify it with a
// signing.Verifier before use.
func (c *Client) Policy(ctx context.Context, etag string) (env *signing.Envelope, newETag string, err error) {
	resp, err := c.do(ctx, http.MethodGet, RoutePolicy, nil, nil, func(h http.Header) {
		if etag != "" {
			h.Set("If-None-Match", quoteETag(etag))
		}
	})
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, etag, nil
	case http.StatusOK:
		var e signing.Envelope
		if err := readJSON(resp, &e); err != nil {
			return nil, "", err
		}
		return &e, resp.Header.Get("ETag"), nil
	}
	return nil, "", readError(resp)
}

// Wait long-polls (RouteWait) until the device's policy may have changed
// from the one with ETag etag (true) or the server's wait ends (false).
func (c *Client) Wait(ctx context.Context, etag string) (changed bool, err error) {
	var reply WaitReply
	if err := c.call(ctx, http.MethodGet, RouteWait, url.Values{"etag": {etag}}, nil, &reply, nil); err != nil {
		return false, err
	}
	return reply.Changed, nil
}

// Locate asks where to download a package version (RouteLocate) and gets
// its signed manifest and the DPs' content servers.
func (c *Client) Locate(ctx context.Context, req LocateRequest) (LocateReply, error) {
	var reply LocateReply
	err := c.call(ctx, http.MethodPost, RouteLocate, nil, req, &reply, nil)
	return reply, err
}

// Report uploads status messages (RouteStatus). Uploads are idempotent by
// message ID: a batch whose reply was lost may be sent again.
func (c *Client) Report(ctx context.Context, msgs []advertisement.Message) (StatusReply, error) {
	if msgs == nil {
		msgs = []advertisement.Message{}
	}
	var reply StatusReply
	err := c.call(ctx, http.MethodPost, RouteStatus, nil, StatusUpload{Messages: msgs}, &reply, nil)
	return reply, err
}

// ReportScan uploads a software update scan result (RouteScan).
func (c *Client) ReportScan(ctx context.Context, scan ScanUpload) (ScanReply, error) {
	var reply ScanReply
	err := c.call(ctx, http.MethodPost, RouteScan, nil, scan, &reply, nil)
	return reply, err
}

// Keys returns the site's policy-signing public keys (RouteKeys), for an
// agent to refresh its trust set after a key rotation.
func (c *Client) Keys(ctx context.Context) ([]signing.PublicKey, error) {
	var keys []signing.PublicKey
	err := c.call(ctx, http.MethodGet, RouteKeys, nil, nil, &keys, nil)
	return keys, err
}

// call sends a request with in as its JSON body (nil: none) and decodes a
// 2xx reply into out (nil: the body is discarded).
func (c *Client) call(ctx context.Context, method, route string, q url.Values, in, out any, hdr func(http.Header)) error {
	resp, err := c.do(ctx, method, route, q, in, hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readError(resp)
	}
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
		return nil
	}
	return readJSON(resp, out)
}

// do sends a request and returns the response, whatever its status.
func (c *Client) do(ctx context.Context, method, route string, q url.Values, in any, hdr func(http.Header)) (*http.Response, error) {
	u := c.base + route
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, consign.Errorf(consign.ErrInvalid, method+" "+route, "", "encoding the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, consign.Errorf(consign.ErrInvalid, method+" "+route, "", "%w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if route != RouteRegister {
		if tok := c.bearer(); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	if hdr != nil {
		hdr(req.Header)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &consign.Error{Code: consign.ErrUnavailable, Op: method + " " + route, Err: err}
	}
	return resp, nil
}

// readJSON decodes a successful reply.
func readJSON(resp *http.Response, out any) error {
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBytes))
	if err := dec.Decode(out); err != nil {
		op := resp.Request.Method + " " + resp.Request.URL.Path
		return &consign.Error{Code: consign.ErrUnavailable, Op: op, Err: fmt.Errorf("reading the reply: %w", err)}
	}
	return nil
}

// readError turns a non-2xx reply into an *Error.
func readError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Status: resp.StatusCode}
	var reply ErrorReply
	if err := json.Unmarshal(data, &reply); err == nil && reply.Error.Code != "" {
		e.Body = reply.Error
		return e
	}
	e.Body = ErrorBody{Code: codeForStatus(resp.StatusCode), Message: strings.TrimSpace(string(data))}
	if len(e.Body.Message) > 200 {
		e.Body.Message = e.Body.Message[:200] + "…"
	}
	if e.Body.Message == "" {
		e.Body.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// quoteETag quotes an ETag given without its quotes.
func quoteETag(etag string) string {
	if strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/"`) {
		return etag
	}
	return `"` + etag + `"`
}
