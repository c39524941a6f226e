package publish

import (
	"strings"

	"github.com/pion/webrtc/v4"
)

// link is one link-value of an RFC 8288 Link header: a target and its
// parameters, names lower-cased.
type link struct {
	target string
	params map[string]string
}

// parseICEServers picks the STUN and TURN servers a WHIP server offers in
// Link headers with rel="ice-server" (RFC 9725 section 4.6). Links of
// other relations and targets of other schemes are ignored.
func parseICEServers(headers []string) []webrtc.ICEServer {
	var servers []webrtc.ICEServer
	for _, h := range headers {
		for _, l := range parseLinks(h) {
			if s, ok := l.iceServer(); ok {
				servers = append(servers, s)
			}
		}
	}
	return servers
}

func (l link) iceServer() (webrtc.ICEServer, bool) {
	if !hasRelation(l.params["rel"], "ice-server") || !isICEScheme(l.target) {
		return webrtc.ICEServer{}, false
	}
	s := webrtc.ICEServer{URLs: []string{l.target}, Username: l.params["username"]}
	if c, ok := l.params["credential"]; ok {
		s.Credential = c
	}
	return s, true
}

// hasRelation reports whether the space-separated rel list holds want
// (relation types compare case-insensitively, RFC 8288 section 2.1.1).
func hasRelation(rel, want string) bool {
	for _, r := range strings.Fields(rel) {
		if strings.EqualFold(r, want) {
			return true
		}
	}
	return false
}

func isICEScheme(target string) bool {
	scheme, _, ok := strings.Cut(target, ":")
	if !ok {
		return false
	}
	switch strings.ToLower(scheme) {
	case "stun", "stuns", "turn", "turns":
		return true
	}
	return false
}

// parseLinks splits one Link header into link-values (RFC 8288 section
// 3): `<target>` followed by `; name=value` parameters, values being tokens
// or quoted strings, link-values separated by commas. Malformed pieces are
// skipped up to the next comma.
func parseLinks(h string) []link {
	var links []link
	p := linkParser{s: h}
	for {
		p.skip(" \t,")
		if p.done() {
			return links
		}
		l, ok := p.link()
		if ok {
			links = append(links, l)
		} else {
			p.skipValue()
		}
	}
}

// linkParser walks a Link header.
type linkParser struct {
	s string
	i int
}

func (p *linkParser) done() bool { return p.i >= len(p.s) }

func (p *linkParser) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}

func (p *linkParser) skip(chars string) {
	for !p.done() && strings.IndexByte(chars, p.s[p.i]) >= 0 {
		p.i++
	}
}

// skipValue moves past the rest of a malformed link-value.
func (p *linkParser) skipValue() {
	for !p.done() && p.peek() != ',' {
		if p.peek() == '"' {
			p.quoted()
			continue
		}
		p.i++
	}
}

func (p *linkParser) link() (link, bool) {
	if p.peek() != '<' {
		return link{}, false
	}
	end := strings.IndexByte(p.s[p.i:], '>')
	if end < 0 {
		p.i = len(p.s)
		return link{}, false
	}
	l := link{target: strings.TrimSpace(p.s[p.i+1 : p.i+end]), params: map[string]string{}}
	p.i += end + 1
	for {
		p.skip(" \t")
		if p.peek() != ';' {
			return l, p.done() || p.peek() == ','
		}
		p.i++
		name, value := p.param()
		// RFC 8288 section 3.3: only the first rel counts.
		if _, seen := l.params[name]; name != "" && !seen {
			l.params[name] = value
		}
	}
}

// param reads `name`, `name=token` or `name="quoted"`.
func (p *linkParser) param() (name, value string) {
	p.skip(" \t")
	name = strings.ToLower(p.token())
	p.skip(" \t")
	if p.peek() != '=' {
		return name, ""
	}
	p.i++
	p.skip(" \t")
	if p.peek() == '"' {
		return name, p.quoted()
	}
	return name, p.token()
}

func (p *linkParser) token() string {
	start := p.i
	for !p.done() && strings.IndexByte(" \t;,=\"<>", p.s[p.i]) < 0 {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string with backslash escapes (RFC 9110 section
// 5.6.4), starting at the opening quote.
func (p *linkParser) quoted() string {
	var b strings.Builder
	for p.i++; !p.done(); p.i++ {
		switch c := p.s[p.i]; c {
		case '"':
			p.i++
			return b.String()
		case '\\':
			if p.i+1 < len(p.s) {
				p.i++
			}
			b.WriteByte(p.s[p.i])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
