package remote

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/transcode"
)

const testJobID = "0123456789abcdef0123456789abcdef"

func TestEventLinesRoundTrip(t *testing.T) {
	tests := map[string]struct {
		ev   Event
		line string
	}{
		"hello": {Event{Type: EventHello, Transcoder: "t-1", Heartbeat: 5 * time.Second},
			`{"type":"hello","transcoder":"t-1","heartbeat_ms":5000}`},
		"job with seq 0 and no stream keeps both": {
			Event{Type: EventJob, Job: testJobID, Seq: 0, SourceWidth: 640, SourceHeight: 360,
				Profiles: []transcode.Profile{transcode.SourceProfile()}},
			`{"type":"job","job":"` + testJobID + `","stream":"","seq":0,"source":"640x360","profiles":[{"name":"source","width":0,"height":0,"bitrate":0,"fps":0}]}`},
		"job with a ladder": {
			Event{Type: EventJob, Job: testJobID, Stream: "cam", Seq: 1 << 60, SourceWidth: 320, SourceHeight: 240, Profiles: ladder},
			`{"type":"job","job":"` + testJobID + `","stream":"cam","seq":1152921504606846976,"source":"320x240","profiles":[{"name":"source","width":0,"height":0,"bitrate":0,"fps":0},{"name":"120p","width":160,"height":120,"bitrate":100000,"fps":30}]}`},
		"cancel": {Event{Type: EventCancel, Job: testJobID}, `{"type":"cancel","job":"` + testJobID + `"}`},
		"ping":   {Event{Type: EventPing}, `{"type":"ping"}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := EncodeEvent(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.line+"\n" {
				t.Fatalf("encoded\n%s\nwant\n%s", b, tc.line)
			}
			got, err := ParseEvent([]byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.ev) {
				t.Fatalf("parsed %+v, want %+v", got, tc.ev)
			}
		})
	}
}

func TestParseEventRefusesBrokenLines(t *testing.T) {
	job := func(fields string) string { return `{"type":"job","job":"` + testJobID + `",` + fields + `}` }
	okLadder := `"profiles":[{"name":"source"}]`
	tests := map[string]string{
		"not json":             `hello`,
		"no type":              `{"job":"x"}`,
		"hello without id":     `{"type":"hello","heartbeat_ms":5000}`,
		"hello bad id":         `{"type":"hello","transcoder":"a b","heartbeat_ms":5000}`,
		"hello no heartbeat":   `{"type":"hello","transcoder":"t"}`,
		"hello huge heartbeat": `{"type":"hello","transcoder":"t","heartbeat_ms":99999999999}`,
		"job short id":         `{"type":"job","job":"abc","seq":1,"source":"640x360",` + okLadder + `}`,
		"job upper-case id":    `{"type":"job","job":"` + strings.ToUpper(testJobID) + `","seq":1,"source":"640x360",` + okLadder + `}`,
		"job without seq":      job(`"source":"640x360",` + okLadder),
		"job negative seq":     job(`"seq":-1,"source":"640x360",` + okLadder),
		"job bad source":       job(`"seq":1,"source":"640",` + okLadder),
		"job huge source":      job(`"seq":1,"source":"99999x360",` + okLadder),
		"job no profiles":      job(`"seq":1,"source":"640x360"`),
		"job bad rung":         job(`"seq":1,"source":"640x360","profiles":[{"name":"../x","width":3}]`),
		"job repeated source":  job(`"seq":1,"source":"640x360","profiles":[{"name":"source"},{"name":"source"}]`),
		"job long stream":      job(`"seq":1,"stream":"` + strings.Repeat("s", MaxStreamLabel+1) + `","source":"640x360",` + okLadder),
		"cancel without job":   `{"type":"cancel"}`,
	}
	for name, line := range tests {
		t.Run(name, func(t *testing.T) {
			if ev, err := ParseEvent([]byte(line)); !errors.Is(err, ErrBadEvent) {
				t.Fatalf("accepted %+v (err %v)", ev, err)
			}
		})
	}
}

// TestUnknownEventsPassThrough: a newer orchestrator's event types reach
// the caller, which skips them, instead of breaking the link.
func TestUnknownEventsPassThrough(t *testing.T) {
	ev, err := ParseEvent([]byte(`{"type":"drain","when":"now"}`))
	if err != nil || !reflect.DeepEqual(ev, Event{Type: "drain"}) {
		t.Fatalf("%+v %v", ev, err)
	}
	ev, err = ParseEvent([]byte(`{"type":"ping","extra":1}`))
	if err != nil || ev.Type != EventPing {
		t.Fatalf("unknown field: %+v %v", ev, err)
	}
}

func TestEventReader(t *testing.T) {
	long := `{"type":"ping","pad":"` + strings.Repeat("x", MaxEventLine) + `"}` + "\n"
	tests := map[string]struct {
		stream string
		types  []string
		end    error
	}{
		"lines then EOF":       {"{\"type\":\"ping\"}\n\n{\"type\":\"ping\"}\r\n", []string{"ping", "ping"}, io.EOF},
		"cut last line":        {"{\"type\":\"ping\"}\n{\"type\":", []string{"ping"}, io.ErrUnexpectedEOF},
		"line over the bound":  {"{\"type\":\"ping\"}\n" + long, []string{"ping"}, ErrBadEvent},
		"bad line":             {"{\"type\":\"ping\"}\nnope\n", []string{"ping"}, ErrBadEvent},
		"line at the bound ok": {`{"type":"ping","pad":"` + strings.Repeat("x", MaxEventLine-25) + `"}` + "\n", []string{"ping"}, io.EOF},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := NewEventReader(strings.NewReader(tc.stream))
			var types []string
			for {
				ev, err := r.Next()
				if err != nil {
					if !errors.Is(err, tc.end) {
						t.Fatalf("ended with %v, want %v", err, tc.end)
					}
					break
				}
				types = append(types, ev.Type)
			}
			if !reflect.DeepEqual(types, tc.types) {
				t.Fatalf("events %v, want %v", types, tc.types)
			}
		})
	}
}

func TestParseSessionQuery(t *testing.T) {
	tests := []struct {
		query string
		want  SessionParams
		ok    bool
	}{
		{"capacity=1", SessionParams{Capacity: 1}, true},
		{"capacity=64&name=gpu-box.2_a", SessionParams{Capacity: 64, Name: "gpu-box.2_a"}, true},
		{"capacity=2&future=1", SessionParams{Capacity: 2}, true},
		{"", SessionParams{}, false},
		{"capacity=0", SessionParams{}, false},
		{"capacity=65", SessionParams{}, false},
		{"capacity=-1", SessionParams{}, false},
		{"capacity=1x", SessionParams{}, false},
		{"capacity=1&capacity=2", SessionParams{}, false},
		{"capacity=1&name=a&name=b", SessionParams{}, false},
		{"capacity=1&name=has%20space", SessionParams{}, false},
		{"capacity=1&name=" + strings.Repeat("n", 65), SessionParams{}, false},
		{"capacity=1&name=%zz", SessionParams{}, false},
	}
	for _, tc := range tests {
		got, err := ParseSessionQuery(tc.query)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: %+v %v", tc.query, got, err)
		}
		if err != nil && !errors.Is(err, ErrBadRequest) {
			t.Errorf("%q: %v is not a bad request", tc.query, err)
		}
		if tc.ok {
			if again, err := ParseSessionQuery(got.Encode()); err != nil || again != got {
				t.Errorf("%q: Encode round trip %+v %v", tc.query, again, err)
			}
		}
	}
}

func TestEncodeRenditionsIsWhatReadRenditionsChecks(t *testing.T) {
	rends := []transcode.Rendition{
		{Profile: ladder[0], Width: 320, Height: 240, Data: []byte("source bytes")},
		{Profile: ladder[1], Width: 160, Height: 120, Data: []byte("small")},
	}
	ct, body := EncodeRenditions(rends)
	got, err := ReadRenditions(ct, strings.NewReader(string(body)), ladder)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rends) {
		t.Fatalf("got %+v", got)
	}
	tampered := strings.Replace(string(body), "small", "SMALL", 1)
	if _, err := ReadRenditions(ct, strings.NewReader(tampered), ladder); !errors.Is(err, ErrBadAnswer) {
		t.Fatalf("tampered body accepted: %v", err)
	}
}

func TestFailureClassAndReason(t *testing.T) {
	for _, s := range []string{FailureInput, FailureTranscoder} {
		if got, err := ParseFailureClass(s); err != nil || got != s {
			t.Errorf("%q: %q %v", s, got, err)
		}
	}
	for _, s := range []string{"", "Input", "both"} {
		if _, err := ParseFailureClass(s); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%q accepted: %v", s, err)
		}
	}
	r := TruncateReason(strings.Repeat("é", MaxFailureReason)) // 2 bytes each: the cut lands inside one
	if len(r) > MaxFailureReason || !strings.HasPrefix(strings.Repeat("é", MaxFailureReason), r) || len(r) < MaxFailureReason-1 {
		t.Fatalf("truncated to %d bytes", len(r))
	}
	if TruncateReason("short") != "short" {
		t.Fatal("short reason changed")
	}
}
