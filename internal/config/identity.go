package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/common"
)

// PasswordEnv names the environment variable that holds key file
// passwords when no password file is given.
const PasswordEnv = "CASTNET_ETH_PASSWORD"

// Identity is a node's Ethereum key: a keystore file and its password.
// An empty KeyFile means a throwaway key made at start.
type Identity struct {
	KeyFile      string
	PasswordFile string
	// Password is read from PasswordFile, or from $CASTNET_ETH_PASSWORD.
	Password string
}

func addIdentityFlags(fs *flag.FlagSet, id *Identity) {
	fs.StringVar(&id.KeyFile, "eth-key", "", "Ethereum keystore file this node signs with (see `castnet keys new`; default: a throwaway key)")
	fs.StringVar(&id.PasswordFile, "eth-password-file", "", "file holding the key file's password (default: $"+PasswordEnv+")")
}

// resolve reads the password when a key file is given.
func (id *Identity) resolve() error {
	if id.KeyFile == "" {
		if id.PasswordFile != "" {
			return errors.New("-eth-password-file needs -eth-key")
		}
		return nil
	}
	if _, err := os.Stat(id.KeyFile); err != nil {
		return fmt.Errorf("-eth-key: %w", err)
	}
	p, err := ReadPassword(id.PasswordFile)
	if err != nil {
		return err
	}
	id.Password = p
	return nil
}

// ReadPassword returns the password in file (its first line), or in
// $CASTNET_ETH_PASSWORD when file is empty.
func ReadPassword(file string) (string, error) {
	if file == "" {
		p, ok := os.LookupEnv(PasswordEnv)
		if !ok || p == "" {
			return "", fmt.Errorf("the key file needs a password: pass -eth-password-file FILE or set %s", PasswordEnv)
		}
		return p, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("-eth-password-file: %w", err)
	}
	p, _, _ := strings.Cut(string(b), "\n")
	p = strings.TrimSuffix(p, "\r")
	if p == "" {
		return "", fmt.Errorf("-eth-password-file %s: the first line is empty", file)
	}
	return p, nil
}

// ReadPublishers reads a publishers file: one Ethereum address per line;
// blank lines and # comments are ignored.
func ReadPublishers(file string) ([]common.Address, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("-publishers: %w", err)
	}
	var out []common.Address
	for i, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !common.IsHexAddress(line) {
			return nil, fmt.Errorf("-publishers %s line %d: %q is not an Ethereum address", file, i+1, line)
		}
		out = append(out, common.HexToAddress(line))
	}
	return out, nil
}
