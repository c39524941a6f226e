package media

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// NAL units for hand-built streams. Slices start with first_mb_in_slice:
// the bit 1 is ue(v) 0, the bits 010 are ue(v) 1.
var (
	tSPS    = []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x2f, 0xf9, 0x70, 0x11}
	tSPS2   = []byte{0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01}
	tPPS    = []byte{0x68, 0xce, 0x3c, 0x80}
	tAUD    = []byte{0x09, 0xf0}
	tSEI    = []byte{0x06, 0x05, 0x01, 0xaa, 0x80}
	tIDR    = []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff}
	tP      = []byte{0x41, 0x9a, 0x02, 0x04, 0x10}
	tP2     = []byte{0x41, 0x9a, 0x22, 0x44, 0x50}
	tPSlice = []byte{0x41, 0x40, 0x77, 0x11} // a second slice: first_mb_in_slice 1
)

// bigIDR is an IDR slice long enough to need FU-A.
var bigIDR = append([]byte{0x65, 0x88}, bytes.Repeat([]byte{0xab, 0xcd, 0xef}, 1000)...)

// tp is a test packet: sequence number, timestamp, marker, payload.
type tp struct {
	seq    uint16
	ts     uint32
	marker bool
	pl     []byte
}

func (p tp) rtp() *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: p.seq, Timestamp: p.ts, Marker: p.marker, PayloadType: 102}, Payload: p.pl}
}

func stapA(nalus ...[]byte) []byte {
	out := []byte{0x78}
	for _, n := range nalus {
		out = append(out, byte(len(n)>>8), byte(len(n)))
		out = append(out, n...)
	}
	return out
}

// fuA cuts a NAL unit into n FU-A payloads (RFC 6184 §5.8).
func fuA(nal []byte, n int) [][]byte {
	body := nal[1:]
	size := (len(body) + n - 1) / n
	var out [][]byte
	for i := 0; i < len(body); i += size {
		hdr := nal[0] & 0x1f
		if i == 0 {
			hdr |= 0x80
		}
		if i+size >= len(body) {
			hdr |= 0x40
		}
		out = append(out, append([]byte{nal[0]&0xe0 | naluFUA, hdr}, body[i:min(i+size, len(body))]...))
	}
	return out
}

// fuPackets numbers FU-A payloads from seq on, the last one marked.
func fuPackets(seq uint16, ts uint32, parts [][]byte, mark bool) []tp {
	var out []tp
	for i, p := range parts {
		out = append(out, tp{seq + uint16(i), ts, mark && i == len(parts)-1, p})
	}
	return out
}

func join(groups ...[]tp) []tp { return slices.Concat(groups...) }

type wantFrame struct {
	ts    uint32
	key   bool
	nalus [][]byte
}

// depacketizerCase is a scenario: packets in, frames and losses out.
type depacketizerCase struct {
	name         string
	pkts         []tp
	flush        bool
	want         []wantFrame
	dropped      int
	keyframeLost bool
}

// depacketizerCases also seed FuzzH264Depacketizer.
func depacketizerCases() []depacketizerCase {
	idrParts := fuA(bigIDR, 3)
	return []depacketizerCase{
		{
			name: "single NAL unit packet is a frame",
			pkts: []tp{{1, 3000, true, tP}},
			want: []wantFrame{{3000, false, [][]byte{tP}}},
		},
		{
			name: "browser STAP-A with SPS and PPS before the IDR",
			pkts: []tp{{1, 0, false, stapA(tSPS, tPPS)}, {2, 0, true, tIDR}},
			want: []wantFrame{{0, true, [][]byte{tSPS, tPPS, tIDR}}},
		},
		{
			name: "OBS sends SPS and PPS as their own packets, IDR in FU-A",
			pkts: join([]tp{{1, 0, false, tSPS}, {2, 0, false, tPPS}}, fuPackets(3, 0, idrParts, true)),
			want: []wantFrame{{0, true, [][]byte{tSPS, tPPS, bigIDR}}},
		},
		{
			name: "later IDRs get the cached parameter sets",
			pkts: []tp{{1, 0, false, stapA(tSPS, tPPS, tIDR)}, {2, 0, true, tPSlice}, {3, 3000, true, tP}, {4, 6000, true, tIDR}},
			want: []wantFrame{
				{0, true, [][]byte{tSPS, tPPS, tIDR, tPSlice}},
				{3000, false, [][]byte{tP}},
				{6000, true, [][]byte{tSPS, tPPS, tIDR}},
			},
		},
		{
			name: "the newest SPS wins, never duplicated",
			pkts: []tp{{1, 0, true, stapA(tSPS, tPPS, tIDR)}, {2, 3000, false, tSPS2}, {3, 3000, false, tSPS2}, {4, 3000, true, tIDR}},
			want: []wantFrame{{0, true, [][]byte{tSPS, tPPS, tIDR}}, {3000, true, [][]byte{tSPS2, tPPS, tIDR}}},
		},
		{
			name: "AUD is dropped and SEI kept",
			pkts: []tp{{1, 0, false, stapA(tAUD, tSPS, tPPS, tSEI)}, {2, 0, true, tIDR}},
			want: []wantFrame{{0, true, [][]byte{tSPS, tPPS, tSEI, tIDR}}},
		},
		{
			name: "without marker bits the timestamp change ends a frame",
			pkts: []tp{{1, 0, false, tSPS}, {2, 0, false, tPPS}, {3, 0, false, tIDR}, {4, 3000, false, tP}, {5, 6000, false, tP2}},
			want: []wantFrame{{0, true, [][]byte{tSPS, tPPS, tIDR}}, {3000, false, [][]byte{tP}}},
		},
		{
			name:  "Flush ends the last frame without marker",
			pkts:  []tp{{1, 3000, false, tP}},
			flush: true,
			want:  []wantFrame{{3000, false, [][]byte{tP}}},
		},
		{
			name: "P-frames before the first IDR are returned",
			pkts: []tp{{1, 0, true, tP}, {2, 3000, true, stapA(tSPS, tPPS, tIDR)}},
			want: []wantFrame{{0, false, [][]byte{tP}}, {3000, true, [][]byte{tSPS, tPPS, tIDR}}},
		},
		{
			name:         "lost middle fragment drops the keyframe and asks for another",
			pkts:         join([]tp{{1, 0, false, stapA(tSPS, tPPS)}}, fuPackets(2, 0, idrParts[:1], false), fuPackets(4, 0, idrParts[2:], true), []tp{{5, 3000, true, tP}}),
			want:         []wantFrame{{3000, false, [][]byte{tP}}},
			dropped:      1,
			keyframeLost: true,
		},
		{
			name:         "a session joined mid-keyframe loses it: fragment without start",
			pkts:         join(fuPackets(7, 0, idrParts[1:], true), []tp{{10, 3000, true, tP}}),
			want:         []wantFrame{{3000, false, [][]byte{tP}}},
			dropped:      1,
			keyframeLost: true,
		},
		{
			name:    "a lost first slice breaks the frame even without a visible gap",
			pkts:    []tp{{1, 0, true, tPSlice}, {2, 3000, true, tP}},
			want:    []wantFrame{{3000, false, [][]byte{tP}}},
			dropped: 1,
		},
		{
			name:    "a lost last fragment breaks the frame when the next timestamp comes",
			pkts:    join([]tp{{1, 0, true, stapA(tSPS, tPPS, tIDR)}}, fuPackets(2, 3000, fuA(append([]byte{0x41, 0x9a}, make([]byte, 50)...), 3)[:2], false), []tp{{5, 6000, true, tP}}),
			want:    []wantFrame{{0, true, [][]byte{tSPS, tPPS, tIDR}}, {6000, false, [][]byte{tP}}},
			dropped: 1,
		},
		{
			// Found by FuzzH264Depacketizer in CI: the end fragment
			// claimed IDR, and the P slice came out as a keyframe.
			name: "a fragment whose type differs from its start is malformed",
			pkts: join([]tp{{1, 0, true, stapA(tSPS, tPPS, tIDR)}},
				[]tp{{2, 3000, false, []byte{0x7c, 0x81, 0x9a, 0x02}}, {3, 3000, true, []byte{0x7c, 0x45, 0x04, 0x10}}},
				[]tp{{4, 6000, true, tP}}),
			want:         []wantFrame{{0, true, [][]byte{tSPS, tPPS, tIDR}}, {6000, false, [][]byte{tP}}},
			dropped:      1,
			keyframeLost: true,
		},
		{
			name:    "a gap inside a frame drops it",
			pkts:    []tp{{1, 0, false, tP}, {3, 0, true, tPSlice}, {4, 3000, true, tP2}},
			want:    []wantFrame{{3000, false, [][]byte{tP2}}},
			dropped: 1,
		},
		{
			name: "a gap between whole frames loses nothing we hold",
			pkts: []tp{{1, 0, true, tP}, {5, 9000, true, tP2}},
			want: []wantFrame{{0, false, [][]byte{tP}}, {9000, false, [][]byte{tP2}}},
		},
		{
			name:         "an IDR before any SPS or PPS cannot be used",
			pkts:         []tp{{1, 0, true, tIDR}, {2, 3000, true, tP}},
			want:         []wantFrame{{3000, false, [][]byte{tP}}},
			dropped:      1,
			keyframeLost: true,
		},
		{
			name: "parameter sets under their own timestamp make no frame",
			pkts: []tp{{1, 0, true, stapA(tSPS, tPPS)}, {2, 3000, true, tIDR}},
			want: []wantFrame{{3000, true, [][]byte{tSPS, tPPS, tIDR}}},
		},
		{
			name: "duplicates and stragglers are ignored",
			pkts: []tp{{1, 0, false, tP}, {1, 0, false, tP}, {2, 0, true, tPSlice}, {1, 0, true, tP}, {3, 3000, true, tP2}},
			want: []wantFrame{{0, false, [][]byte{tP, tPSlice}}, {3000, false, [][]byte{tP2}}},
		},
		{
			name: "padding-only packets neither end nor break a frame",
			pkts: []tp{{1, 0, false, tP}, {2, 99999, false, nil}, {3, 0, true, tPSlice}},
			want: []wantFrame{{0, false, [][]byte{tP, tPSlice}}},
		},
		{
			name: "sequence numbers wrap without a gap",
			pkts: join(fuPackets(65534, 0, fuA(append([]byte{0x41, 0x9a}, make([]byte, 30)...), 3), true)),
			want: []wantFrame{{0, false, [][]byte{append([]byte{0x41, 0x9a}, make([]byte, 30)...)}}},
		},
		{
			name:    "a STAP-A size running past the packet drops the frame",
			pkts:    []tp{{1, 0, true, []byte{0x78, 0x00, 0x05, 0x41, 0x9a}}, {2, 3000, true, tP}},
			want:    []wantFrame{{3000, false, [][]byte{tP}}},
			dropped: 1,
		},
		{
			name:    "interleaved-mode packet types drop the frame",
			pkts:    []tp{{1, 0, true, []byte{0x19, 0, 0}}, {2, 3000, true, tP}},
			want:    []wantFrame{{3000, false, [][]byte{tP}}},
			dropped: 1,
		},
		{
			name:    "a NAL unit with the forbidden bit drops the frame",
			pkts:    []tp{{1, 0, true, []byte{0xc1, 0x9a}}, {2, 3000, true, tP}},
			want:    []wantFrame{{3000, false, [][]byte{tP}}},
			dropped: 1,
		},
	}
}

func TestH264Depacketizer(t *testing.T) {
	for _, tt := range depacketizerCases() {
		t.Run(tt.name, func(t *testing.T) {
			d := NewH264Depacketizer()
			var got []H264Frame
			dropped, keyLost := 0, false
			collect := func(r H264Result) {
				got = append(got, r.Frames...)
				dropped += r.Dropped
				keyLost = keyLost || r.KeyframeLost
			}
			for _, p := range tt.pkts {
				collect(d.Push(p.rtp()))
			}
			if tt.flush {
				collect(d.Flush())
			}
			checkFrames(t, got, tt.want)
			if dropped != tt.dropped || keyLost != tt.keyframeLost {
				t.Errorf("dropped %d, keyframe lost %v; want %d, %v", dropped, keyLost, tt.dropped, tt.keyframeLost)
			}
			if s := d.Stats(); s.Frames != uint64(len(got)) || s.Dropped != uint64(dropped) {
				t.Errorf("stats %+v disagree with %d frames, %d dropped", s, len(got), dropped)
			}
		})
	}
}

func checkFrames(t *testing.T, got []H264Frame, want []wantFrame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d: %s", len(got), len(want), describe(got))
	}
	for i, w := range want {
		g := got[i]
		if g.Timestamp != w.ts || g.Keyframe != w.key || !slices.EqualFunc(g.NALUs, w.nalus, bytes.Equal) {
			t.Errorf("frame %d = %s, want ts %d key %v nalus %x", i, describe(got[i:i+1]), w.ts, w.key, w.nalus)
		}
	}
}

func describe(frames []H264Frame) string {
	var b bytes.Buffer
	for _, f := range frames {
		fmt.Fprintf(&b, "{ts %d key %v nalus %x} ", f.Timestamp, f.Keyframe, f.NALUs)
	}
	return b.String()
}

func TestH264DepacketizerOnePacketCanEndTwoFrames(t *testing.T) {
	d := NewH264Depacketizer()
	d.Push(tp{1, 0, false, tP}.rtp())
	r := d.Push(tp{2, 3000, true, tP2}.rtp())
	checkFrames(t, r.Frames, []wantFrame{{0, false, [][]byte{tP}}, {3000, false, [][]byte{tP2}}})
}

func TestH264DepacketizerBoundsFrameSize(t *testing.T) {
	d := NewH264Depacketizer()
	d.Push(tp{1, 0, true, stapA(tSPS, tPPS, tIDR)}.rtp())
	huge := append([]byte{0x41, 0x9a}, make([]byte, MaxH264FrameBytes)...)
	seq := uint16(2)
	var r H264Result
	for _, p := range fuPackets(seq, 3000, fuA(huge, MaxH264FrameBytes/60000+1), true) {
		r = d.Push(p.rtp())
		seq = p.seq + 1
		if cap(d.data) > MaxH264FrameBytes {
			t.Fatalf("buffer grew to %d bytes", cap(d.data))
		}
	}
	if len(r.Frames) != 0 || r.Dropped != 1 {
		t.Fatalf("oversized frame: %d frames, %d dropped; want it dropped", len(r.Frames), r.Dropped)
	}
	r = d.Push(tp{seq, 6000, true, tP}.rtp())
	checkFrames(t, r.Frames, []wantFrame{{6000, false, [][]byte{tP}}})
}

func TestH264DepacketizerBoundsNALCount(t *testing.T) {
	d := NewH264Depacketizer()
	var r H264Result
	tiny := []byte{0x06, 0x00} // SEI: kept, so each one counts
	for i := range MaxH264FrameNALUs + 1 {
		r = d.Push(tp{uint16(i), 0, false, tiny}.rtp())
	}
	r = d.Push(tp{uint16(MaxH264FrameNALUs + 1), 0, true, tP}.rtp())
	if len(r.Frames) != 0 || r.Dropped != 1 {
		t.Fatalf("frame of %d NAL units: %d frames, %d dropped; want it dropped", MaxH264FrameNALUs+2, len(r.Frames), r.Dropped)
	}
}

func TestH264FrameAccessUnit(t *testing.T) {
	f := H264Frame{Timestamp: 9, Keyframe: true, NALUs: [][]byte{tSPS, tPPS, tIDR}}
	au := f.AccessUnit(1500)
	if au.Kind != KindVideo || au.Codec != CodecH264 || au.PTS != 1500 || !au.Keyframe || len(au.NALUs) != 3 {
		t.Fatalf("AccessUnit = %+v", au)
	}
}

// x264Stream encodes frames with access unit delimiters, so the stream can
// be cut into access units without parsing slice headers.
func x264Stream(t *testing.T, frames int, extra string) []byte {
	t.Helper()
	params := "aud=1:keyint=30:min-keyint=30:scenecut=0:bframes=0"
	if extra != "" {
		params += ":" + extra
	}
	return encodeH264(t, "640x360", "30", frames, "-pix_fmt", "yuv420p", "-x264-params", params)
}

// accessUnits cuts an Annex B stream at its AUDs.
func accessUnits(stream []byte) [][][]byte {
	var aus [][][]byte
	for _, nal := range SplitAnnexB(stream) {
		if NALUType(nal) == naluAUD || len(aus) == 0 {
			aus = append(aus, nil)
		}
		aus[len(aus)-1] = append(aus[len(aus)-1], nal)
	}
	return aus
}

// packetize sends each access unit through pion's H.264 payloader, an
// independent implementation of RFC 6184, as a browser would.
func packetize(aus [][][]byte, mtu uint16) []*rtp.Packet {
	p := rtp.NewPacketizer(mtu, 102, 0x1234, &codecs.H264Payloader{}, rtp.NewFixedSequencer(65000), 90000)
	var pkts []*rtp.Packet
	for _, au := range aus {
		pkts = append(pkts, p.Packetize(AnnexB(au), 3000)...)
	}
	return pkts
}

func depacketizeAll(t *testing.T, pkts []*rtp.Packet) ([]H264Frame, int, bool) {
	t.Helper()
	d := NewH264Depacketizer()
	var frames []H264Frame
	dropped, keyLost := 0, false
	for _, p := range pkts {
		r := d.Push(p)
		frames = append(frames, r.Frames...)
		dropped += r.Dropped
		keyLost = keyLost || r.KeyframeLost
	}
	return frames, dropped, keyLost
}

// TestH264DepacketizerRoundTripsX264 packetizes a real libx264 stream (one
// slice and four slices per frame) with pion and checks that every frame
// comes back whole, keyframes with SPS and PPS in front, and that ffmpeg
// decodes the result to the very same pictures as the original.
func TestH264DepacketizerRoundTripsX264(t *testing.T) {
	needFFmpeg(t)
	for _, slicesOpt := range []string{"", "slices=4"} {
		t.Run("x264 "+slicesOpt, func(t *testing.T) {
			stream := x264Stream(t, 61, slicesOpt)
			aus := accessUnits(stream)
			pkts := packetize(aus, 1200)
			frames, dropped, _ := depacketizeAll(t, pkts)
			if len(frames) != len(aus) || dropped != 0 {
				t.Fatalf("%d access units → %d frames, %d dropped", len(aus), len(frames), dropped)
			}
			for i, f := range frames {
				wantKey := i%30 == 0
				if f.Keyframe != wantKey {
					t.Errorf("frame %d keyframe = %v, want %v", i, f.Keyframe, wantKey)
				}
				if f.Timestamp != pkts[0].Timestamp+uint32(i)*3000 {
					t.Errorf("frame %d timestamp %d", i, f.Timestamp)
				}
				if wantKey && (NALUType(f.NALUs[0]) != naluSPS || NALUType(f.NALUs[1]) != naluPPS) {
					t.Errorf("keyframe %d starts with types %d, %d", i, NALUType(f.NALUs[0]), NALUType(f.NALUs[1]))
				}
			}
			if got, want := decodeMD5(t, joinFrames(frames)), decodeMD5(t, stream); got != want {
				t.Fatalf("depacketized stream decodes to %s, original to %s", got, want)
			}
		})
	}
}

func TestH264DepacketizerReportsLossInX264(t *testing.T) {
	needFFmpeg(t)
	aus := accessUnits(x264Stream(t, 31, ""))
	// A small MTU spreads even the small P-frames of a test pattern over
	// several FU-A packets.
	pkts := packetize(aus, 200)
	nKey := len(packetize(aus[:1], 200)) // packets of the first (key)frame
	pFrame := slices.IndexFunc(pkts[nKey:], func(p *rtp.Packet) bool {
		return NALUType(p.Payload) == naluFUA && p.Payload[1]&0x1f == naluSlice && !p.Marker
	}) + nKey
	if pFrame < nKey {
		t.Fatal("no P-frame spans several packets; the loss test needs one")
	}
	tests := []struct {
		name         string
		lose         int
		keyframeLost bool
	}{
		{"losing a packet of the IDR asks for a keyframe", nKey / 2, true},
		{"losing the STAP-A with the only SPS and PPS asks for a keyframe", 0, true},
		{"losing a packet of a P-frame drops only that frame", pFrame, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lossy := slices.Delete(slices.Clone(pkts), tt.lose, tt.lose+1)
			frames, dropped, keyLost := depacketizeAll(t, lossy)
			if dropped != 1 || keyLost != tt.keyframeLost || len(frames) != len(aus)-1 {
				t.Fatalf("%d frames, %d dropped, keyframe lost %v; want %d, 1, %v", len(frames), dropped, keyLost, len(aus)-1, tt.keyframeLost)
			}
		})
	}
}

func joinFrames(frames []H264Frame) []byte {
	var b []byte
	for _, f := range frames {
		b = append(b, AnnexB(f.NALUs)...)
	}
	return b
}

// decodeMD5 decodes an Annex B stream with ffmpeg and returns the MD5 of
// all its pictures.
func decodeMD5(t *testing.T, stream []byte) string {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in.h264")
	if err := os.WriteFile(in, stream, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "h264", "-i", in,
		"-f", "rawvideo", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg decode: %v", err)
	}
	if len(out) == 0 {
		t.Fatal("ffmpeg decoded nothing")
	}
	return fmt.Sprintf("%x (%d bytes)", md5.Sum(out), len(out))
}
