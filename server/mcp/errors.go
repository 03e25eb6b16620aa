package mcp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"connectrpc.com/connect"
)

// A tool's failure is returned as an error from its handler, which the SDK
// turns into a tool result with IsError set: the model reads the text and
// can act on it. The texts below say what to do next. A NotFound is worded
// from what the caller sent only, never from what the server knows, so a
// name the caller may not see and a name that does not exist read the same.

// toolError renders err, from a call about what (a path, a memory id, ...),
// as a tool error.
func toolError(what string, err error) error {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return errors.New("the call failed: " + err.Error())
	}
	msg := ce.Message()
	switch ce.Code() {
	case connect.CodeNotFound:
		return notFound(what)
	case connect.CodeInvalidArgument:
		return errors.New("invalid argument: " + msg)
	case connect.CodePermissionDenied:
		return errors.New("permission denied: " + msg +
			" (your key acts as its user or agent; ask the entry's owner or a zone admin for the role you need)")
	case connect.CodeUnauthenticated:
		return errors.New("unauthenticated: the API key was not accepted (unknown, revoked or expired); " +
			"configure this MCP server with a valid Nexus API key")
	case connect.CodeAlreadyExists:
		return errors.New("already exists: " + msg)
	case connect.CodeFailedPrecondition, connect.CodeAborted:
		return errors.New(msg + " (stat the entry for its current state, then retry)")
	case connect.CodeResourceExhausted:
		return errors.New("too much at once: " + msg + " (retry later, or ask for less)")
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeCanceled:
		return errors.New("Nexus is unavailable: " + msg + " (retry)")
	}
	return errors.New("internal error in Nexus (retry; if it persists, the server's log has the details)")
}

// notFound is the one answer for a name that is hidden or missing.
func notFound(what string) error {
	return fmt.Errorf("%s not found: it does not exist or is not shared with you "+
		"(check the path with list or glob; if it should exist, ask its owner to share it with you)", what)
}

// checkPath refuses what cannot be a Nexus path before anything is asked,
// saying how to write one.
func checkPath(name, p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%s is required: an absolute path such as /docs/notes.md", name)
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("%s %s is not absolute: start it with / (such as /%s)", name, quote(p), p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return fmt.Errorf("%s %s has a %q segment: give the absolute path without . or .. (such as /docs/notes.md)", name, quote(p), seg)
		}
	}
	return nil
}

// quote quotes s for an error text, shortened if long.
func quote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strconv.Quote(s)
}
