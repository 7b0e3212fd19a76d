package httpdp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"pgregory.net/rapid"

	"github.com/consign/consign"
	"github.com/consign/consign/distpoint"
)

// oneBlob is a Library holding one blob behind a reader that cannot seek;
// only OpenBlob is implemented.
type oneBlob struct {
	distpoint.Library
	data  []byte
	opens int
}

func (l *oneBlob) OpenBlob(ctx context.Context, sum [32]byte) (io.ReadCloser, error) {
	if sum != sha256.Sum256(l.data) {
		return nil, consign.ErrNotFound
	}
	l.opens++
	return io.NopCloser(bytes.NewReader(l.data)), nil
}

// TestPropBlobReaderSeeks: any sequence of seeks and reads on the seeking
// wrapper gives what bytes.Reader gives over the same bytes.
func TestPropBlobReaderSeeks(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		data := rapid.SliceOfN(rapid.Byte(), 0, 3000).Draw(t, "data")
		lib := &oneBlob{data: data}
		br := &blobReader{ctx: context.Background(), lib: lib, sum: sha256.Sum256(data), size: int64(len(data))}
		defer br.Close()
		model := bytes.NewReader(data)
		for range rapid.IntRange(1, 30).Draw(t, "steps") {
			if rapid.Bool().Draw(t, "seek") {
				whence := rapid.SampledFrom([]int{io.SeekStart, io.SeekCurrent, io.SeekEnd}).Draw(t, "whence")
				off := rapid.Int64Range(-int64(len(data))-5, int64(len(data))+5).Draw(t, "offset")
				got, gerr := br.Seek(off, whence)
				want, werr := model.Seek(off, whence)
				if (gerr != nil) != (werr != nil) || (gerr == nil && got != want) {
					t.Fatalf("Seek(%d, %d) = %d, %v; want %d, %v", off, whence, got, gerr, want, werr)
				}
				continue
			}
			n := rapid.IntRange(0, 700).Draw(t, "read")
			gotBuf, wantBuf := make([]byte, n), make([]byte, n)
			got, gerr := io.ReadFull(br, gotBuf)
			want, werr := io.ReadFull(model, wantBuf)
			if got != want || !errors.Is(gerr, werr) || !bytes.Equal(gotBuf[:got], wantBuf[:want]) {
				t.Fatalf("ReadFull(%d) = %d, %v; want %d, %v", n, got, gerr, want, werr)
			}
		}
	})
}

// TestBlobReaderShortContent: a blob shorter than its manifest size ends
// with io.ErrUnexpectedEOF, not a silent EOF.
func TestBlobReaderShortContent(t *testing.T) {
	data := []byte("0123456789")
	lib := &oneBlob{data: data}
	br := &blobReader{ctx: context.Background(), lib: lib, sum: sha256.Sum256(data), size: 20}
	defer br.Close()
	got, err := io.ReadAll(br)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	br.Seek(15, io.SeekStart)
	if _, err := br.Read(make([]byte, 1)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading past the stored end: %v", err)
	}
	// Going back reopens the blob.
	opens := lib.opens
	br.Seek(2, io.SeekStart)
	b := make([]byte, 3)
	if _, err := io.ReadFull(br, b); err != nil || string(b) != "234" || lib.opens != opens+1 {
		t.Fatalf("after seeking back: %q, %v, %d opens", b, err, lib.opens-opens)
	}
}
