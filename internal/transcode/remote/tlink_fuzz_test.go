package remote

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParseEvent: a session line is refused or yields an event that is
// valid, re-encodes, and parses back to itself; never a panic.
func FuzzParseEvent(f *testing.F) {
	for _, seed := range []string{
		`{"type":"hello","transcoder":"0a1b2c","heartbeat_ms":5000}`,
		`{"type":"job","job":"` + testJobID + `","stream":"cam","seq":7,"source":"1280x720","profiles":[{"name":"source"},{"name":"360p","width":640,"height":360,"bitrate":700000,"fps":30}]}`,
		`{"type":"job","job":"` + testJobID + `","seq":0,"source":"16x16","profiles":[{"name":"source"}]}`,
		`{"type":"cancel","job":"` + testJobID + `"}`,
		`{"type":"ping"}`,
		`{"type":"drain"}`,
		`{"type":"job","job":"` + testJobID + `","seq":1,"source":"0x0","profiles":[]}`,
		`{"type":"hello","transcoder":"x","heartbeat_ms":-5}`,
		`{"type":"job","profiles":[{"name":"a","gop":1e309}]}`,
		`[]`, `null`, ``, `{"type":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := ParseEvent(line)
		if err != nil {
			return
		}
		switch ev.Type {
		case EventHello, EventJob, EventCancel, EventPing:
		default:
			if !reflect.DeepEqual(ev, Event{Type: ev.Type}) {
				t.Fatalf("unknown type %q carries fields: %+v", ev.Type, ev)
			}
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("accepted an invalid event %+v: %v", ev, err)
		}
		b, err := EncodeEvent(ev)
		if err != nil {
			t.Fatalf("cannot re-encode %+v: %v", ev, err)
		}
		if len(b) > MaxEventLine && len(line) <= MaxEventLine/2 {
			t.Fatalf("a %d-byte line re-encodes to %d bytes", len(line), len(b))
		}
		again, err := ParseEvent(b)
		if err != nil || !reflect.DeepEqual(again, ev) {
			t.Fatalf("round trip: %+v → %s → %+v %v", ev, b, again, err)
		}
	})
}

// FuzzParseSessionQuery: O's reading of a session query accepts only a
// capacity of 1..64 and a well-formed name, which survive re-encoding.
func FuzzParseSessionQuery(f *testing.F) {
	for _, seed := range []string{"capacity=1", "capacity=64&name=gpu.box-1_a", "capacity=0", "capacity=1&capacity=2",
		"name=x", "capacity=%31", "capacity=1;name=x", "capacity=+1", "capacity=1&name=" + strings.Repeat("n", 65)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, q string) {
		p, err := ParseSessionQuery(q)
		if err != nil {
			return
		}
		if p.Capacity < 1 || p.Capacity > MaxCapacity || CheckTranscoderName(p.Name) != nil {
			t.Fatalf("accepted %+v from %q", p, q)
		}
		if again, err := ParseSessionQuery(p.Encode()); err != nil || again != p {
			t.Fatalf("round trip %+v → %q → %+v %v", p, p.Encode(), again, err)
		}
	})
}
