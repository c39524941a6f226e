package glass

import (
	"bytes"
	"testing"
	"time"
)

// FuzzReadStamp feeds the SEI reader what a hostile node or a damaged
// segment could hand it: it must never panic, and whatever it accepts
// must be a stamp it would write itself.
func FuzzReadStamp(f *testing.F) {
	f.Add(stampSEI(time.Unix(1_700_000_000, 0)))
	f.Add(stampSEI(time.Unix(0, 0x0100_0000_0000_0002)))
	f.Add([]byte{nalSEI, 5, 0xff, 0xff, 0x10})
	f.Add([]byte{nalSEI, 6, 1, 0x84, 0x80})
	f.Add(append([]byte{nalSEI}, bytes.Repeat([]byte{0, 0, 3}, 20)...))
	f.Fuzz(func(t *testing.T, nal []byte) {
		got, ok := readStamp(nal)
		if !ok {
			return
		}
		again, ok := readStamp(stampSEI(got))
		if !ok || !again.Equal(got) {
			t.Fatalf("accepted %v from % x, but its own stamp reads back as %v %v", got, nal, again, ok)
		}
	})
}

// FuzzParseMediaPlaylist: playlists come from the node over HTTP.
func FuzzParseMediaPlaylist(f *testing.F) {
	f.Add([]byte(llPlaylist))
	f.Add([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n0.ts\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-PART:DURATION=0.5,URI=\"1.0.ts\"\n#EXT-X-MEDIA-SEQUENCE:18446744073709551615\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseMediaPlaylist(b)
		if err != nil {
			return
		}
		for _, s := range p.Segments {
			if s.URI == "" && !s.Open {
				t.Fatalf("closed segment %d without a URI", s.MSN)
			}
		}
	})
}
