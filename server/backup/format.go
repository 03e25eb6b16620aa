package backup

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
)

// The dump is JSON lines, in this order:
//
//	{"format":"nexus-dump","version":1,"nexus":"v0.9.0","source":"sqlite","created_at":"..."}
//	{"schema":"definition user {}\n..."}
//	{"table":"identity_zones","columns":["id","name","created_at"]}
//	["zone_abc","default","2026-01-02T03:04:05.000000000Z"]
//	...                                       (each table: its header line, then its rows)
//	{"relationships":true}
//	"folder:f_1#parent@zone:zone_abc"
//	...                                       (one relationship a line, as zed writes them)
//	{"end":{"tables":{"identity_zones":1,...},"relationships":1234,"sha256":"..."}}
//
// A row is an array in its table's column order: text as a string, numbers
// as numbers, bytes as base64, NULL as null. The end line counts what came
// before it and carries the SHA-256 of every byte before it, so a dump cut
// short or altered is refused whole.

// Format names the dump in its first line.
const Format = "nexus-dump"

// Version is the version of the dump format this build writes and reads.
const Version = 1

// maxLine bounds one line: a chunk of content (1 MiB) in base64 is 1.4 MB.
const maxLine = 64 << 20

// ErrFormat wraps every way a dump can be unreadable: not a dump, a newer
// format, cut short, altered, or holding what this build does not know.
var ErrFormat = errors.New("not a readable dump")

type header struct {
	Format    string `json:"format"`
	Version   int    `json:"version"`
	Nexus     string `json:"nexus"`
	Source    string `json:"source"`
	CreatedAt string `json:"created_at"`
}

// section is any line that is a JSON object: the schema, a table's header,
// the start of the relationships, or the end.
type section struct {
	Schema        *string  `json:"schema,omitempty"`
	Table         string   `json:"table,omitempty"`
	Columns       []string `json:"columns,omitempty"`
	Relationships bool     `json:"relationships,omitempty"`
	End           *endLine `json:"end,omitempty"`
}

type endLine struct {
	Tables        map[string]int64 `json:"tables"`
	Relationships int64            `json:"relationships"`
	SHA256        string           `json:"sha256"`
}

// writer writes a dump's lines, hashing them.
type writer struct {
	w   *bufio.Writer
	sum hash.Hash
	n   int64 // bytes written
	buf bytes.Buffer
}

func newWriter(w io.Writer) *writer {
	return &writer{w: bufio.NewWriterSize(w, 1<<20), sum: sha256.New()}
}

// line writes v as one JSON line.
func (w *writer) line(v any) error {
	w.buf.Reset()
	enc := json.NewEncoder(&w.buf)
	enc.SetEscapeHTML(false) // schemas have arrows (->)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b := w.buf.Bytes() // with its newline
	w.sum.Write(b)
	w.n += int64(len(b))
	_, err := w.w.Write(b)
	return err
}

// end writes the end line and flushes.
func (w *writer) end(e endLine) error {
	e.SHA256 = hex.EncodeToString(w.sum.Sum(nil))
	b, err := json.Marshal(map[string]endLine{"end": e})
	if err != nil {
		return err
	}
	if _, err := w.w.Write(append(b, '\n')); err != nil {
		return err
	}
	return w.w.Flush()
}

// reader reads a dump's lines, hashing them, and numbers them for errors.
type reader struct {
	r    *bufio.Reader
	sum  hash.Hash
	line int
	n    int64 // bytes read
	// peeked is a line read but not yet taken.
	peeked []byte
}

// newReader reads a dump from r, gunzipping it if it is gzipped.
func newReader(r io.Reader) (*reader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: a gzip stream that does not open: %w", ErrFormat, err)
		}
		br = bufio.NewReaderSize(zr, 1<<20)
	}
	return &reader{r: br, sum: sha256.New()}, nil
}

// errorf is an error about the current line.
func (r *reader) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrFormat, r.line, fmt.Sprintf(format, args...))
}

// next returns the next line without its newline; a line that does not
// end in one means the dump was cut short.
func (r *reader) next() ([]byte, error) {
	if r.peeked != nil {
		b := r.peeked
		r.peeked = nil
		return b, nil
	}
	var buf []byte
	for {
		part, err := r.r.ReadSlice('\n')
		buf = append(buf, part...)
		if len(buf) > maxLine {
			r.line++
			return nil, r.errorf("longer than %d bytes", maxLine)
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			r.line++
			if len(buf) == 0 {
				return nil, fmt.Errorf("%w: the dump ends after line %d without its end line: it was cut short (a failed or interrupted export, or a partial copy)", ErrFormat, r.line-1)
			}
			return nil, fmt.Errorf("%w: line %d is cut short (no newline) and the end line is missing: the dump is truncated", ErrFormat, r.line)
		}
		return nil, err
	}
	r.line++
	r.n += int64(len(buf))
	return buf[:len(buf)-1], nil
}

// hashLine adds a line taken (not the end line) to the checksum.
func (r *reader) hashLine(b []byte) {
	r.sum.Write(b)
	r.sum.Write([]byte{'\n'})
}

// unread puts back the line last returned by next.
func (r *reader) unread(b []byte) { r.peeked = b }

// readHeader reads and checks the first line.
func (r *reader) readHeader() (header, error) {
	b, err := r.next()
	if err != nil {
		return header{}, err
	}
	var h header
	if err := json.Unmarshal(b, &h); err != nil || h.Format != Format {
		return header{}, fmt.Errorf("%w: the first line is not a nexus export --all header (%q); a file of relationships one a line is imported without --all", ErrFormat, abbrev(b))
	}
	if h.Version > Version {
		return header{}, fmt.Errorf("%w: the dump is format version %d (written by nexus %s); this nexus (format %d) cannot read it: import it with that version of nexus or newer",
			ErrFormat, h.Version, h.Nexus, Version)
	}
	if h.Version < 1 {
		return header{}, fmt.Errorf("%w: the dump's format version %d is not one nexus ever wrote", ErrFormat, h.Version)
	}
	r.hashLine(b)
	return h, nil
}

// checkEnd checks the end line against what was read.
func (r *reader) checkEnd(e *endLine, tables map[string]int64, rels int64) error {
	if got := hex.EncodeToString(r.sum.Sum(nil)); got != e.SHA256 {
		return fmt.Errorf("%w: the dump's checksum does not match its content (%s, not %s): it was altered or damaged after the export", ErrFormat, got, e.SHA256)
	}
	if e.Relationships != rels {
		return r.errorf("the end line counts %d relationships, the dump holds %d", e.Relationships, rels)
	}
	for name, n := range e.Tables {
		if tables[name] != n {
			return r.errorf("the end line counts %d rows of %s, the dump holds %d", n, name, tables[name])
		}
	}
	for name, n := range tables {
		if _, ok := e.Tables[name]; !ok {
			return r.errorf("the end line does not count table %s (%d rows)", name, n)
		}
	}
	if b, err := r.r.Peek(1); err == nil && len(b) > 0 {
		return r.errorf("there is more after the end line")
	}
	return nil
}

func abbrev(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}
