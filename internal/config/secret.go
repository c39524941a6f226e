package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// Environment variables secrets may come from instead of the command line,
// where every user of the machine can read them (ps, /proc/PID/cmdline).
const (
	PublishTokenEnv = "CASTNET_PUBLISH_TOKEN"
	SecretEnv       = "CASTNET_SECRET"
)

// secretFlag is a secret a node starts with, from one of three places:
// -NAME-file (the file's first line), $ENV, or -NAME itself.
type secretFlag struct {
	name, env string
	dst       *string
	file      string
}

func addSecretFlag(fs *flag.FlagSet, dst *string, name, env, usage string) *secretFlag {
	s := &secretFlag{name: name, env: env, dst: dst}
	fs.StringVar(dst, name, "", usage+" (other users see it in ps: prefer -"+name+"-file or $"+env+")")
	fs.StringVar(&s.file, name+"-file", "", "file whose first line is -"+name)
	return s
}

// resolve fills the secret after parsing: from the file when given, else
// from the flag, else from the environment.
func (s *secretFlag) resolve() error {
	switch {
	case s.file != "" && *s.dst != "":
		return fmt.Errorf("-%s and -%s-file: give one", s.name, s.name)
	case s.file != "":
		v, err := firstLine(s.file)
		if err != nil {
			return fmt.Errorf("-%s-file: %w", s.name, err)
		}
		*s.dst = v
	case *s.dst == "":
		*s.dst = os.Getenv(s.env)
	}
	return nil
}

// firstLine reads a file's first line, which must not be empty.
func firstLine(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	v, _, _ := strings.Cut(string(b), "\n")
	if v = strings.TrimSuffix(v, "\r"); v == "" {
		return "", fmt.Errorf("%s: the first line is empty", file)
	}
	return v, nil
}
