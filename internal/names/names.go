// Package names is the one definition of the names castnet turns into URL
// path components and directory names: stream names (WHIP, HLS, the API,
// custody, the pages) and rendition names (profiles, HLS, custody). Their
// alphabets have no '.', '/' or '\', so a valid name never climbs out of
// its directory.
package names

// The patterns, for documentation and for the pages' JavaScript, which a
// test holds to them (web's common.js).
const (
	StreamPattern    = `^[A-Za-z0-9_-]{1,64}$`
	RenditionPattern = `^[a-z0-9_-]{1,32}$`
)

// Length limits of the two kinds.
const (
	MaxStream    = 64
	MaxRendition = 32
)

// Stream reports whether s is a valid stream name.
func Stream(s string) bool { return valid(s, MaxStream, true) }

// Rendition reports whether s is a valid rendition name.
func Rendition(s string) bool { return valid(s, MaxRendition, false) }

func valid(s string, maxLen int, upper bool) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-':
		case upper && c >= 'A' && c <= 'Z':
		default:
			return false
		}
	}
	return true
}
