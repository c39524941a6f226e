package transcode

import (
	"reflect"
	"testing"
)

func names(ps []Profile) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func TestLadder(t *testing.T) {
	rung := func(name string, h int) Profile { return Profile{Name: name, Width: h * 16 / 9 &^ 1, Height: h} }
	tests := []struct {
		name       string
		profiles   []Profile
		srcW, srcH int
		want       []string
	}{
		{name: "1080p source keeps every default rung", profiles: DefaultLadder(), srcW: 1920, srcH: 1080,
			want: []string{"source", "720p", "480p", "360p"}},
		{name: "720p source drops the rung equal to it", profiles: DefaultLadder(), srcW: 1280, srcH: 720,
			want: []string{"source", "480p", "360p"}},
		{name: "a source just above a rung keeps it", profiles: DefaultLadder(), srcW: 1282, srcH: 722,
			want: []string{"source", "720p", "480p", "360p"}},
		{name: "480p source keeps only 360p", profiles: DefaultLadder(), srcW: 854, srcH: 480,
			want: []string{"source", "360p"}},
		{name: "a source below every rung is passthrough only", profiles: DefaultLadder(), srcW: 426, srcH: 240,
			want: []string{"source"}},
		{name: "rungs are sorted tallest first", profiles: []Profile{rung("b", 360), rung("a", 720), rung("c", 480)}, srcW: 1920, srcH: 1080,
			want: []string{"source", "a", "c", "b"}},
		{name: "equal heights keep their configured order", profiles: []Profile{rung("lo", 360), rung("hi", 480), rung("lo2", 360)}, srcW: 1920, srcH: 1080,
			want: []string{"source", "hi", "lo", "lo2"}},
		{name: "a source profile in the input is not duplicated", profiles: append([]Profile{SourceProfile()}, DefaultLadder()...), srcW: 1920, srcH: 1080,
			want: []string{"source", "720p", "480p", "360p"}},
		{name: "portrait sources compare by height", profiles: DefaultLadder(), srcW: 720, srcH: 1280,
			want: []string{"source", "720p", "480p", "360p"}},
		{name: "an unknown source height keeps every rung", profiles: DefaultLadder(), srcW: 0, srcH: 0,
			want: []string{"source", "720p", "480p", "360p"}},
		{name: "no profiles is passthrough only", profiles: nil, srcW: 1280, srcH: 720,
			want: []string{"source"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := names(Ladder(tt.profiles, tt.srcW, tt.srcH))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Ladder = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLadderDoesNotReorderItsInput(t *testing.T) {
	in := []Profile{{Name: "b", Height: 360}, {Name: "a", Height: 720}}
	Ladder(in, 1920, 1080)
	if got := names(in); !reflect.DeepEqual(got, []string{"b", "a"}) {
		t.Fatalf("input reordered to %q", got)
	}
}

func TestSessionLadder(t *testing.T) {
	tests := []struct {
		name       string
		srcW, srcH int
		want       []string
	}{
		{name: "a browser starting at 360p gets every rung below the top", srcW: 640, srcH: 360, want: []string{"source", "480p", "360p"}},
		{name: "a 720p source as before", srcW: 1280, srcH: 720, want: []string{"source", "480p", "360p"}},
		{name: "a 1080p source keeps the top rung", srcW: 1920, srcH: 1080, want: []string{"source", "720p", "480p", "360p"}},
		{name: "an unknown size gets every rung below the top", want: []string{"source", "480p", "360p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(SessionLadder(DefaultLadder(), tt.srcW, tt.srcH)); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("SessionLadder(%dx%d) = %q, want %q", tt.srcW, tt.srcH, got, tt.want)
			}
		})
	}
}

func TestFitSize(t *testing.T) {
	p720, p480, p360 := DefaultLadder()[0], DefaultLadder()[1], DefaultLadder()[2]
	tests := []struct {
		name         string
		p            Profile
		srcW, srcH   int
		wantW, wantH int
	}{
		{name: "16:9 into 16:9 is the box", p: p720, srcW: 1920, srcH: 1080, wantW: 1280, wantH: 720},
		{name: "854x480 box rounds the width to even", p: p480, srcW: 1280, srcH: 720, wantW: 854, wantH: 480},
		{name: "360p from 720p is exact", p: p360, srcW: 1280, srcH: 720, wantW: 640, wantH: 360},
		{name: "4:3 is bound by height", p: p720, srcW: 1440, srcH: 1080, wantW: 960, wantH: 720},
		{name: "ultra-wide is bound by width", p: p720, srcW: 2560, srcH: 1080, wantW: 1280, wantH: 540},
		{name: "portrait fits inside the landscape box", p: p720, srcW: 720, srcH: 1280, wantW: 406, wantH: 720},
		{name: "portrait phone 1080x1920 into 480p", p: p480, srcW: 1080, srcH: 1920, wantW: 270, wantH: 480},
		{name: "odd source sizes give even outputs", p: p360, srcW: 1279, srcH: 719, wantW: 640, wantH: 360},
		{name: "odd rounding results go to the nearest even", p: p360, srcW: 1000, srcH: 1001, wantW: 360, wantH: 360},
		{name: "extreme aspect never goes below 2", p: p360, srcW: 7680, srcH: 2, wantW: 640, wantH: 2},
		{name: "the source profile keeps the source size", p: SourceProfile(), srcW: 1279, srcH: 719, wantW: 1279, wantH: 719},
		{name: "an unknown source size gives the box", p: p480, srcW: 0, srcH: 0, wantW: 854, wantH: 480},
		{name: "a smaller source is never upscaled", p: p480, srcW: 640, srcH: 360, wantW: 640, wantH: 360},
		{name: "a source equal to the box keeps its size", p: p360, srcW: 640, srcH: 360, wantW: 640, wantH: 360},
		{name: "a small odd source rounds down to even", p: p720, srcW: 321, srcH: 181, wantW: 320, wantH: 180},
		{name: "a tiny source stays at least 2", p: p360, srcW: 1, srcH: 1, wantW: 2, wantH: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, h := FitSize(tt.p, tt.srcW, tt.srcH)
			if w != tt.wantW || h != tt.wantH {
				t.Fatalf("FitSize(%dx%d box, %dx%d source) = %dx%d, want %dx%d",
					tt.p.Width, tt.p.Height, tt.srcW, tt.srcH, w, h, tt.wantW, tt.wantH)
			}
		})
	}
}

// FuzzFitSize checks FitSize's promises over arbitrary sizes: even sides,
// inside the box, and the source aspect ratio kept to within rounding.
func FuzzFitSize(f *testing.F) {
	f.Add(1280, 720, 1920, 1080)
	f.Add(854, 480, 1280, 720)
	f.Add(640, 360, 720, 1280)
	f.Add(16, 16, 7680, 1)
	f.Fuzz(func(t *testing.T, bw, bh, sw, sh int) {
		bw, bh = 2*(1+mod(bw, MaxDimension/2)), 2*(1+mod(bh, MaxDimension/2))
		sw, sh = 1+mod(sw, MaxDimension), 1+mod(sh, MaxDimension)
		w, h := FitSize(Profile{Name: "x", Width: bw, Height: bh}, sw, sh)
		if w%2 != 0 || h%2 != 0 || w < 2 || h < 2 {
			t.Fatalf("FitSize = %dx%d, not even and at least 2", w, h)
		}
		if w > bw || h > bh {
			t.Fatalf("FitSize = %dx%d outside the %dx%d box", w, h, bw, bh)
		}
		if w > max(2, sw) || h > max(2, sh) {
			t.Fatalf("FitSize(%dx%d box, %dx%d) = %dx%d upscales", bw, bh, sw, sh, w, h)
		}
		if w != bw && h != bh && w < sw&^1 && h < sh&^1 {
			t.Fatalf("FitSize = %dx%d touches neither the %dx%d box nor the %dx%d source", w, h, bw, bh, sw, sh)
		}
		// Rounding to even moves a side by at most 1 (2 at the floor of 2).
		if d := abs(w*sh - h*sw); d > 2*max(sw, sh) {
			t.Fatalf("FitSize(%dx%d box, %dx%d) = %dx%d distorts the aspect ratio", bw, bh, sw, sh, w, h)
		}
	})
}

// mod maps any int, negative ones included, into 0..n-1.
func mod(x, n int) int { return int(uint(x) % uint(n)) }

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
