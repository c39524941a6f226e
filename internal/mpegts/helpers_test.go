package mpegts_test

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"

	"github.com/castnet/castnet/internal/mpegts"
)

func itoa(n int) string { return strconv.Itoa(n) }

// demuxAll returns every PES in data, failing on any error.
func demuxAll(t testing.TB, data []byte) []*mpegts.PES {
	t.Helper()
	d := mpegts.NewDemuxer(bytes.NewReader(data))
	var out []*mpegts.PES
	for {
		p, err := d.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
}
