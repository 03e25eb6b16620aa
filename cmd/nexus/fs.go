package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
)

// transferChunk is the size of one read or upload chunk, well under the
// server's default 16 MiB unary limit.
const transferChunk = 8 << 20

func (c *client) files() nexusv1connect.FileServiceClient {
	return nexusv1connect.NewFileServiceClient(c.httpClient(), c.base(), c.options()...)
}

func newFsCmd(cl *client) *cobra.Command {
	fs := &cobra.Command{Use: "fs", Short: "Work with files and folders: ls, stat, cat, put, get, mkdir, rm, mv, cp, versions, restore"}
	var long, lsRecursive, human bool
	ls := &cobra.Command{
		Use:   "ls [PATH]",
		Short: "List a folder, / when none is given (folders end with /)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"/"}
			}
			var tw *tabwriter.Writer
			if long && !cl.json {
				tw = cl.table("KIND", "SIZE", "VERSION", "MODIFIED", "BY", "NAME")
			}
			// row prints one entry under name, as a line or a -l row.
			row := func(e *nexusv1.Entry, name string) {
				if tw != nil {
					size := strconv.FormatInt(e.GetSize(), 10)
					if human {
						size = humanSize(e.GetSize())
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", kindName(e.GetKind()), size, e.GetVersion(), fmtTime(e.GetModifiedAt()), e.GetModifiedBy(), name)
				} else {
					fmt.Fprintln(cl.out, name)
				}
			}
			if lsRecursive {
				err := cl.walk(cmd.Context(), args[0], func(rel string, e *nexusv1.Entry) error {
					switch {
					case cl.json:
						b, err := cliJSON(e)
						if err != nil {
							return err
						}
						var line bytes.Buffer
						if err := json.Compact(&line, b); err != nil {
							return err
						}
						fmt.Fprintln(cl.out, line.String())
					default:
						row(e, rel)
					}
					return nil
				})
				if err == nil && tw != nil {
					err = tw.Flush()
				}
				return err
			}
			token := ""
			for {
				resp, err := cl.files().List(cmd.Context(), connect.NewRequest(&nexusv1.ListRequest{Path: args[0], PageSize: 1000, PageToken: token}))
				if err != nil {
					return err
				}
				if cl.printJSON(resp.Msg) {
					if resp.Msg.GetNextPageToken() == "" {
						return nil
					}
				}
				for _, e := range resp.Msg.GetEntries() {
					name := e.GetName()
					if e.GetKind() == nexusv1.EntryKind_ENTRY_KIND_FOLDER {
						name += "/"
					}
					if !cl.json {
						row(e, name)
					}
				}
				if token = resp.Msg.GetNextPageToken(); token == "" {
					break
				}
			}
			if tw != nil {
				return tw.Flush()
			}
			return nil
		},
	}
	ls.Flags().BoolVarP(&long, "long", "l", false, "show kind, size, version and modification")
	ls.Flags().BoolVarP(&lsRecursive, "recursive", "R", false, "list everything below, as paths relative to PATH (--json: one entry a line)")
	// -h is ls's: human-readable sizes; help is --help only, as for ls.
	ls.Flags().Bool("help", false, "help for ls")
	ls.Flags().BoolVarP(&human, "human-readable", "h", false, "with -l, sizes as 1.5K, 23M, 4.0G (powers of 1024)")

	stat := &cobra.Command{
		Use:   "stat PATH",
		Short: "Show an entry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := cl.files().Stat(cmd.Context(), connect.NewRequest(&nexusv1.StatRequest{Path: args[0]}))
			if err != nil {
				return err
			}
			if cl.printJSON(resp.Msg) {
				return nil
			}
			printEntry(cl.out, resp.Msg.GetEntry())
			return nil
		},
	}

	cat := &cobra.Command{
		Use:   "cat PATH",
		Short: "Write a file's content to stdout, unchanged",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cl.download(cmd.Context(), args[0], cl.out, 0)
		},
	}

	var noParents, putRecursive bool
	var expect int64
	put := &cobra.Command{
		Use:   "put LOCAL PATH",
		Short: "Upload a local file (- for stdin); missing folders are created",
		Long: `Upload a local file (- for stdin) to PATH; missing folders are created.
As with cp, a PATH that ends with / or names a folder gets the file under
its own name: nexus fs put notes.md /docs/ writes /docs/notes.md.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if fi, err := os.Stat(args[0]); err == nil && fi.IsDir() {
				if !putRecursive {
					return fmt.Errorf("%s is a directory: put -r uploads it and everything in it", args[0])
				}
				n, err := cl.putTree(cmd.Context(), args[0], args[1], expect)
				if err == nil {
					fmt.Fprintf(cl.errOut, "%d files uploaded\n", n)
				}
				return err
			}
			dst, err := cl.uploadPath(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			e, err := cl.upload(cmd.Context(), args[0], dst, !noParents, expect)
			if err != nil {
				return err
			}
			if !cl.printJSON(e) {
				fmt.Fprintf(cl.errOut, "%s: version %d, %d bytes\n", e.GetPath(), e.GetVersion(), e.GetSize())
			}
			return nil
		},
	}
	put.Flags().BoolVar(&noParents, "no-parents", false, "fail if the parent folder does not exist")
	put.Flags().BoolVarP(&putRecursive, "recursive", "r", false, "upload a directory and everything in it")
	put.Flags().Int64Var(&expect, "expect-version", 0, "write only if the file is at this version (-1: only if it does not exist)")

	var getRecursive bool
	get := &cobra.Command{
		Use:   "get PATH LOCAL",
		Short: "Download a file to a local path (- for stdout; into LOCAL if it is a directory)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[1] == "-" {
				return cl.download(cmd.Context(), args[0], cl.out, 0)
			}
			if getRecursive {
				n, err := cl.getTree(cmd.Context(), args[0], args[1])
				if err == nil {
					fmt.Fprintf(cl.errOut, "%d files downloaded\n", n)
				}
				return err
			}
			local := args[1]
			if fi, err := os.Stat(local); (err == nil && fi.IsDir()) || strings.HasSuffix(local, string(os.PathSeparator)) {
				local = filepath.Join(local, path.Base(args[0]))
			}
			return cl.downloadTo(cmd.Context(), args[0], local)
		},
	}

	get.Flags().BoolVarP(&getRecursive, "recursive", "r", false, "download a folder and everything in it")

	var parents bool
	mkdir := &cobra.Command{
		Use:   "mkdir [-p] PATH...",
		Short: "Create folders",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, p := range args {
				if _, err := cl.files().Mkdir(cmd.Context(), connect.NewRequest(&nexusv1.MkdirRequest{Path: p, Parents: parents})); err != nil {
					return err
				}
			}
			return nil
		},
	}
	mkdir.Flags().BoolVarP(&parents, "parents", "p", false, "create missing parents; an existing folder is fine")

	var recursive bool
	rm := &cobra.Command{
		Use:   "rm [-r] PATH",
		Short: "Delete a file, or a folder with -r",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := cl.files().Delete(cmd.Context(), connect.NewRequest(&nexusv1.DeleteRequest{Path: args[0], Recursive: recursive}))
			return err
		},
	}
	rm.Flags().BoolVarP(&recursive, "recursive", "r", false, "delete a folder and everything below it")

	mv := &cobra.Command{
		Use:   "mv SRC DST",
		Short: "Move or rename",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := cl.files().Move(cmd.Context(), connect.NewRequest(&nexusv1.MoveRequest{Source: args[0], Destination: args[1]}))
			return err
		},
	}
	cp := &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy a file or folder (content is shared, not duplicated)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := cl.files().Copy(cmd.Context(), connect.NewRequest(&nexusv1.CopyRequest{Source: args[0], Destination: args[1]}))
			return err
		},
	}
	vers := &cobra.Command{
		Use:   "versions PATH",
		Short: "List a file's versions, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := cl.files().ListVersions(cmd.Context(), connect.NewRequest(&nexusv1.ListVersionsRequest{Path: args[0]}))
			if err != nil {
				return err
			}
			if cl.printJSON(resp.Msg) {
				return nil
			}
			tw := cl.table("VERSION", "SIZE", "CREATED", "BY", "HASH")
			for _, v := range resp.Msg.GetVersions() {
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%.16s\n", v.GetVersion(), v.GetSize(), fmtTime(v.GetCreatedAt()), v.GetCreatedBy(), v.GetContentHash())
			}
			return tw.Flush()
		},
	}
	restore := &cobra.Command{
		Use:   "restore PATH VERSION",
		Short: "Make a new version with an old version's content",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil {
				return fmt.Errorf("invalid_argument: VERSION %q must be a number", args[1])
			}
			resp, err := cl.files().RestoreVersion(cmd.Context(), connect.NewRequest(&nexusv1.RestoreVersionRequest{Path: args[0], Version: v}))
			if err != nil {
				return err
			}
			if !cl.printJSON(resp.Msg) {
				fmt.Fprintf(cl.errOut, "%s: version %d restored as version %d\n", args[0], v, resp.Msg.GetEntry().GetVersion())
			}
			return nil
		},
	}
	fs.AddCommand(ls, stat, cat, put, get, mkdir, rm, mv, cp, vers, restore)
	return fs
}

func kindName(k nexusv1.EntryKind) string {
	if k == nexusv1.EntryKind_ENTRY_KIND_FOLDER {
		return "folder"
	}
	return "file"
}

func printEntry(w io.Writer, e *nexusv1.Entry) {
	fmt.Fprintf(w, "path:      %s\nkind:      %s\nid:        %s\n", e.GetPath(), kindName(e.GetKind()), e.GetId())
	if e.GetKind() == nexusv1.EntryKind_ENTRY_KIND_FILE {
		fmt.Fprintf(w, "size:      %d\nversion:   %d\ntype:      %s\nhash:      %s\n", e.GetSize(), e.GetVersion(), e.GetMediaType(), e.GetContentHash())
	}
	fmt.Fprintf(w, "created:   %s by %s\nmodified:  %s by %s\n", fmtTime(e.GetCreatedAt()), e.GetCreatedBy(), fmtTime(e.GetModifiedAt()), e.GetModifiedBy())
}

// download writes the file at p to w, in ranges.
func (c *client) download(ctx context.Context, p string, w io.Writer, _ int64) error {
	var off int64
	var bar *progress
	for {
		resp, err := c.files().Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: p, Offset: off, Length: transferChunk}))
		if err != nil {
			return err
		}
		if bar == nil {
			bar = newProgress(c.errOut, "get "+p, resp.Msg.GetEntry().GetSize())
		}
		if _, err := w.Write(resp.Msg.GetData()); err != nil {
			return err
		}
		off += int64(len(resp.Msg.GetData()))
		bar.set(off)
		if resp.Msg.GetEof() || len(resp.Msg.GetData()) == 0 {
			bar.done()
			return nil
		}
	}
}

// uploadPath is where put writes local: dst, or dst/NAME when dst ends
// with / or is a folder the caller can see.
func (c *client) uploadPath(ctx context.Context, local, dst string) (string, error) {
	into := strings.HasSuffix(dst, "/")
	if !into {
		resp, err := c.files().Stat(ctx, connect.NewRequest(&nexusv1.StatRequest{Path: dst}))
		into = err == nil && resp.Msg.GetEntry().GetKind() == nexusv1.EntryKind_ENTRY_KIND_FOLDER
	}
	if !into {
		return dst, nil
	}
	if local == "-" {
		return "", fmt.Errorf("%s is a folder: give the file's name to upload stdin (%s/NAME)", dst, strings.TrimSuffix(dst, "/"))
	}
	return strings.TrimSuffix(dst, "/") + "/" + filepath.Base(local), nil
}

// downloadTo writes the file at p to a local file atomically, created as
// cp creates one (0666 less the umask).
func (c *client) downloadTo(ctx context.Context, p, local string) error {
	tmp, err := createPart(local)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := c.download(ctx, p, tmp, 0); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), local)
}

// createPart creates a new file beside local to download into, with mode
// 0666 as the umask leaves it (os.CreateTemp would make it 0600).
func createPart(local string) (*os.File, error) {
	var err error
	for range 10 {
		var f *os.File
		name := filepath.Join(filepath.Dir(local), "."+filepath.Base(local)+".part-"+strconv.FormatUint(rand.Uint64(), 36))
		if f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666); err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	return nil, err
}

// upload sends a local file: one Write when small, else a chunked upload.
func (c *client) upload(ctx context.Context, local, p string, parents bool, expect int64) (*nexusv1.Entry, error) {
	var f *os.File
	if local == "-" {
		f = os.Stdin
	} else {
		var err error
		if f, err = os.Open(local); err != nil {
			return nil, err
		}
		defer f.Close()
	}
	var size int64 = -1
	fi, err := f.Stat()
	regular := err == nil && fi.Mode().IsRegular()
	if regular {
		size = fi.Size()
	}
	if size >= 0 && size <= transferChunk {
		data, err := io.ReadAll(f)
		if err != nil {
			return nil, err
		}
		resp, err := c.files().Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: p, Data: data, CreateParents: parents, ExpectedVersion: expect}))
		if err != nil {
			return nil, err
		}
		return resp.Msg.GetEntry(), nil
	}
	var rec resumable
	if regular && local != "-" {
		rec = resumeRecord(c.base(), p, local, fi)
	}
	entry, err := c.chunked(ctx, f, p, size, parents, expect, &rec)
	if rec.UploadID != "" && connect.CodeOf(err) == connect.CodeNotFound {
		// The server no longer has the upload (it expired, or was
		// committed): start over.
		fmt.Fprintf(c.errOut, "nexus: the interrupted upload of %s is gone from the server; starting over\n", p)
		rec.forget()
		if _, serr := f.Seek(0, io.SeekStart); serr != nil {
			return nil, serr
		}
		entry, err = c.chunked(ctx, f, p, size, parents, expect, &rec)
	}
	return entry, err
}

// chunked uploads f to p in chunks, from where rec says an earlier put
// stopped if it names an upload, recording each acknowledged chunk.
func (c *client) chunked(ctx context.Context, f *os.File, p string, size int64, parents bool, expect int64, rec *resumable) (*nexusv1.Entry, error) {
	fc := c.files()
	var off int64
	if rec.UploadID != "" {
		if _, err := f.Seek(rec.Offset, io.SeekStart); err != nil {
			return nil, err
		}
		off = rec.Offset
		fmt.Fprintf(c.errOut, "nexus: resuming the upload of %s at %d of %d bytes\n", p, off, size)
	} else {
		begin, err := fc.BeginUpload(ctx, connect.NewRequest(&nexusv1.BeginUploadRequest{Path: p, Size: max(size, 0), CreateParents: parents, ExpectedVersion: expect}))
		if err != nil {
			return nil, err
		}
		rec.UploadID = begin.Msg.GetUploadId()
		rec.Chunk = min(int64(transferChunk), begin.Msg.GetMaxChunkBytes())
	}
	buf := make([]byte, rec.Chunk)
	bar := newProgress(c.errOut, "put "+p, size)
	bar.set(off)
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			if _, aerr := fc.AppendUpload(ctx, connect.NewRequest(&nexusv1.AppendUploadRequest{UploadId: rec.UploadID, Offset: off, Data: buf[:n]})); aerr != nil {
				return nil, aerr
			}
			off += int64(n)
			bar.set(off)
			rec.Offset = off
			if serr := rec.save(); serr != nil {
				fmt.Fprintf(c.errOut, "nexus: %v (the upload goes on, but could not resume if interrupted)\n", serr)
				rec.path = ""
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	bar.done()
	resp, err := fc.CommitUpload(ctx, connect.NewRequest(&nexusv1.CommitUploadRequest{UploadId: rec.UploadID}))
	if err != nil {
		if code := connect.CodeOf(err); code != connect.CodeUnavailable && code != connect.CodeDeadlineExceeded && code != connect.CodeCanceled {
			rec.forget() // refused as it is: resuming would be refused again
		}
		return nil, err
	}
	rec.forget()
	return resp.Msg.GetEntry(), nil
}

// progress draws a progress bar on stderr for transfers over a few MiB,
// only when stderr is a terminal.
type progress struct {
	w     io.Writer
	label string
	total int64
	last  time.Time
	on    bool
}

func newProgress(w io.Writer, label string, total int64) *progress {
	p := &progress{w: w, label: label, total: total}
	if f, ok := w.(*os.File); ok && (total < 0 || total > 4<<20) {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.on = true
		}
	}
	return p
}

func (p *progress) set(n int64) {
	if p == nil || !p.on || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	if p.total > 0 {
		pct := float64(n) / float64(p.total)
		bar := strings.Repeat("#", int(pct*30)) + strings.Repeat(".", 30-int(pct*30))
		fmt.Fprintf(p.w, "\r%s [%s] %3.0f%% %d/%d MiB", p.label, bar, pct*100, n>>20, p.total>>20)
	} else {
		fmt.Fprintf(p.w, "\r%s %d MiB", p.label, n>>20)
	}
}

func (p *progress) done() {
	if p != nil && p.on {
		p.last = time.Time{}
		p.set(p.total)
		fmt.Fprintln(p.w)
	}
}

// humanSize renders n bytes as ls -h does: 1023, 1.5K, 23M, 4.0G (powers
// of 1024; one decimal below 10).
func humanSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10)
	}
	v, unit := float64(n), ""
	for _, u := range []string{"K", "M", "G", "T", "P", "E"} {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64) + unit
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + unit
}
