package temporalserver

import (
	"context"
	"log/slog"

	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// slogLogger adapts the server's logger interface to slog. The server is
// chatty at info level, so only warnings and errors pass through.
type slogLogger struct{ l *slog.Logger }

func newLogger(l *slog.Logger) tlog.Logger { return slogLogger{l: l.With("component", "temporal")} }

func (s slogLogger) attrs(tags []tag.Tag) []any {
	out := make([]any, 0, 2*len(tags))
	for _, t := range tags {
		out = append(out, t.Key(), t.Value())
	}
	return out
}

func (s slogLogger) Debug(string, ...tag.Tag) {}
func (s slogLogger) Info(string, ...tag.Tag)  {}
func (s slogLogger) Warn(msg string, tags ...tag.Tag) {
	s.l.Log(context.Background(), slog.LevelDebug, msg, s.attrs(tags)...)
}
func (s slogLogger) Error(msg string, tags ...tag.Tag)  { s.l.Warn(msg, s.attrs(tags)...) }
func (s slogLogger) DPanic(msg string, tags ...tag.Tag) { s.l.Error(msg, s.attrs(tags)...) }
func (s slogLogger) Panic(msg string, tags ...tag.Tag) {
	s.l.Error(msg, s.attrs(tags)...)
	panic(msg)
}
func (s slogLogger) Fatal(msg string, tags ...tag.Tag) {
	s.l.Error(msg, s.attrs(tags)...)
	panic(msg)
}

// quietSDKLogger silences the SDK client used for the readiness probe.
type quietSDKLogger struct{}

func (quietSDKLogger) Debug(string, ...any) {}
func (quietSDKLogger) Info(string, ...any)  {}
func (quietSDKLogger) Warn(string, ...any)  {}
func (quietSDKLogger) Error(string, ...any) {}
