package wish

import (
	"testing"
)

// FuzzParseFragment: credentials come in pairs or not at all.
func FuzzParseFragment(f *testing.F) {
	f.Add([]byte("a=ice-ufrag:x\r\na=ice-pwd:y\r\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\na=end-of-candidates\r\n"))
	f.Add([]byte("m=audio 9 UDP/TLS/RTP/SAVPF 111\na=mid:0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFragment(b)
		if err == nil && (fr.Ufrag == "") != (fr.Pwd == "") {
			t.Fatal("accepted half a credential pair")
		}
	})
}

// FuzzPatchIntent reads an offer's credentials as a Peer's Answer does,
// then judges a PATCH of arbitrary bytes against them: never a panic, and
// a restart only with If-Match and a new pair of valid credentials, both
// different from the session's (RFC 9725 §4.3.3, RFC 8839 §5.4).
func FuzzPatchIntent(f *testing.F) {
	const offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n" +
		"c=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
	f.Add(offer, "*", []byte("a=ice-ufrag:efgh\r\na=ice-pwd:ABCDEFGHIJKLMNOPQRSTUVWX\r\n"))
	f.Add(offer, `"etag"`, []byte("a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=candidate:1 1 udp 1 ::1 9 typ host\r\n"))
	f.Add("v=0\r\n", "", []byte("a=ice-ufrag:null\r\na=ice-pwd:null\r\n"))
	f.Fuzz(func(t *testing.T, offer, ifMatch string, body []byte) {
		cur, err := OfferCreds(offer)
		if err == nil && (cur.Ufrag == "" || cur.Pwd == "") {
			t.Fatal("OfferCreds accepted an offer without both credentials")
		}
		frag, err := ParseFragment(body)
		if err != nil {
			return
		}
		restart, err := PatchIntent(ifMatch, frag, cur, `"etag"`)
		if !restart {
			return
		}
		switch {
		case err != nil:
			t.Fatalf("restart with an error: %v", err)
		case ifMatch != "*" && ifMatch != `"etag"`:
			t.Fatalf("restart with If-Match %q", ifMatch)
		case frag.Ufrag == cur.Ufrag || frag.Pwd == cur.Pwd:
			t.Fatalf("restart keeps a credential: %+v of %+v", frag, cur)
		case !validICEChars(frag.Ufrag, 4) || !validICEChars(frag.Pwd, 22):
			t.Fatalf("restart to invalid credentials %+v", frag)
		}
	})
}
