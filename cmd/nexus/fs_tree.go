package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"connectrpc.com/connect"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
)

// Recursive file commands: ls -R, put -r and get -r, as cp -r and
// ls -R do it, one request per folder page and per file.

// walk calls fn for every entry below dir the caller may see, depth first
// in name order, with its path relative to dir (a folder's ends with /).
func (c *client) walk(ctx context.Context, dir string, fn func(rel string, e *nexusv1.Entry) error) error {
	var rec func(dir, prefix string) error
	rec = func(dir, prefix string) error {
		token := ""
		for {
			resp, err := c.files().List(ctx, connect.NewRequest(&nexusv1.ListRequest{Path: dir, PageSize: 1000, PageToken: token}))
			if err != nil {
				return err
			}
			for _, e := range resp.Msg.GetEntries() {
				rel := prefix + e.GetName()
				if e.GetKind() != nexusv1.EntryKind_ENTRY_KIND_FOLDER {
					if err := fn(rel, e); err != nil {
						return err
					}
					continue
				}
				if err := fn(rel+"/", e); err != nil {
					return err
				}
				if err := rec(strings.TrimSuffix(dir, "/")+"/"+e.GetName(), rel+"/"); err != nil {
					return err
				}
			}
			if token = resp.Msg.GetNextPageToken(); token == "" {
				return nil
			}
		}
	}
	return rec(dir, "")
}

// putTree uploads the local directory local to dst as cp -r copies: into
// dst/NAME when dst ends with / or is a folder, else as dst. It returns
// how many files it uploaded.
func (c *client) putTree(ctx context.Context, local, dst string, expect int64) (int, error) {
	root, err := c.uploadPath(ctx, local, dst)
	if err != nil {
		return 0, err
	}
	root = strings.TrimSuffix(root, "/")
	files := 0
	err = filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(local, p)
		if err != nil {
			return err
		}
		remote := root
		if rel != "." {
			remote = root + "/" + filepath.ToSlash(rel)
		}
		switch {
		case d.IsDir():
			_, err := c.files().Mkdir(ctx, connect.NewRequest(&nexusv1.MkdirRequest{Path: remote, Parents: true}))
			return err
		case d.Type().IsRegular():
			if _, err := c.upload(ctx, p, remote, true, expect); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			files++
			return nil
		default:
			fmt.Fprintf(c.errOut, "nexus: skipping %s: not a regular file\n", p)
			return nil
		}
	})
	return files, err
}

// getTree downloads the folder src to the local directory local as cp -r
// copies: into local/NAME when local exists, else as local.
func (c *client) getTree(ctx context.Context, src, local string) (int, error) {
	if fi, err := os.Stat(local); err == nil && fi.IsDir() {
		local = filepath.Join(local, path.Base(strings.TrimSuffix(src, "/")))
	}
	if err := os.MkdirAll(local, 0o777); err != nil {
		return 0, err
	}
	files := 0
	err := c.walk(ctx, src, func(rel string, e *nexusv1.Entry) error {
		target := filepath.Join(local, filepath.FromSlash(strings.TrimSuffix(rel, "/")))
		if r, err := filepath.Rel(local, target); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			// Names are single path segments; one that is not would write
			// outside the directory asked for.
			return fmt.Errorf("refusing to write %q outside %s", rel, local)
		}
		if strings.HasSuffix(rel, "/") {
			return os.MkdirAll(target, 0o777)
		}
		files++
		return c.downloadTo(ctx, strings.TrimSuffix(src, "/")+"/"+rel, target)
	})
	return files, err
}
