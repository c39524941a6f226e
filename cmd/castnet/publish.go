package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/castnet/castnet/internal/config"
	"github.com/castnet/castnet/internal/publish"
	"github.com/castnet/castnet/internal/sign"
)

// signPermit opens the key and signs a permit for the WHIP URL's stream.
func signPermit(ctx context.Context, whipURL, keyFile, pwFile string, ttl time.Duration, maxPrice string, stderr io.Writer) (string, error) {
	pw, err := config.ReadPassword(pwFile)
	if err != nil {
		return "", err
	}
	k, err := sign.Load(keyFile, pw)
	if err != nil {
		return "", err
	}
	var mp *big.Int
	if maxPrice != "" {
		v, ok := new(big.Int).SetString(maxPrice, 10)
		if !ok || v.Sign() < 0 {
			return "", fmt.Errorf("-max-price %q: want a whole number of wei", maxPrice)
		}
		mp = v
	}
	tok, p, err := publish.SignPermit(ctx, &http.Client{Timeout: 10 * time.Second}, whipURL, k, ttl, mp)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(stderr, "signed a permit as %s: stream %q, broadcaster %s, max %s wei/pixel, until %s\n",
		k.Address.Hex(), p.Stream, p.Broadcaster.Hex(), p.MaxPricePerPixel, time.Unix(p.Expires.Int64(), 0).Format(time.RFC3339))
	return tok, nil
}

// sizeFlags parses -sizes into cfg and refuses flags that contradict it.
func sizeFlags(fs *flag.FlagSet, sizes string, cfg *publish.Config) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if sizes == "" {
		if set["switch-every"] {
			return errors.New("-switch-every needs -sizes")
		}
		return nil
	}
	if set["width"] || set["height"] {
		return errors.New("give -sizes or -width and -height, not both")
	}
	list, err := publish.ParseSizes(sizes)
	if err != nil {
		return fmt.Errorf("-sizes: %w", err)
	}
	cfg.Sizes = list
	return nil
}

// Exit statuses of castnet publish besides 0 (published to the end: the
// file, -duration or Ctrl-C, and the node took the DELETE), 1 (nothing was
// published: the offer refused, ICE/DTLS never connected, ffmpeg failed,
// stopped before connecting) and 2 (usage).
const (
	exitLost  = 3 // connected, then lost: the node stopped answering
	exitEnded = 4 // connected, then the node ended the session
)

const publishExitHelp = `
Exit status:
  0  published to the end (the file, -duration or Ctrl-C) and the node took the DELETE
  1  nothing was published: the node refused the offer (its status and reason are
     printed), ICE/DTLS did not connect, ffmpeg failed, or stopped before connecting
  2  usage error
  3  connected, then the node stopped answering: "connection lost after T of D: WHY".
     A killed node is noticed in about 5 s (ICE disconnected, and its HTTP port refuses
     connections); cut-off media when ICE fails, 15 s, the node's own consent timeout
  4  connected, then the node ended the session: "the server ended the session after
     T of D: WHY" (the publisher's balance ran out, or the node shut down)
`

// publishExit gives a publish error its exit status.
func publishExit(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, publish.ErrEndedByServer):
		return &exitError{exitEnded, err}
	case errors.Is(err, publish.ErrConnectionLost):
		return &exitError{exitLost, err}
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return errors.New("publish: stopped before publishing began")
	}
	return err
}

func runPublish(ctx context.Context, args []string, stderr io.Writer) error {
	var cfg publish.Config
	fs := flag.NewFlagSet("castnet publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: castnet publish [flags] (-test-pattern | FILE) WHIP_URL")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\nTo change resolution mid-stream as a browser does under congestion:\n"+
			"  castnet publish -test-pattern -sizes 1280x720,640x360 -switch-every 4s WHIP_URL")
		fmt.Fprint(stderr, publishExitHelp)
	}
	fs.StringVar(&cfg.Token, "token", "", "bearer token for the WHIP endpoint (default: $"+config.PublishTokenEnv+", which ps does not show)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (default: end of file, or until Ctrl-C for -test-pattern)")
	fs.BoolVar(&cfg.TestPattern, "test-pattern", false, "publish a generated test pattern and tone instead of a file")
	fs.IntVar(&cfg.Width, "width", 1280, "test pattern width")
	fs.IntVar(&cfg.Height, "height", 720, "test pattern height")
	fs.IntVar(&cfg.FPS, "fps", 30, "test pattern frame rate")
	fs.IntVar(&cfg.Bitrate, "bitrate", 2_500_000, "test pattern video bitrate, bits per second (with -sizes: the largest size's)")
	sizes := fs.String("sizes", "", "test pattern sizes to switch between, e.g. 1280x720,640x360,1280x720: each lasts -switch-every, then the sequence repeats; replaces -width and -height")
	fs.DurationVar(&cfg.SwitchEvery, "switch-every", publish.DefaultSwitchEvery, "how long each of -sizes lasts (a multiple of 100ms at 30 fps)")
	fs.StringVar(&cfg.FFmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary used to prepare the media")
	ethKey := fs.String("eth-key", "", "sign a Publish permit with this key file (the node may require one, and bills the key's ledger balance)")
	pwFile := fs.String("eth-password-file", "", "file holding the key file's password (default: $"+config.PasswordEnv+")")
	permitTTL := fs.Duration("permit-ttl", time.Hour, "how long the signed permit is valid")
	maxPrice := fs.String("max-price", "", "most wei per pixel the permit lets the node bill (default: the node's suggestion)")
	verbose := fs.Bool("v", false, "log details")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if cfg.Token == "" {
		cfg.Token = os.Getenv(config.PublishTokenEnv)
	}
	if err := sizeFlags(fs, *sizes, &cfg); err != nil {
		return err
	}
	rest := fs.Args()
	switch {
	case cfg.TestPattern && len(rest) == 1:
		cfg.URL = rest[0]
	case !cfg.TestPattern && len(rest) == 2:
		cfg.File, cfg.URL = rest[0], rest[1]
	default:
		fs.Usage()
		return errUsage
	}
	if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("WHIP URL %q: want http:// or https://", cfg.URL)
	}
	if *ethKey != "" {
		if cfg.Token != "" {
			return errors.New("give -token or -eth-key, not both")
		}
		tok, err := signPermit(ctx, cfg.URL, *ethKey, *pwFile, *permitTTL, *maxPrice, stderr)
		if err != nil {
			return err
		}
		cfg.Token = tok
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = newLogger(stderr, level)
	cfg.Progress = stderr
	start := time.Now()
	if err := publishExit(ctx, publish.Run(ctx, cfg)); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "published for %s\n", time.Since(start).Round(time.Second))
	return nil
}
