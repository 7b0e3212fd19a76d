package delivery

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/consign/consign/collection"
	"github.com/consign/consign/internal/fleet"
)

// Fleet devices round-trip through the device codec; every truncation of a
// record is an error, never a panic or a wrong device.
func TestDeviceCodec(t *testing.T) {
	s := collection.DefaultSchema()
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 200 {
		d := fleet.Device(rng, i)
		data, err := encodeDevice(d, s)
		if err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
		back, err := decodeDevice(data, s, nil)
		if err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
		again, err := encodeDevice(back, s)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("device %d: encoding is not stable (%v)", i, err)
		}
		fixed := func(d *collection.Device) *collection.Device {
			c := *d
			c.Properties, c.Inventory = nil, nil
			return &c
		}
		if !reflect.DeepEqual(fixed(back), fixed(d)) {
			t.Fatalf("device %d: discovery fields differ:\n%+v\n%+v", i, fixed(back), fixed(d))
		}
		if len(back.Inventory) != len(d.Inventory) || len(back.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"]) != len(d.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"]) {
			t.Fatalf("device %d: inventory differs", i)
		}
		if i < 5 {
			for n := range len(data) {
				if _, err := decodeDevice(data[:n], s, nil); err == nil {
					t.Fatalf("device %d: a record cut to %d of %d bytes decoded", i, n, len(data))
				}
			}
		}
	}
	if _, err := decodeDevice([]byte("{\"ResourceID\":1}"), s, nil); err == nil {
		t.Error("a record in another format decoded")
	}
}

func BenchmarkDecodeDevice(b *testing.B) {
	s := collection.DefaultSchema()
	data, err := encodeDevice(fleet.Device(rand.New(rand.NewPCG(1, 1)), 7), s)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	names := map[string]string{}
	for b.Loop() {
		if _, err := decodeDevice(data, s, names); err != nil {
			b.Fatal(err)
		}
	}
}
