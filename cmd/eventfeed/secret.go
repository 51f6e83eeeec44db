package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
)

// maxSecretFileBytes bounds a token file: a token is a line.
const maxSecretFileBytes = 4 << 10

// secretFlag is a secret (a bearer token) given in one of three ways, so
// that it need not sit on a command line, where every user of the machine
// reads it (ps, /proc): -NAME-file F (the file's first line), the
// environment variable, or -NAME itself.
type secretFlag struct {
	name, env string
	value     *string
	file      *string
}

// addSecretFlag defines -name and -name-file on fs, with env as the
// variable read when neither is given. what says what the secret enables.
func addSecretFlag(fs *flag.FlagSet, name, env, what string) *secretFlag {
	return &secretFlag{
		name: name,
		env:  env,
		file: fs.String(name+"-file", "", "`file` whose first line is the token that "+what+" (or set "+env+"; both keep it out of ps, unlike -"+name+")"),
		value: fs.String(name, "", "the `TOKEN` that "+what+", as \"Authorization: Bearer TOKEN\"; visible to every user in ps: prefer -"+
			name+"-file or "+env),
	}
}

// get returns the secret, "" when none was given. Giving both -NAME and
// -NAME-file is a usage error; either overrides the environment.
func (s *secretFlag) get() (string, error) {
	var tok, from string
	switch {
	case *s.value != "" && *s.file != "":
		return "", usagef("-%s and -%s-file exclude each other", s.name, s.name)
	case *s.file != "":
		b, err := readSecretFile(*s.file)
		if err != nil {
			return "", fmt.Errorf("-%s-file: %w", s.name, err)
		}
		tok, from = b, "-"+s.name+"-file "+*s.file
	case *s.value != "":
		tok, from = *s.value, "-"+s.name
	default:
		tok, from = os.Getenv(s.env), s.env
	}
	if tok == "" {
		if from != s.env {
			return "", usagef("%s gives an empty token", from)
		}
		return "", nil
	}
	if strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", usagef("the token of %s holds spaces or control characters; a bearer token cannot", from)
	}
	return tok, nil
}

// readSecretFile returns the first line of the file at path, without its
// line ending and surrounding blanks.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b := make([]byte, maxSecretFileBytes+1)
	n, err := f.Read(b)
	if err != nil && n == 0 {
		return "", fmt.Errorf("%s: empty", path)
	}
	if n > maxSecretFileBytes {
		return "", fmt.Errorf("%s: over %d bytes, not a token", path, maxSecretFileBytes)
	}
	b = b[:n]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return string(bytes.TrimSpace(b)), nil
}
