package publish

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

func TestParseICEServers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []string
		want    []webrtc.ICEServer
	}{
		{
			name:    "stun server",
			headers: []string{`<stun:stun.example.net:3478>; rel="ice-server"`},
			want:    []webrtc.ICEServer{{URLs: []string{"stun:stun.example.net:3478"}}},
		},
		{
			name: "turn server with credentials",
			headers: []string{`<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; ` +
				`username="user"; credential="pass"; credential-type="password"`},
			want: []webrtc.ICEServer{{URLs: []string{"turn:turn.example.net:3478?transport=udp"}, Username: "user", Credential: "pass"}},
		},
		{
			name:    "several links in one header separated by commas",
			headers: []string{`<stun:a.example:3478>; rel="ice-server", <turns:b.example:443?transport=tcp>; rel=ice-server; username=u; credential=p`},
			want: []webrtc.ICEServer{
				{URLs: []string{"stun:a.example:3478"}},
				{URLs: []string{"turns:b.example:443?transport=tcp"}, Username: "u", Credential: "p"},
			},
		},
		{
			name:    "several headers",
			headers: []string{`<stun:a.example>; rel="ice-server"`, `<stun:b.example>; rel="ice-server"`},
			want:    []webrtc.ICEServer{{URLs: []string{"stun:a.example"}}, {URLs: []string{"stun:b.example"}}},
		},
		{
			name:    "quoted values may hold commas semicolons and escaped quotes",
			headers: []string{`<turn:t.example>; rel="ice-server"; username="a,b;c"; credential="say \"hi\""`},
			want:    []webrtc.ICEServer{{URLs: []string{"turn:t.example"}, Username: "a,b;c", Credential: `say "hi"`}},
		},
		{
			name:    "rel is a case-insensitive list",
			headers: []string{`<stun:a.example>; REL="preload ICE-Server"`},
			want:    []webrtc.ICEServer{{URLs: []string{"stun:a.example"}}},
		},
		{
			name:    "only the first rel counts",
			headers: []string{`<stun:a.example>; rel="next"; rel="ice-server"`},
		},
		{
			name:    "other relations are ignored",
			headers: []string{`</whip/cam/x/layer>; rel="urn:ietf:params:whip:ext:core:layer"`, `<stun:a.example>; rel="alternate"`},
		},
		{
			name:    "non-ICE schemes are ignored",
			headers: []string{`<https://evil.example/>; rel="ice-server"`},
		},
		{
			name:    "a malformed link does not hide the next one",
			headers: []string{`stun:bare.example; rel="ice-server", <stun:ok.example>; rel="ice-server"`},
			want:    []webrtc.ICEServer{{URLs: []string{"stun:ok.example"}}},
		},
		{
			name:    "unterminated target",
			headers: []string{`<stun:a.example; rel="ice-server"`},
		},
		{name: "empty header", headers: []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseICEServers(tc.headers)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseICEServers(%q)\n got %#v\nwant %#v", tc.headers, got, tc.want)
			}
		})
	}
}

func TestResolveLocation(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:8935/whip/cam")
	for _, tc := range []struct {
		name, loc, want string
		err             error
	}{
		{name: "absolute path", loc: "/whip/cam/abc", want: "http://127.0.0.1:8935/whip/cam/abc"},
		{name: "relative path replaces last segment", loc: "cam/abc", want: "http://127.0.0.1:8935/whip/cam/abc"},
		{name: "dot segments", loc: "../sessions/abc", want: "http://127.0.0.1:8935/sessions/abc"},
		{name: "absolute URL on another host", loc: "https://edge.example/s/abc", want: "https://edge.example/s/abc"},
		{name: "network-path reference keeps scheme", loc: "//edge.example/s/abc", want: "http://edge.example/s/abc"},
		{name: "surrounding spaces", loc: "  /whip/cam/abc ", want: "http://127.0.0.1:8935/whip/cam/abc"},
		{name: "missing", loc: "", err: ErrNoLocation},
		{name: "not HTTP", loc: "javascript:alert(1)", err: ErrNoLocation},
		{name: "unparsable", loc: "http://[::1", err: ErrNoLocation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveLocation(base, tc.loc)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("resolveLocation(%q) error = %v, want %v", tc.loc, err, tc.err)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Errorf("resolveLocation(%q) = %v, %v; want %s", tc.loc, got, err, tc.want)
			}
		})
	}
}

func TestStatusErrorNamesStatusAndQuotesBody(t *testing.T) {
	err := error(&StatusError{Code: 409, Body: bodySnippet([]byte("stream cam\n  is already live\n"))})
	if !errors.Is(err, ErrUnexpectedStatus) {
		t.Errorf("%v does not match ErrUnexpectedStatus", err)
	}
	if want := "publish: the WHIP server refused the offer: 409 Conflict: stream cam is already live"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	long := bodySnippet([]byte(strings.Repeat("é", 1000)))
	if len(long) > maxErrorBody+len("…") || !strings.HasSuffix(long, "…") || !strings.HasPrefix(long, "é") {
		t.Errorf("long body snippet has %d bytes: %q…", len(long), long[:20])
	}
}

// formatLink writes s back as a Link header value.
func formatLink(s webrtc.ICEServer) string {
	q := func(v string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) }
	h := fmt.Sprintf(`<%s>; rel="ice-server"`, s.URLs[0])
	if s.Username != "" {
		h += fmt.Sprintf(`; username="%s"`, q(s.Username))
	}
	if c, ok := s.Credential.(string); ok {
		h += fmt.Sprintf(`; credential="%s"`, q(c))
	}
	return h
}

func FuzzParseICEServers(f *testing.F) {
	f.Add(`<stun:stun.example.net:3478>; rel="ice-server"`)
	f.Add(`<turn:t.example:3478?transport=udp>; rel="ice-server"; username="u"; credential="p"; credential-type="password"`)
	f.Add(`<stun:a>; rel=ice-server, <turns:b>; rel="ice-server"; username="a,\"b"`)
	f.Add(`<stun:a; rel="ice-server`)
	f.Fuzz(func(t *testing.T, h string) {
		servers := parseICEServers([]string{h})
		for _, s := range servers {
			if len(s.URLs) != 1 || !isICEScheme(s.URLs[0]) {
				t.Fatalf("server %#v from %q is not one STUN/TURN URL", s, h)
			}
			if strings.ContainsAny(s.URLs[0], ">") {
				continue // a target with '>' cannot be written back
			}
			// What was parsed survives formatting and parsing again.
			again := parseICEServers([]string{formatLink(s)})
			if len(again) != 1 || !reflect.DeepEqual(again[0], s) {
				t.Fatalf("round trip of %#v gave %#v", s, again)
			}
		}
	})
}

func FuzzResolveLocation(f *testing.F) {
	f.Add("/whip/cam/abc")
	f.Add("../x")
	f.Add("https://edge.example/s")
	f.Add("javascript:alert(1)")
	base, _ := url.Parse("http://127.0.0.1:8935/whip/cam")
	f.Fuzz(func(t *testing.T, loc string) {
		u, err := resolveLocation(base, loc)
		if err != nil {
			if !errors.Is(err, ErrNoLocation) {
				t.Fatalf("error %v does not wrap ErrNoLocation", err)
			}
			return
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Fatalf("resolveLocation(%q) = %v: not an HTTP URL with a host", loc, u)
		}
	})
}
