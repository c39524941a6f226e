package app

import "errors"

// closers closes what a node started, in reverse order of start.
type closers []func() error

func (c *closers) add(f func() error) { *c = append(*c, f) }

// last adds f to run after every other closer.
func (c *closers) last(f func() error) { *c = append([]func() error{f}, *c...) }

// closeAll runs every closer, newest first, once; later calls do nothing.
func (c *closers) closeAll() error {
	var errs []error
	for i := len(*c) - 1; i >= 0; i-- {
		errs = append(errs, (*c)[i]())
	}
	*c = nil
	return errors.Join(errs...)
}
