package rtc

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// slogLoggerFactory sends pion's logs to slog. pion's debug and trace output
// is per packet, so only info and above are passed on.
type slogLoggerFactory struct{ log *slog.Logger }

func (f slogLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLeveled{log: f.log.With("scope", scope)}
}

type slogLeveled struct{ log *slog.Logger }

func (l slogLeveled) logf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l slogLeveled) Trace(string)              {}
func (l slogLeveled) Tracef(string, ...any)     {}
func (l slogLeveled) Debug(string)              {}
func (l slogLeveled) Debugf(string, ...any)     {}
func (l slogLeveled) Info(m string)             { l.logf(slog.LevelDebug, "%s", m) }
func (l slogLeveled) Infof(f string, a ...any)  { l.logf(slog.LevelDebug, f, a...) }
func (l slogLeveled) Warn(m string)             { l.logf(slog.LevelWarn, "%s", m) }
func (l slogLeveled) Warnf(f string, a ...any)  { l.logf(slog.LevelWarn, f, a...) }
func (l slogLeveled) Error(m string)            { l.logf(slog.LevelError, "%s", m) }
func (l slogLeveled) Errorf(f string, a ...any) { l.logf(slog.LevelError, f, a...) }
