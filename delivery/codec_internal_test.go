package delivery

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/consign/consign/collection"
	"github.com/consign/consign/internal/fleet"
)

// The Site stores devices in collection's storage form: its encodeDevice
// and decodeDevice are collection.EncodeDevice and DecodeDevice (whose own
// tests cover the format), so that records it writes load through
// collection.Engine.PutEncodedDevices.
func TestDeviceCodec(t *testing.T) {
	s := collection.DefaultSchema()
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 20 {
		d := fleet.Device(rng, i)
		data, err := encodeDevice(d, s)
		if err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
		back, err := decodeDevice(data, s, nil)
		if err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
		want, err := collection.DecodeDevice(data, s)
		if err != nil || !reflect.DeepEqual(back, want) {
			t.Fatalf("device %d: decodeDevice differs from collection.DecodeDevice (%v)", i, err)
		}
		e := collection.NewEngine(s)
		res, err := e.PutEncodedDevices([][]byte{data}, fleet.Epoch, nil)
		if err != nil || res.Errs[0] != nil {
			t.Fatalf("device %d: stored record does not load: %v %v", i, err, res.Errs[0])
		}
	}
	if _, err := decodeDevice([]byte("{\"ResourceID\":1}"), s, nil); err == nil {
		t.Error("a record in another format decoded")
	}
}
