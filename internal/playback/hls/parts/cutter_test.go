package parts

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/playback/hls"
)

// media describes a synthetic segment: fps video frames (an IDR first),
// AAC frames of 1024 samples at 48 kHz, or both.
type media struct {
	seconds float64
	fps     float64 // 0: no video
	audio   bool
	// noRAI clears the random_access_indicator of every packet, as some
	// muxers leave it out: the IDR must then be found in the NAL units.
	noRAI bool
	// jitter moves each video frame by up to ±3 ms, as a live source's
	// timestamps do.
	jitter bool
}

// adts is a fake AAC frame behind a valid ADTS sync word.
var adts = append([]byte{0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC}, bytes.Repeat([]byte{0x21}, 40)...)

// segment muxes m with internal/mpegts, video and audio interleaved by
// time as a muxer writes them.
func segment(t testing.TB, m media) []byte {
	t.Helper()
	var buf bytes.Buffer
	cfg := mpegts.MuxerConfig{Video: m.fps > 0}
	if m.audio {
		cfg.Audio = mpegts.AudioAAC
	}
	mux := mpegts.NewMuxer(&buf, cfg)
	if err := mux.WriteTables(); err != nil {
		t.Fatal(err)
	}
	end := time.Duration(m.seconds * float64(time.Second))
	frame, aac := time.Duration(float64(time.Second)/max(m.fps, 1)), time.Second*1024/48000
	base := 10 * time.Second // timestamps do not start at 0
	var v, a time.Duration
	rnd := rand.New(rand.NewPCG(1, 2)) // the same jitter every run
	for (m.fps > 0 && v < end) || (m.audio && a < end) {
		if m.fps > 0 && v < end && (!m.audio || v <= a) {
			at := base + v
			if m.jitter && v > 0 {
				at += time.Duration(rnd.IntN(7)-3) * time.Millisecond
			}
			if err := mux.WriteVideo(at, at, v == 0, videoFrame(v == 0)); err != nil {
				t.Fatal(err)
			}
			v += frame
			continue
		}
		if err := mux.WriteAudio(base+a, adts); err != nil {
			t.Fatal(err)
		}
		a += aac
	}
	b := buf.Bytes()
	if m.noRAI {
		for off := 0; off < len(b); off += mpegts.PacketSize {
			if p := b[off:]; p[3]&0x20 != 0 && p[4] > 0 {
				p[5] &^= 0x40
			}
		}
	}
	return b
}

// videoFrame is an H.264 access unit: SPS, PPS, SEI and an IDR slice, or
// a non-IDR slice.
func videoFrame(idr bool) []byte {
	if !idr {
		return append([]byte{0, 0, 0, 1, 0x41, 0x9A}, bytes.Repeat([]byte{0x55}, 300)...)
	}
	b := []byte{0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E, 0, 0, 0, 1, 0x68, 0xCE, 0x3C, 0x80, 0, 0, 1, 0x06}
	b = append(b, bytes.Repeat([]byte{0x11}, 700)...) // a long SEI, as x264 writes
	return append(append(b, 0, 0, 1, 0x65, 0x88), bytes.Repeat([]byte{0x77}, 3000)...)
}

// cut runs a Cutter over b in chunks of size (0: all at once).
func cut(t testing.TB, b []byte, target time.Duration, size int) ([]hls.Part, *Cutter) {
	t.Helper()
	var out []hls.Part
	c := NewCutter(target, func(p hls.Part) { out = append(out, p) })
	for rest := b; len(rest) > 0; {
		n := len(rest)
		if size > 0 {
			n = min(size, n)
		}
		if _, err := c.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return out, c
}

func TestCutterCutsOnAccessUnits(t *testing.T) {
	tests := []struct {
		name  string
		m     media
		parts int
		first time.Duration // the first part's duration
	}{
		{"25 fps with audio: twelve frames a part", media{seconds: 2, fps: 25, audio: true}, 5, 480 * time.Millisecond},
		{"29.97 fps: fourteen frames", media{seconds: 2, fps: 30000.0 / 1001}, 5, 467133333},
		{"10 fps: five frames, exactly the target", media{seconds: 2, fps: 10}, 4, 500 * time.Millisecond},
		{"an IDR found in the NAL units", media{seconds: 1, fps: 25, audio: true, noRAI: true}, 3, 480 * time.Millisecond},
		{"audio only: cut on audio PES", media{seconds: 2, audio: true}, 5, 490666666},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := segment(t, tt.m)
			got, c := cut(t, in, 500*time.Millisecond, 0)
			if len(got) != tt.parts || got[0].Duration != tt.first {
				t.Fatalf("%d parts, the first %v; want %d, %v", len(got), got[0].Duration, tt.parts, tt.first)
			}
			var sum time.Duration
			for i, p := range got {
				sum += p.Duration
				if p.Duration > 500*time.Millisecond || i < len(got)-1 && p.Duration < 425*time.Millisecond {
					t.Errorf("part %d lasts %v: outside 85%% to 100%% of the target (§4.4.4.9)", i, p.Duration)
				}
				if want := i == 0 || tt.m.fps == 0; p.Independent != want {
					t.Errorf("part %d: Independent %v, want %v", i, p.Independent, want)
				}
				demuxAlone(t, p.Data, tt.m.fps > 0)
			}
			if d := sum - time.Duration(tt.m.seconds*float64(time.Second)); d < -30*time.Millisecond || d > 30*time.Millisecond {
				t.Errorf("parts add up to %v", sum)
			}
			checkAgainstInput(t, c, got, in)
		})
	}
}

// TestCutterKeepsToTheTargetDespiteJitter: a frame that lasts longer than
// the one before it would take a part past the target; the cutter then
// ends the part a frame earlier, and no part is longer than the target.
func TestCutterKeepsToTheTargetDespiteJitter(t *testing.T) {
	in := segment(t, media{seconds: 10, fps: 25, audio: true, jitter: true})
	target := 480 * time.Millisecond // twelve frames, were they regular
	got, c := cut(t, in, target, 0)
	short := 0
	for i, p := range got {
		if p.Duration > target {
			t.Errorf("part %d lasts %v, above the target", i, p.Duration)
		}
		if p.Duration < 440*time.Millisecond {
			short++
		}
		demuxAlone(t, p.Data, true)
	}
	if short == 0 || short == len(got) {
		t.Errorf("%d of %d parts were cut a frame early; the test's jitter should make some", short, len(got))
	}
	checkAgainstInput(t, c, got, in)
}

// TestCutterTakesAnyChunking: packets straddling writes change nothing.
func TestCutterTakesAnyChunking(t *testing.T) {
	in := segment(t, media{seconds: 2, fps: 25, audio: true})
	want, _ := cut(t, in, 500*time.Millisecond, 0)
	for _, size := range []int{1, 7, 187, 189, 1316, 100_000} {
		got, _ := cut(t, in, 500*time.Millisecond, size)
		if len(got) != len(want) {
			t.Fatalf("chunks of %d: %d parts, want %d", size, len(got), len(want))
		}
		for i := range got {
			if got[i].Duration != want[i].Duration || !bytes.Equal(got[i].Data, want[i].Data) {
				t.Errorf("chunks of %d: part %d differs", size, i)
			}
		}
	}
}

// TestCloseWithDuration: the last part lasts what the others leave of the
// segment, so they add up to its EXTINF.
func TestCloseWithDuration(t *testing.T) {
	in := segment(t, media{seconds: 1.96, fps: 25})
	var got []hls.Part
	c := NewCutter(500*time.Millisecond, func(p hls.Part) { got = append(got, p) })
	if _, err := c.Write(in); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWithDuration(1990 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// 49 frames: four parts of twelve, and one frame left.
	if last := got[len(got)-1].Duration; len(got) != 5 || last != 1990*time.Millisecond-4*480*time.Millisecond {
		t.Errorf("%d parts, the last %v", len(got), last)
	}
}

func TestCutterRefusesWhatIsNotTS(t *testing.T) {
	in := segment(t, media{seconds: 1, fps: 25})
	var got []hls.Part
	c := NewCutter(500*time.Millisecond, func(p hls.Part) { got = append(got, p) })
	two := 2 * mpegts.PacketSize
	if n, err := c.Write(append(bytes.Clone(in[:two]), "not a packet"...)); n != two || !errors.Is(err, ErrNotTS) {
		t.Errorf("Write = %d, %v; want %d, ErrNotTS", n, err, two)
	}
	if n, err := c.Write(in[two:]); n != 0 || !errors.Is(err, ErrNotTS) {
		t.Errorf("the next Write = %d, %v; the error sticks", n, err)
	}
	if err := c.Close(); !errors.Is(err, ErrNotTS) || len(got) != 1 || !bytes.Equal(got[0].Data, in[:two]) {
		t.Errorf("Close = %v with %d parts; want ErrNotTS and the two packets taken", err, len(got))
	}
	if _, err := c.Write(in); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	torn := NewCutter(500*time.Millisecond, func(hls.Part) { t.Error("a part of a torn packet") })
	if _, err := torn.Write(in[:100]); err != nil {
		t.Fatal(err)
	}
	if err := torn.Close(); !errors.Is(err, ErrNotTS) {
		t.Errorf("Close with a torn packet: %v", err)
	}
}

func TestIDRScan(t *testing.T) {
	tests := []struct {
		name   string
		chunks [][]byte
		hevc   bool
		done   bool
		idr    bool
	}{
		{"an IDR after parameter sets", [][]byte{{0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65}}, false, true, true},
		{"a start code split across packets", [][]byte{{9, 0, 0}, {1, 0x65}}, false, true, true},
		{"a non-IDR slice", [][]byte{{0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x41}}, false, true, false},
		{"no slice yet", [][]byte{{0, 0, 1, 0x67, 0x42}}, false, false, false},
		{"HEVC CRA", [][]byte{{0, 0, 1, 0x40, 1, 0, 0, 1, 0x2A, 1}}, true, true, true},
		{"HEVC trailing picture", [][]byte{{0, 0, 1, 0x02, 1}}, true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := idrScan{active: true, hevc: tt.hevc}
			var done, idr bool
			for _, c := range tt.chunks {
				if done, idr = s.feed(c); done {
					break
				}
			}
			if done != tt.done || idr != tt.idr {
				t.Errorf("done %v idr %v, want %v %v", done, idr, tt.done, tt.idr)
			}
		})
	}
}

// demuxAlone reads one part with internal/mpegts as a player reads a part
// on its own: it must find the streams and whole PES packets, undamaged.
func demuxAlone(t *testing.T, part []byte, video bool) {
	t.Helper()
	d := mpegts.NewDemuxer(bytes.NewReader(part))
	frames := 0
	for {
		p, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("part does not demux on its own: %v", err)
		}
		if (p.StreamType == mpegts.StreamTypeH264) == video {
			frames++
		}
	}
	if frames == 0 {
		t.Errorf("part of %d bytes holds no frame of the stream cut on", len(part))
	}
}

// checkAgainstInput asserts the byte contract of the Cutter doc: the parts
// in order are the input with the table copies inserted, and the PAT and
// PMT counters continue across the copies, so every PID's continuity
// counter runs on for a demuxer reading the parts in order.
func checkAgainstInput(t testing.TB, c *Cutter, got []hls.Part, in []byte) {
	t.Helper()
	var all, stripped []byte
	for i, p := range got {
		all = append(all, p.Data...)
		if i > 0 {
			for off := 0; off < len(c.tables); off += mpegts.PacketSize {
				if !bytes.Equal(maskCC(p.Data[off:off+mpegts.PacketSize]), maskCC(c.tables[off:off+mpegts.PacketSize])) {
					t.Fatalf("part %d does not begin with the PAT and PMT", i)
				}
			}
			p.Data = p.Data[len(c.tables):]
		}
		stripped = append(stripped, p.Data...)
	}
	checkPackets(t, c, stripped, in)
	checkContinuity(t, all)
}

// checkBytes is checkAgainstInput for an input whose own counters jump.
func checkBytes(t testing.TB, c *Cutter, got []hls.Part, in []byte) {
	t.Helper()
	var stripped []byte
	for i, p := range got {
		if i > 0 {
			p.Data = p.Data[len(c.tables):]
		}
		stripped = append(stripped, p.Data...)
	}
	checkPackets(t, c, stripped, in)
}

// checkPackets compares the parts' packets, copies taken out, with the
// input's, the PAT and PMT counters aside.
func checkPackets(t testing.TB, c *Cutter, stripped, in []byte) {
	t.Helper()
	if len(stripped) != len(in) {
		t.Fatalf("parts hold %d bytes of the input's %d", len(stripped), len(in))
	}
	for off := 0; off < len(in); off += mpegts.PacketSize {
		a, b := stripped[off:off+mpegts.PacketSize], in[off:off+mpegts.PacketSize]
		if pid := int(b[1]&0x1F)<<8 | int(b[2]); pid == 0 || pid == c.pmtPID {
			a, b = maskCC(a), maskCC(b)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("packet at %d differs from the input's", off)
		}
	}
}

func maskCC(p []byte) []byte {
	q := bytes.Clone(p)
	q[3] &= 0xF0
	return q
}

// checkContinuity asserts §2.4.3.3 on a stream: each PID's counter goes up
// by one on every packet with payload.
func checkContinuity(t testing.TB, b []byte) {
	t.Helper()
	last := map[int]byte{}
	for off := 0; off+mpegts.PacketSize <= len(b); off += mpegts.PacketSize {
		p := b[off:]
		if p[3]&0x10 == 0 {
			continue
		}
		pid, cc := int(p[1]&0x1F)<<8|int(p[2]), p[3]&0x0F
		if prev, ok := last[pid]; ok && cc != (prev+1)&0x0F {
			t.Fatalf("PID %#x: continuity counter %d after %d at %d", pid, cc, prev, off)
		}
		last[pid] = cc
	}
}

// BenchmarkCutter cuts a 2 s segment (25 fps video and AAC) arriving in
// 1316-byte chunks into its five parts.
func BenchmarkCutter(b *testing.B) {
	in := segment(b, media{seconds: 2, fps: 25, audio: true})
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		c := NewCutter(500*time.Millisecond, func(hls.Part) {})
		for rest := in; len(rest) > 0; rest = rest[min(1316, len(rest)):] {
			if _, err := c.Write(rest[:min(1316, len(rest))]); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
