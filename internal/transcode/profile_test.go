package transcode

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultLadderIsValid(t *testing.T) {
	if err := ValidateProfiles(DefaultLadder()); err != nil {
		t.Fatalf("DefaultLadder: %v", err)
	}
	want := []string{"720p 1280x720 3000000 30", "480p 854x480 1200000 30", "360p 640x360 700000 30"}
	var got []string
	for _, p := range DefaultLadder() {
		got = append(got, fmtProfile(p))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DefaultLadder = %q, want %q", got, want)
	}
}

func fmtProfile(p Profile) string {
	return fmt.Sprintf("%s %dx%d %d %d", p.Name, p.Width, p.Height, p.Bitrate, p.FPS)
}

func TestSourceProfile(t *testing.T) {
	if !SourceProfile().IsSource() {
		t.Fatal("SourceProfile().IsSource() = false")
	}
	for _, p := range DefaultLadder() {
		if p.IsSource() {
			t.Fatalf("%s.IsSource() = true", p.Name)
		}
	}
}

func TestParseProfiles(t *testing.T) {
	const ok720 = `{"name":"720p","width":1280,"height":720,"bitrate":3000000,"fps":30}`
	tests := []struct {
		name    string
		json    string
		want    []Profile
		wantErr string // substring; "" means success
	}{
		{
			name: "accepts a valid list with an optional gop",
			json: `[` + ok720 + `,{"name":"low_q-1","width":426,"height":240,"bitrate":400000,"fps":15,"gop":2}]`,
			want: []Profile{
				{Name: "720p", Width: 1280, Height: 720, Bitrate: 3_000_000, FPS: 30},
				{Name: "low_q-1", Width: 426, Height: 240, Bitrate: 400_000, FPS: 15, GOP: 2},
			},
		},
		{name: "accepts the bounds", json: `[{"name":"a","width":16,"height":7680,"bitrate":50000,"fps":120,"gop":60}]`,
			want: []Profile{{Name: "a", Width: 16, Height: 7680, Bitrate: 50_000, FPS: 120, GOP: 60}}},
		{name: "rejects unknown fields", json: `[{"name":"a","width":640,"height":360,"bitrate":700000,"fps":30,"framerate":30}]`, wantErr: `unknown field "framerate"`},
		{name: "rejects malformed JSON", json: `[{"name":`, wantErr: "unexpected EOF"},
		{name: "rejects an object instead of a list", json: ok720, wantErr: "cannot unmarshal"},
		{name: "rejects trailing data", json: `[` + ok720 + `] []`, wantErr: "after the profile list"},
		{name: "rejects an empty list", json: `[]`, wantErr: "list is empty"},
		{name: "rejects null", json: `null`, wantErr: "list is empty"},
		{name: "rejects an empty name", json: `[{"width":640,"height":360,"bitrate":700000,"fps":30}]`, wantErr: "name is empty"},
		{name: "rejects upper case names", json: `[{"name":"HD","width":640,"height":360,"bitrate":700000,"fps":30}]`, wantErr: "may contain only"},
		{name: "rejects path separators in names", json: `[{"name":"../etc","width":640,"height":360,"bitrate":700000,"fps":30}]`, wantErr: "may contain only"},
		{name: "rejects spaces in names", json: `[{"name":"a b","width":640,"height":360,"bitrate":700000,"fps":30}]`, wantErr: "may contain only"},
		{name: "rejects the reserved source name", json: `[{"name":"source","width":640,"height":360,"bitrate":700000,"fps":30}]`, wantErr: "reserved"},
		{name: "rejects long names", json: `[{"name":"` + strings.Repeat("a", 65) + `","width":640,"height":360,"bitrate":700000,"fps":30}]`, wantErr: "longer than 32"},
		// 33 to 64 characters once passed here and then failed every
		// segment in hls, whose limit is 32 (issue 11).
		{name: "rejects names HLS cannot store", json: `[{"name":"` + strings.Repeat("a", 33) + `","width":640,"height":360,"bitrate":700000,"fps":30}]`, wantErr: "longer than 32"},
		{name: "rejects duplicate names", json: `[` + ok720 + `,` + ok720 + `]`, wantErr: "name already used by profile 0"},
		{name: "rejects odd widths", json: `[{"name":"a","width":641,"height":360,"bitrate":700000,"fps":30}]`, wantErr: "width 641 must be even"},
		{name: "rejects odd heights", json: `[{"name":"a","width":640,"height":361,"bitrate":700000,"fps":30}]`, wantErr: "height 361 must be even"},
		{name: "rejects tiny sizes", json: `[{"name":"a","width":14,"height":360,"bitrate":700000,"fps":30}]`, wantErr: "width 14 is outside 16..7680"},
		{name: "rejects huge sizes", json: `[{"name":"a","width":640,"height":7682,"bitrate":700000,"fps":30}]`, wantErr: "height 7682 is outside"},
		{name: "rejects a bitrate in kbps", json: `[{"name":"a","width":640,"height":360,"bitrate":700,"fps":30}]`, wantErr: "bitrate 700 is outside 50000..50000000"},
		{name: "rejects a huge bitrate", json: `[{"name":"a","width":640,"height":360,"bitrate":50000001,"fps":30}]`, wantErr: "bitrate 50000001 is outside"},
		{name: "rejects a missing fps", json: `[{"name":"a","width":640,"height":360,"bitrate":700000}]`, wantErr: "fps 0 is outside 1..120"},
		{name: "rejects a high fps", json: `[{"name":"a","width":640,"height":360,"bitrate":700000,"fps":121}]`, wantErr: "fps 121 is outside"},
		{name: "rejects a negative gop", json: `[{"name":"a","width":640,"height":360,"bitrate":700000,"fps":30,"gop":-1}]`, wantErr: "gop -1 seconds is outside 0..60"},
		{name: "rejects a gop shorter than a frame", json: `[{"name":"a","width":640,"height":360,"bitrate":700000,"fps":10,"gop":0.01}]`, wantErr: "shorter than one frame"},
		{name: "names the bad profile by index", json: `[` + ok720 + `,{"name":"x","width":640,"height":360,"bitrate":1,"fps":30}]`, wantErr: `profile 1 ("x"): bitrate 1`},
		{name: "reports every problem at once", json: `[{"name":"x","width":3,"height":360,"bitrate":1,"fps":30}]`, wantErr: "width 3 is outside 16..7680\nbitrate 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProfiles([]byte(tt.json))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseProfiles: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("ParseProfiles = %+v, want %+v", got, tt.want)
				}
				return
			}
			if !errors.Is(err, ErrInvalidProfile) {
				t.Fatalf("ParseProfiles error = %v, want ErrInvalidProfile", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseProfiles error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadProfiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ladder.json")
	data, err := json.Marshal(DefaultLadder())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("reads a file written from DefaultLadder back unchanged", func(t *testing.T) {
		got, err := LoadProfiles(good)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, DefaultLadder()) {
			t.Fatalf("LoadProfiles = %+v, want DefaultLadder", got)
		}
	})
	t.Run("names the file in validation errors", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.json")
		if err := os.WriteFile(bad, []byte(`[]`), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadProfiles(bad)
		if !errors.Is(err, ErrInvalidProfile) || !strings.Contains(err.Error(), bad) {
			t.Fatalf("LoadProfiles error = %v, want ErrInvalidProfile naming %s", err, bad)
		}
	})
	t.Run("reports a missing file", func(t *testing.T) {
		_, err := LoadProfiles(filepath.Join(dir, "missing.json"))
		if !errors.Is(err, ErrInvalidProfile) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("LoadProfiles error = %v, want ErrInvalidProfile and ErrNotExist", err)
		}
	})
}

// FuzzParseProfiles checks that any accepted list is valid and survives a
// JSON round trip unchanged, and that rejections always wrap
// ErrInvalidProfile.
func FuzzParseProfiles(f *testing.F) {
	f.Add([]byte(`[{"name":"720p","width":1280,"height":720,"bitrate":3000000,"fps":30}]`))
	f.Add([]byte(`[{"name":"a","width":16,"height":16,"bitrate":50000,"fps":1,"gop":0.5},{"name":"b","width":7680,"height":7680,"bitrate":50000000,"fps":120}]`))
	f.Add([]byte(`[{"name":"a","width":640,"height":360,"bitrate":700000,"fps":30,"x":1}]`))
	f.Add([]byte(`[{"name":"a","width":1e3,"height":-2,"bitrate":"1","fps":30}]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := ParseProfiles(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidProfile) {
				t.Fatalf("error %v does not wrap ErrInvalidProfile", err)
			}
			return
		}
		if err := ValidateProfiles(ps); err != nil {
			t.Fatalf("accepted profiles do not validate: %v", err)
		}
		again, err := json.Marshal(ps)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseProfiles(again)
		if err != nil {
			t.Fatalf("round trip rejected %s: %v", again, err)
		}
		if !reflect.DeepEqual(back, ps) {
			t.Fatalf("round trip changed %+v into %+v", ps, back)
		}
	})
}
