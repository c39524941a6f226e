package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
)

// AdminTokenEnv names the environment variable that holds the API's admin
// token when no -admin-token-file is given.
const AdminTokenEnv = "CASTNET_ADMIN_TOKEN"

// API configures /api/streams: how many ended streams it keeps listing,
// and the token that shows an operator what the public view leaves out.
type API struct {
	// KeepEnded and EndedTTL bound the ended streams the node remembers.
	KeepEnded int
	EndedTTL  time.Duration
	// AdminTokenFile holds AdminToken on its first line; without it,
	// AdminToken comes from $CASTNET_ADMIN_TOKEN. There is no flag with
	// the token itself: every user of the machine reads argv (ps).
	AdminTokenFile string
	// AdminToken ("": none) lets "Authorization: Bearer TOKEN" see each
	// stream's WHIP session id and publisher address.
	AdminToken string
}

func addAPIFlags(fs *flag.FlagSet, a *API) {
	fs.IntVar(&a.KeepEnded, "keep-ended", 100, "ended streams /api/streams keeps listing, the oldest forgotten first")
	fs.DurationVar(&a.EndedTTL, "ended-ttl", time.Hour, "how long /api/streams lists a stream after it ended")
	fs.StringVar(&a.AdminTokenFile, "admin-token-file", "", "file whose first line is the API admin token, which shows WHIP session ids and publisher addresses (default: $"+AdminTokenEnv+", else none)")
}

// resolve checks the bounds and reads the admin token.
func (a *API) resolve() error {
	var errs []error
	if a.KeepEnded < 1 || a.KeepEnded > 100_000 {
		errs = append(errs, fmt.Errorf("-keep-ended %d: want 1 to 100000", a.KeepEnded))
	}
	if a.EndedTTL < time.Second {
		errs = append(errs, fmt.Errorf("-ended-ttl %s: want 1s or more", a.EndedTTL))
	}
	return errors.Join(append(errs, a.readAdminToken())...)
}

// readAdminToken reads the token from -admin-token-file's first line, or
// from $CASTNET_ADMIN_TOKEN. A short one is refused: the API answers
// anyone, as often as they ask.
func (a *API) readAdminToken() error {
	a.AdminToken = os.Getenv(AdminTokenEnv)
	if a.AdminTokenFile != "" {
		v, err := firstLine(a.AdminTokenFile)
		if err != nil {
			return fmt.Errorf("-admin-token-file: %w", err)
		}
		a.AdminToken = v
	}
	if a.AdminToken != "" && len(a.AdminToken) < 16 {
		return errors.New("the admin token is shorter than 16 characters: make a long random one (openssl rand -hex 16)")
	}
	return nil
}
