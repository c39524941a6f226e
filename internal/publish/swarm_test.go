package publish

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestSwarmClipTimestampsCountMediaTimeInTheRTPClock(t *testing.T) {
	// 3 frames of 1/30 s at a 30 Hz track clock; the middle one is big
	// enough for FU-A fragments.
	big := append([]byte{0, 0, 0, 1, 0x65}, make([]byte, 3000)...)
	td := &trackData{rate: 30, total: 3, frames: []frame{
		{data: []byte{0, 0, 0, 1, 0x65, 1}, ticks: 1}, {data: big, ticks: 1}, {data: []byte{0, 0, 0, 1, 0x41, 2}, ticks: 1}}}
	clip := packetize(td, true)
	if len(clip.frames) != 3 || len(clip.frames[1].payloads) < 3 || clip.clock != 90000 {
		t.Fatalf("clip %+v", clip)
	}
	type sent struct {
		ts     uint32
		marker bool
	}
	var got []sent
	ct := &clipTrack{clip: clip, ts0: 1000, write: func(ts uint32, marker bool, _ []byte) error {
		got = append(got, sent{ts, marker})
		return nil
	}}
	for i := 0; i < 6; i++ { // two passes: the second continues the clock
		if !ct.due(time.Duration(i) * time.Second / 30) {
			t.Fatalf("frame %d not due at its own media time", i)
		}
		if ct.due(time.Duration(i)*time.Second/30 - time.Millisecond) {
			t.Fatalf("frame %d due before its time", i)
		}
		if _, _, err := ct.send(); err != nil {
			t.Fatal(err)
		}
	}
	var frames []uint32
	for i, s := range got {
		if s.marker {
			frames = append(frames, s.ts)
		} else if i+1 < len(got) && got[i+1].ts != s.ts {
			t.Fatalf("packet %d ends a frame without the marker bit", i)
		}
	}
	want := []uint32{1000, 4000, 7000, 10000, 13000, 16000}
	if len(frames) != len(want) {
		t.Fatalf("frame timestamps %v, want %v", frames, want)
	}
	for i := range want {
		if frames[i] != want[i] {
			t.Fatalf("frame timestamps %v, want %v", frames, want)
		}
	}
}

func TestSwarmPublishesManyMembersAndEndsThemEitherWay(t *testing.T) {
	needFFmpeg(t)
	before := goleak.IgnoreCurrent()
	srv := newWHIPServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	m, err := Prepare(ctx, smallPattern(""))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := NewSwarm(m, SwarmConfig{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var members []*Member
	for _, name := range []string{"a", "b", "c"} {
		mb, err := s.Add(ctx, srv.url(name))
		if err != nil {
			t.Fatalf("add %s: %v", name, err)
		}
		members = append(members, mb)
	}
	if s.Members() != 3 {
		t.Fatalf("%d members", s.Members())
	}
	time.Sleep(3 * time.Second)
	s.Remove(members[0], true)  // Stop clicked: DELETE
	s.Remove(members[1], false) // tab crashed: no DELETE
	packets, bytes := s.Sent()
	if err := s.Close(); err != nil { // the last one with DELETE
		t.Fatal(err)
	}
	srv.close()
	goleak.VerifyNone(t, before)
	// 3 members × 3 s × (30 video frames + 50 Opus packets) at least.
	if packets < 3*3*80*9/10 || bytes < packets*100 {
		t.Errorf("sent %d packets, %d bytes", packets, bytes)
	}
	if v, a := srv.videoRTP.Load(), srv.audioRTP.Load(); v < 3*3*30*8/10 || a < 3*3*50*8/10 {
		t.Errorf("server got %d video and %d audio packets (%v)", v, a, srv)
	}
	if d := srv.deletes.Load(); d != 2 {
		t.Errorf("%d DELETEs, want 2 (member a and the one Close ended)", d)
	}
}

func TestSwarmRefusesToStartWithoutMedia(t *testing.T) {
	if _, err := NewSwarm(nil, SwarmConfig{}); err == nil {
		t.Fatal("a swarm without media was built")
	}
}
