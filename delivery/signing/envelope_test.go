package signing

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// decodeSigned is the inverse of SignedBytes, written from the documented
// layout. That it recovers every field proves the encoding unambiguous.
func decodeSigned(b []byte) (Envelope, error) {
	var e Envelope
	str := func() ([]byte, error) {
		if len(b) < 8 {
			return nil, errors.New("short length")
		}
		n := binary.BigEndian.Uint64(b)
		b = b[8:]
		if uint64(len(b)) < n {
			return nil, errors.New("short string")
		}
		s := b[:n]
		b = b[n:]
		return s, nil
	}
	u64 := func() (uint64, error) {
		if len(b) < 8 {
			return 0, errors.New("short uint64")
		}
		v := binary.BigEndian.Uint64(b)
		b = b[8:]
		return v, nil
	}
	tm := func() (time.Time, error) {
		s, err := u64()
		if err != nil || len(b) < 4 {
			return time.Time{}, errors.New("short time")
		}
		ns := binary.BigEndian.Uint32(b)
		b = b[4:]
		return time.Unix(int64(s), int64(ns)), nil
	}
	d, err := str()
	if err != nil || string(d) != Domain {
		return e, errors.New("bad domain")
	}
	for _, f := range []*string{&e.KeyID, &e.Kind, &e.Subject} {
		s, err := str()
		if err != nil {
			return e, err
		}
		*f = string(s)
	}
	if e.Serial, err = u64(); err != nil {
		return e, err
	}
	if e.Issued, err = tm(); err != nil {
		return e, err
	}
	if e.Expires, err = tm(); err != nil {
		return e, err
	}
	p, err := str()
	if err != nil {
		return e, err
	}
	e.Payload = p
	if len(b) != 0 {
		return e, errors.New("trailing bytes")
	}
	return e, nil
}

// sameTuple reports whether a and b agree on every signed field, times
// compared as instants.
func sameTuple(a, b Envelope) bool {
	return a.KeyID == b.KeyID && a.Kind == b.Kind && a.Subject == b.Subject && a.Serial == b.Serial &&
		a.Issued.Equal(b.Issued) && a.Expires.Equal(b.Expires) && bytes.Equal(a.Payload, b.Payload)
}

func TestSignedBytesLayout(t *testing.T) {
	issued := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	e := Envelope{KeyID: "k1", Kind: "policy", Subject: "DEV/1", Serial: 0x0102,
		Issued: issued, Expires: issued.Add(time.Second), Payload: []byte("{}"), Signature: []byte("ignored")}
	var want []byte
	str := func(s string) {
		want = binary.BigEndian.AppendUint64(want, uint64(len(s)))
		want = append(want, s...)
	}
	str("consign-signed-v1")
	str("k1")
	str("policy")
	str("DEV/1")
	want = append(want, 0, 0, 0, 0, 0, 0, 1, 2)
	want = binary.BigEndian.AppendUint64(want, uint64(issued.Unix()))
	want = append(want, 0, 0, 0, 6)
	want = binary.BigEndian.AppendUint64(want, uint64(issued.Unix()+1))
	want = append(want, 0, 0, 0, 6)
	str("{}")
	if got := e.SignedBytes(); !bytes.Equal(got, want) {
		t.Fatalf("SignedBytes =\n%x\nwant\n%x", got, want)
	}
}

func TestSignedBytesTimesAreInstants(t *testing.T) {
	e := Envelope{Kind: "policy", Subject: "D", Issued: t0, Expires: t0.Add(time.Hour)}
	f := e
	f.Issued = t0.In(time.FixedZone("X", 5*3600+1800))
	f.Expires = time.Now().Add(0) // has a monotonic reading
	e.Expires = f.Expires.Round(0).In(time.FixedZone("Y", -7*3600))
	f.Signature = []byte{1, 2, 3}
	if !bytes.Equal(e.SignedBytes(), f.SignedBytes()) {
		t.Fatal("same instants and fields encode differently")
	}
	g := e
	g.Issued = e.Issued.Add(time.Nanosecond)
	if bytes.Equal(e.SignedBytes(), g.SignedBytes()) {
		t.Fatal("a nanosecond's difference does not change the encoding")
	}
}

// A plain concatenation would be ambiguous; the length prefixes are what
// keep these apart.
func TestSignedBytesBoundaries(t *testing.T) {
	a := Envelope{KeyID: "ab", Kind: "c", Subject: "d"}
	b := Envelope{KeyID: "a", Kind: "bc", Subject: "d"}
	c := Envelope{KeyID: "a", Kind: "b", Subject: "cd"}
	if a.KeyID+a.Kind+a.Subject != b.KeyID+b.Kind+b.Subject {
		t.Fatal("test premise: concatenations should collide")
	}
	if bytes.Equal(a.SignedBytes(), b.SignedBytes()) || bytes.Equal(b.SignedBytes(), c.SignedBytes()) {
		t.Fatal("field boundaries are ambiguous")
	}
}

// genTuple draws envelopes from tiny alphabets, so that different tuples
// with equal concatenations are common.
func genTuple() *rapid.Generator[Envelope] {
	s := func(t *rapid.T, label string) string {
		return rapid.StringMatching(`[ab]{0,3}`).Draw(t, label)
	}
	tm := func(t *rapid.T, label string) time.Time {
		return time.Unix(rapid.Int64Range(-2, 2).Draw(t, label+".s"), rapid.Int64Range(0, 2).Draw(t, label+".ns"))
	}
	return rapid.Custom(func(t *rapid.T) Envelope {
		e := Envelope{
			KeyID:   s(t, "keyID"),
			Kind:    s(t, "kind"),
			Subject: s(t, "subject"),
			Serial:  rapid.Uint64Range(0, 2).Draw(t, "serial"),
			Issued:  tm(t, "issued"),
			Expires: tm(t, "expires"),
		}
		if p := s(t, "payload"); p != "" || rapid.Bool().Draw(t, "payloadNonNil") {
			e.Payload = []byte(p)
		}
		return e
	})
}

func TestSignedBytesUnambiguous(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := genTuple().Draw(t, "a")
		b := genTuple().Draw(t, "b")
		if rapid.Bool().Draw(t, "nearby") {
			// b differs from a in at most one field (often none).
			c := a
			switch rapid.IntRange(0, 7).Draw(t, "field") {
			case 0:
				c.KeyID = b.KeyID
			case 1:
				c.Kind = b.Kind
			case 2:
				c.Subject = b.Subject
			case 3:
				c.Serial = b.Serial
			case 4:
				c.Issued = b.Issued
			case 5:
				c.Expires = b.Expires
			case 6:
				c.Payload = b.Payload
			}
			b = c
		}
		if eq := bytes.Equal(a.SignedBytes(), b.SignedBytes()); eq != sameTuple(a, b) {
			t.Fatalf("encodings equal = %v but tuples equal = %v:\n%+v\n%+v", eq, sameTuple(a, b), a, b)
		}
	})
}

func TestSignedBytesDecodes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := Envelope{
			KeyID:   rapid.String().Draw(t, "keyID"),
			Kind:    rapid.String().Draw(t, "kind"),
			Subject: rapid.String().Draw(t, "subject"),
			Serial:  rapid.Uint64().Draw(t, "serial"),
			Issued:  time.Unix(rapid.Int64().Draw(t, "is"), rapid.Int64Range(0, 999999999).Draw(t, "ins")),
			Expires: time.Unix(rapid.Int64().Draw(t, "es"), rapid.Int64Range(0, 999999999).Draw(t, "ens")),
			Payload: rapid.SliceOf(rapid.Byte()).Draw(t, "payload"),
		}
		d, err := decodeSigned(e.SignedBytes())
		if err != nil {
			t.Fatal(err)
		}
		if !sameTuple(e, d) {
			t.Fatalf("decoded %+v, want %+v", d, e)
		}
	})
}

func TestEnvelopeJSON(t *testing.T) {
	ring := newRing(t, 1)
	env := mustSign(t, NewSigner(ring), KindManifest, "PKG00012/3", []byte(`{"files":[]}`), 3)
	data, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{`"keyId"`, `"kind"`, `"subject"`, `"serial"`, `"issued"`, `"expires"`, `"payload"`, `"signature"`} {
		if !strings.Contains(string(data), name) {
			t.Errorf("JSON %s lacks %s", data, name)
		}
	}
	var back Envelope
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	v, _ := newVerifier(t, ring.PublicKeys())
	got, err := v.Verify(back, KindManifest, "PKG00012/3")
	if err != nil {
		t.Fatalf("envelope after a JSON round trip: %v", err)
	}
	if string(got) != `{"files":[]}` {
		t.Fatalf("payload %q", got)
	}
}
