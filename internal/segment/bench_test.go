package segment_test

import (
	"testing"
	"time"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/segment"
)

// BenchmarkWrite measures Write on a 30 fps stream of 8 KB frames (about
// 2 Mbit/s) with an IDR every second and 20 ms Opus packets between frames.
func BenchmarkWrite(b *testing.B) {
	var units []media.AccessUnit
	for i := range 60 {
		units = append(units, videoUnit(frameAt(i), i%30 == 0, 8000))
		for j := range 2 {
			units = append(units, audioUnit(frameAt(i)+time.Duration(j)*ms(16)))
		}
	}
	size := 0
	for _, au := range units {
		for _, n := range au.NALUs {
			size += len(n)
		}
		size += len(au.Data)
	}
	s, err := segment.New(segment.Config{Video: media.CodecH264, Audio: media.CodecOpus})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var base time.Duration
	for b.Loop() {
		for _, au := range units {
			au.PTS += base
			if err := s.Write(au); err != nil {
				b.Fatal(err)
			}
		}
		base += 2 * time.Second
	}
}
