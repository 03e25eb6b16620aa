package search

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/storage"
)

// DefaultMaxIndexBytes is how much of a file's text is indexed.
const DefaultMaxIndexBytes = 1 << 20

// indexBatch is how many queued entries one transaction indexes.
const indexBatch = 64

// Indexer keeps the index in step with the file plane. Changes are queued
// (Enqueue) in the transaction that makes them, so none is lost to a crash;
// the indexer drains the queue in the background (Run) and before every
// search (CatchUp), so a search sees the writes that committed before it.
type Indexer struct {
	db       *sql.DB
	store    Store
	entries  paths.Store
	content  *content.Store
	maxBytes int64
	log      *slog.Logger

	mu   sync.Mutex // one drain at a time
	kick chan struct{}
}

// NewIndexer returns an Indexer. maxBytes bounds the text indexed per file
// (0: DefaultMaxIndexBytes).
func NewIndexer(db *sql.DB, store Store, entries paths.Store, cs *content.Store, maxBytes int64, log *slog.Logger) *Indexer {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxIndexBytes
	}
	if log == nil {
		log = slog.Default()
	}
	return &Indexer{db: db, store: store, entries: entries, content: cs, maxBytes: maxBytes, log: log, kick: make(chan struct{}, 1)}
}

// Enqueue records, in tx, that ids changed (content written, created,
// deleted). It is the file plane's change hook.
func (ix *Indexer) Enqueue(ctx context.Context, tx *sql.Tx, ids []paths.EntryID) error {
	ss := make([]string, len(ids))
	for i, id := range ids {
		ss[i] = string(id)
	}
	if err := ix.store.Enqueue(ctx, tx, ss); err != nil {
		return err
	}
	select {
	case ix.kick <- struct{}{}:
	default:
	}
	return nil
}

// Run drains the queue whenever a change is enqueued, and every interval
// in case a kick came before its transaction committed, until ctx is done.
func (ix *Indexer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := ix.CatchUp(ctx, 0); err != nil && ctx.Err() == nil {
			ix.log.Warn("search: indexing", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ix.kick:
			time.Sleep(10 * time.Millisecond) // let the enqueuing transaction commit
		case <-t.C:
		}
	}
}

// CatchUp indexes queued changes until the queue is empty or, if budget >
// 0, budget has passed. It returns how many entries it processed.
func (ix *Indexer) CatchUp(ctx context.Context, budget time.Duration) (int, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	start := time.Now()
	n := 0
	for budget <= 0 || time.Since(start) < budget {
		items, err := ix.store.Pending(ctx, ix.db, indexBatch)
		if err != nil || len(items) == 0 {
			return n, err
		}
		if err := ix.index(ctx, items); errors.Is(err, ErrQueueTaken) {
			continue // another node indexed some of them: read the queue again
		} else if err != nil {
			return n, err
		}
		n += len(items)
	}
	return n, nil
}

// index brings the documents of items up to date and takes them off the
// queue, in one transaction. Content is read before it: an entry changed
// meanwhile was queued again and is indexed again.
func (ix *Indexer) index(ctx context.Context, items []Pending) error {
	type change struct {
		entry string
		doc   *Doc // nil: delete
	}
	var changes []change
	done := map[string]bool{}
	for _, it := range items {
		if done[it.Entry] {
			continue
		}
		done[it.Entry] = true
		doc, keep, err := ix.document(ctx, paths.EntryID(it.Entry))
		if err != nil {
			return err
		}
		if keep {
			continue
		}
		changes = append(changes, change{entry: it.Entry, doc: doc})
	}
	return storage.InTx(ctx, ix.db, func(tx *sql.Tx) error {
		for _, c := range changes {
			var err error
			if c.doc == nil {
				err = ix.store.Delete(ctx, tx, c.entry)
			} else {
				err = ix.store.Upsert(ctx, tx, *c.doc)
			}
			if err != nil {
				return err
			}
		}
		return ix.store.Done(ctx, tx, items)
	})
}

// document returns what the index should hold for id: its document, nil
// (nothing: missing, a folder, binary), or keep when the index is current.
func (ix *Indexer) document(ctx context.Context, id paths.EntryID) (doc *Doc, keep bool, err error) {
	e, err := ix.entries.Get(ctx, ix.db, id)
	if errors.Is(err, errs.NotFound) || (err == nil && e.Kind != paths.File) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if h, err := ix.store.IndexedHash(ctx, ix.db, string(id)); err == nil && h == e.ContentHash {
		return nil, true, nil
	}
	text, ok, err := ix.text(ctx, e)
	if err != nil || !ok {
		return nil, false, err
	}
	return &Doc{Entry: string(e.ID), Zone: e.Zone, Hash: e.ContentHash, Body: text}, false, nil
}

// text reads up to maxBytes of e's content; ok is false for binary content.
func (ix *Indexer) text(ctx context.Context, e paths.Entry) (string, bool, error) {
	if e.Size == 0 {
		return "", false, nil
	}
	h, err := content.ParseHash(e.ContentHash)
	if err != nil {
		return "", false, err
	}
	obj, err := ix.content.Object(ctx, ix.db, h)
	if err != nil {
		return "", false, err
	}
	rc := ix.content.NewReader(ctx, obj, 0, min(obj.Size, ix.maxBytes))
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return "", false, err
	}
	if IsBinary(b) {
		return "", false, nil
	}
	return string(bytes.ToValidUTF8(b, []byte(" "))), true, nil
}

// IsBinary reports whether b looks like binary content: a NUL byte in its
// first 8 KiB, or invalid UTF-8 there (a truncated last rune is fine).
func IsBinary(b []byte) bool {
	head := b[:min(len(b), 8<<10)]
	if bytes.IndexByte(head, 0) >= 0 {
		return true
	}
	for len(head) > 0 {
		r, size := utf8.DecodeRune(head)
		if r == utf8.RuneError && size <= 1 {
			return len(head) >= utf8.UTFMax || utf8.FullRune(head)
		}
		head = head[size:]
	}
	return false
}
