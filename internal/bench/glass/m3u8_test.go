package glass

import (
	"testing"
	"time"
)

// llPlaylist is the shape of castnet's source playlist at the live edge.
const llPlaylist = `#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.000,HOLD-BACK=6.000,PART-HOLD-BACK=1.500
#EXT-X-PART-INF:PART-TARGET=0.500
#EXT-X-MEDIA-SEQUENCE:4
#EXT-X-PROGRAM-DATE-TIME:2026-03-01T12:00:08.000Z
#EXTINF:2.000,
4.ts
#EXT-X-PART:DURATION=0.433,URI="5.0.ts",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.433,URI="5.1.ts"
#EXTINF:2.000,
5.ts
#EXT-X-PART:DURATION=0.433,URI="6.0.ts",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.433,URI="6.1.ts",GAP=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="6.2.ts"
#EXT-X-RENDITION-REPORT:URI="../360p/index.m3u8",LAST-MSN=6,LAST-PART=1
`

func TestParseMediaPlaylistWithParts(t *testing.T) {
	p, err := parseMediaPlaylist([]byte(llPlaylist))
	if err != nil {
		t.Fatal(err)
	}
	if p.Target != 2*time.Second || p.PartTarget != 500*time.Millisecond || !p.CanBlock || p.Ended {
		t.Errorf("header: %+v", p)
	}
	if len(p.Segments) != 3 || p.Preload != "6.2.ts" || !p.hasParts() {
		t.Fatalf("segments %+v, preload %q", p.Segments, p.Preload)
	}
	if s := p.Segments[0]; s.MSN != 4 || s.URI != "4.ts" || s.Open || len(s.Parts) != 0 {
		t.Errorf("first segment %+v", s)
	}
	if s := p.Segments[1]; s.MSN != 5 || s.URI != "5.ts" || len(s.Parts) != 2 || !s.Parts[0].Independent {
		t.Errorf("second segment %+v", s)
	}
	if s := p.Segments[2]; s.MSN != 6 || !s.Open || s.URI != "" || len(s.Parts) != 2 || !s.Parts[1].Gap {
		t.Errorf("open segment %+v", s)
	}
}

func TestParseMediaPlaylistPlain(t *testing.T) {
	p, err := parseMediaPlaylist([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.0,\n7.ts\n#EXT-X-ENDLIST\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.hasParts() || p.CanBlock || !p.Ended || len(p.Segments) != 1 || p.Segments[0].MSN != 7 {
		t.Fatalf("%+v", p)
	}
}

func TestParseMediaPlaylistRejects(t *testing.T) {
	for _, b := range []string{"", "#EXTM3X\n", "#EXTM3U\n0.ts\n", "#EXTM3U\n#EXT-X-PART:DURATION=1\n",
		"#EXTM3U\n#EXT-X-TARGETDURATION:x\n"} {
		if _, err := parseMediaPlaylist([]byte(b)); err == nil {
			t.Errorf("%q parsed", b)
		}
	}
}
