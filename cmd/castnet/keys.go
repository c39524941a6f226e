package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/castnet/castnet/internal/config"
	"github.com/castnet/castnet/internal/sign"
)

const keysUsage = `castnet keys — Ethereum keys for castnet nodes (go-ethereum keystore files)

Usage:
  castnet keys new [-dir DIR] [-eth-password-file FILE] [-light]
                      make a key, save it encrypted, print its address and file
  castnet keys show FILE|DIR ...
                      print the address of key files (no password needed)
  castnet keys import [-dir DIR] [-eth-password-file FILE] [-light] HEXFILE|-
                      save a hex private key (from a file, or - for stdin) as a key file

The password comes from -eth-password-file (first line) or $` + config.PasswordEnv + `.
Pass the file to any role with -eth-key FILE.
`

func runKeys(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return errUsage
	}
	switch args[0] {
	case "new":
		return keysSave(args[1:], stdout, stderr, false)
	case "import":
		return keysSave(args[1:], stdout, stderr, true)
	case "show":
		return keysShow(args[1:], stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, keysUsage)
		return nil
	}
	fmt.Fprintf(stderr, "castnet keys: unknown command %q\n\n%s", args[0], keysUsage)
	return errUsage
}

// keysSave makes (new) or reads (import) a key and saves it encrypted.
func keysSave(args []string, stdout, stderr io.Writer, imp bool) error {
	name := "new"
	if imp {
		name = "import"
	}
	fs := flag.NewFlagSet("castnet keys "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", filepath.Join("castnet-data", "keys"), "directory for the key file")
	pwFile := fs.String("eth-password-file", "", "file holding the password (default: $"+config.PasswordEnv+")")
	light := fs.Bool("light", false, "cheaper encryption (about 0.1 s to open instead of 1 s): for test and throwaway keys only")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	var key sign.Key
	var err error
	switch {
	case imp && fs.NArg() != 1:
		return errors.New("keys import: give one file holding the hex private key, or - for stdin")
	case !imp && fs.NArg() != 0:
		return fmt.Errorf("keys new: unexpected argument %q", fs.Arg(0))
	case imp:
		key, err = readHexKey(fs.Arg(0))
	default:
		key, err = sign.NewKey()
	}
	if err != nil {
		return err
	}
	pw, err := config.ReadPassword(*pwFile)
	if err != nil {
		return err
	}
	strength := sign.Standard
	if *light {
		strength = sign.Light
	}
	key, err = sign.Save(key, *dir, pw, strength)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "address %s\nfile    %s\n", key.Address.Hex(), key.Path)
	return nil
}

func readHexKey(path string) (sign.Key, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 1024))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return sign.Key{}, err
	}
	return sign.ParsePrivateKey(strings.TrimSpace(string(b)))
}

// keysShow prints the address of each key file, or of each key file in a
// directory.
func keysShow(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("keys show: give key files or a directory")
	}
	var errs []error
	for _, a := range args {
		files := []string{a}
		if st, err := os.Stat(a); err == nil && st.IsDir() {
			entries, err := os.ReadDir(a)
			if err != nil {
				return err
			}
			files = files[:0]
			for _, e := range entries {
				if !e.IsDir() {
					files = append(files, filepath.Join(a, e.Name()))
				}
			}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err == nil {
				var addr interface{ Hex() string }
				addr, err = sign.FileAddress(data)
				if err == nil {
					fmt.Fprintf(stdout, "%s  %s\n", addr.Hex(), f)
					continue
				}
			}
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
		}
	}
	return errors.Join(errs...)
}
