package sharing_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/sharing"
)

// FuzzOpenLink opens share links with arbitrary tokens, passwords,
// sub-paths, page sizes and page tokens. tokenChoice picks one of the
// world's real tokens (0: a viewer link to /top/proj, 1: a password link
// to /top/proj/sub, 2: a link to the file /top/proj/a.txt) or, for any other value,
// uses token as it is. Properties:
//   - no panic, and every failure is NotFound, PermissionDenied (the
//     password), InvalidArgument (page size or token) or ResourceExhausted,
//     never an internal error;
//   - a token that is not a real one never opens anything;
//   - what opens stays inside the link's entry: paths are canonical and
//     relative to it, and nothing of /top/secret is ever returned;
//   - no answer names the path above the link's entry (/top);
//   - a use is spent only by an open that succeeds.
func FuzzOpenLink(f *testing.F) {
	w := newWorld(f)
	ctx := context.Background()
	w.home(w.alice, "/top")
	w.write(w.alice, "/top/proj/a.txt", "project a")
	w.write(w.alice, "/top/proj/sub/b.txt", "project b")
	w.write(w.alice, "/top/proj/sub/deeper/c.txt", "project c")
	w.write(w.alice, "/top/secret/s.txt", "the secret")
	w.write(w.alice, "/top/projection.txt", "beside the link, not in it")
	_, viewer := w.link(w.alice, "/top/proj", sharing.LinkOptions{})
	_, locked := w.link(w.alice, "/top/proj/sub", sharing.LinkOptions{Password: "hunter2"})
	_, file := w.link(w.alice, "/top/proj/a.txt", sharing.LinkOptions{})
	real := []string{viewer, locked, file}
	uses := func() map[string]int64 {
		out := map[string]int64{}
		for _, p := range []string{"/top/proj", "/top/proj/sub", "/top/proj/a.txt"} {
			ls, _, err := w.share.ListLinks(ctx, w.alice, p)
			if err != nil {
				f.Fatal(err)
			}
			for _, l := range ls {
				out[string(l.ID)] += l.Uses
			}
		}
		return out
	}

	for _, s := range []struct {
		choice              uint8
		token, pw, sub, tok string
		size                int32
	}{
		{0, "", "", "", "", 0},
		{0, "", "", "a.txt", "", 0},
		{0, "", "", "/sub/deeper", "", 1},
		{0, "", "", "sub/../../secret/s.txt", "", 0},
		{0, "", "", "../secret", "", 0},
		{0, "", "", "sub//b.txt", "", 0},
		{0, "", "", "sub", "not a page token", 0},
		{0, "", "", "", "", -1},
		{0, "", "", "", "", 100000},
		{1, "", "hunter2", "b.txt", "", 0},
		{1, "", "wrong", "", "", 0},
		{1, "", "", "", "", 0},
		{2, "", "", "", "", 0},
		{2, "", "", "x", "", 0},
		{9, "nxl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", "", "", 0},
		{9, "lnk_01JDXYZ", "", "", "", 0},
		{9, "", "", "", "", 0},
	} {
		f.Add(s.choice, s.token, s.pw, s.sub, s.size, s.tok)
	}
	f.Fuzz(func(t *testing.T, choice uint8, token, password, sub string, pageSize int32, pageToken string) {
		// Each call an hour later: failures from earlier calls leave the
		// rate limits' window.
		w.clock.Add(time.Hour)
		isReal := int(choice) < len(real)
		if isReal {
			token = real[choice]
		}
		before := uses()
		o, err := w.share.OpenLink(ctx, web, token, password, sub, int(pageSize), pageToken)
		after := uses()
		spent := 0
		for id, n := range after {
			if n != before[id] {
				spent += int(n - before[id])
				if err != nil || id != string(o.Link.ID) {
					t.Fatalf("a use of %s was spent by an open that returned %v", id, err)
				}
			}
		}
		if err != nil {
			for _, kind := range []error{errs.NotFound, errs.PermissionDenied, errs.InvalidArgument, errs.ResourceExhausted} {
				if errors.Is(err, kind) {
					if strings.Contains(err.Error(), "/top") && !strings.Contains(sub+pageToken, "top") {
						t.Fatalf("the error names the path above the link: %v", err)
					}
					return
				}
			}
			t.Fatalf("OpenLink(%q, sub %q, size %d): %v is not an expected kind", token, sub, pageSize, err)
		}
		if !isReal {
			t.Fatalf("a made-up token %q opened link %s", token, o.Link.ID)
		}
		if spent != 1 {
			t.Fatalf("a successful open spent %d uses", spent)
		}
		if strings.Contains(string(o.Data), "secret") || strings.Contains(string(o.Data), "beside") {
			t.Fatalf("link %d opened data outside its entry: %q", choice, o.Data)
		}
		for _, it := range append(o.Children, o.Item) {
			p, slash, err := paths.Parse(string(it.Path))
			if err != nil || slash || p != it.Path {
				t.Fatalf("link %d returned a path that is not canonical: %q", choice, it.Path)
			}
			if strings.Contains(string(it.Path), "top") || strings.Contains(string(it.Path), "proj") || strings.Contains(string(it.Path), "secret") {
				t.Fatalf("link %d (sub %q) returned %q: a path outside its entry, or not relative to it", choice, sub, it.Path)
			}
		}
	})
}
