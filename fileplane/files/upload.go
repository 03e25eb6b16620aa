package files

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/storage"
)

// Upload is an open chunked upload session.
type Upload struct {
	ID              string
	Zone, User      string
	Path            paths.Path
	Size            int64 // 0: unknown until commit
	ExpectedVersion int64
	CreateParents   bool
	MediaType       string
	CreatedAt       time.Time
	ExpiresAt       time.Time
}

// BeginUpload opens a chunked upload to path. size, if known, is checked
// at commit; the caller's permission to write there is checked now and
// again at commit.
func (s *Service) BeginUpload(ctx context.Context, c access.Caller, pathStr string, size int64, o WriteOptions) (Upload, error) {
	p, slash, err := paths.ParseField("path", pathStr)
	if err != nil {
		return Upload{}, err
	}
	if err := checkFilePath(p, slash); err != nil {
		return Upload{}, err
	}
	if size < 0 || size > s.limits.MaxFileBytes {
		return Upload{}, errs.E(errs.ResourceExhausted, "size %d is out of range; a file holds at most %d bytes", size, s.limits.MaxFileBytes)
	}
	if o.ExpectedVersion < MustNotExist {
		return Upload{}, errs.Invalid("expected_version", "%d: use a version > 0, 0 for any, or -1 for must not exist", o.ExpectedVersion)
	}
	if err := s.preflight(ctx, c, p, o.CreateParents); err != nil {
		return Upload{}, err
	}
	now := s.now()
	u := Upload{ID: storage.NewID("upl"), Zone: c.Zone, User: c.User, Path: p, Size: size, ExpectedVersion: o.ExpectedVersion,
		CreateParents: o.CreateParents, MediaType: o.MediaType, CreatedAt: now, ExpiresAt: now.Add(s.limits.UploadTTL)}
	_, err = s.db.ExecContext(ctx, `INSERT INTO files_uploads (id, zone_id, user_id, path, size, expected_version,
		create_parents, media_type, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Zone, u.User, string(u.Path), u.Size, u.ExpectedVersion, u.CreateParents, u.MediaType,
		storage.FormatTime(u.CreatedAt), storage.FormatTime(u.ExpiresAt))
	return u, storage.Translate(err)
}

// upload loads an upload of the caller's; another's, an unknown or an
// expired one is NotFound.
func (s *Service) upload(ctx context.Context, q storage.DBTX, c access.Caller, id string) (Upload, error) {
	var u Upload
	var p string
	var created, expires sql.NullString
	err := q.QueryRowContext(ctx, `SELECT id, zone_id, user_id, path, size, expected_version, create_parents, media_type,
		created_at, expires_at FROM files_uploads WHERE id = ?`, id).Scan(&u.ID, &u.Zone, &u.User, &p, &u.Size,
		&u.ExpectedVersion, &u.CreateParents, &u.MediaType, &created, &expires)
	notFound := errs.E(errs.NotFound, "upload %q not found (unknown, expired or committed)", id)
	if errors.Is(err, sql.ErrNoRows) {
		return Upload{}, notFound
	}
	if err != nil {
		return Upload{}, err
	}
	u.Path = paths.Path(p)
	u.CreatedAt, _ = storage.ParseTime(created)
	u.ExpiresAt, _ = storage.ParseTime(expires)
	if u.User != c.User || u.Zone != c.Zone || !s.now().Before(u.ExpiresAt) {
		return Upload{}, notFound
	}
	return u, nil
}

// AppendUpload stores one chunk of an upload at offset and returns the
// bytes received so far. Sending the same offset again replaces that chunk
// (a retry is safe).
func (s *Service) AppendUpload(ctx context.Context, c access.Caller, id string, offset int64, data []byte) (int64, error) {
	switch {
	case offset < 0:
		return 0, errs.Invalid("offset", "must not be negative")
	case len(data) == 0:
		return 0, errs.Invalid("data", "a chunk must not be empty")
	case int64(len(data)) > s.limits.MaxUnaryBytes:
		return 0, errs.E(errs.ResourceExhausted, "a chunk of %d bytes is over the %d-byte limit; send smaller chunks", len(data), s.limits.MaxUnaryBytes)
	}
	u, err := s.upload(ctx, s.db, c, id)
	if err != nil {
		return 0, err
	}
	limit := s.limits.MaxFileBytes
	if u.Size > 0 {
		limit = min(limit, u.Size)
	}
	// offset+len(data) > limit, without the sum: an offset near 2^63
	// would overflow it into a negative end that passes.
	if offset > limit-int64(len(data)) {
		return 0, errs.E(errs.ResourceExhausted, "a chunk of %d bytes at offset %d ends past the upload's %d bytes", len(data), offset, limit)
	}
	obj, err := s.content.Write(ctx, bytes.NewReader(data), s.limits.MaxUnaryBytes)
	if err != nil {
		return 0, err
	}
	var received int64
	err = storage.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := s.upload(ctx, tx, c, id); err != nil {
			return err
		}
		if err := s.content.Save(ctx, tx, obj); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO files_upload_parts (upload_id, "offset", size, content_hash)
			VALUES (?, ?, ?, ?) ON CONFLICT (upload_id, "offset") DO UPDATE SET size = excluded.size, content_hash = excluded.content_hash`, id, offset, obj.Size, obj.Hash.String()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM files_upload_parts WHERE upload_id = ?`, id).Scan(&received)
	})
	return received, err
}

type part struct {
	offset, size int64
	hash         string
}

// CommitUpload checks that the chunks cover [0, size) exactly — no gap, no
// overlap — and writes them as one new version of the file.
func (s *Service) CommitUpload(ctx context.Context, c access.Caller, id string) (Item, authz.Token, error) {
	u, err := s.upload(ctx, s.db, c, id)
	if err != nil {
		return Item{}, "", err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT "offset", size, content_hash FROM files_upload_parts WHERE upload_id = ? ORDER BY "offset"`, id)
	if err != nil {
		return Item{}, "", err
	}
	var parts []part
	for rows.Next() {
		var p part
		if err := rows.Scan(&p.offset, &p.size, &p.hash); err != nil {
			rows.Close()
			return Item{}, "", err
		}
		parts = append(parts, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Item{}, "", err
	}
	if err := checkParts(parts, u.Size); err != nil {
		return Item{}, "", err
	}
	objs := make([]content.Object, len(parts))
	for i, p := range parts {
		if objs[i], err = s.object(ctx, p.hash); err != nil {
			return Item{}, "", err
		}
	}
	obj, err := s.content.Concat(ctx, objs)
	if err != nil {
		return Item{}, "", err
	}
	mt := u.MediaType
	if mt == "" {
		head, _ := s.readHead(ctx, obj)
		mt = sniff(u.Path, head)
	}
	it, tok, err := s.commit(ctx, c, u.Path, obj, u.ExpectedVersion, u.CreateParents, mt)
	if err != nil {
		return Item{}, "", err
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM files_uploads WHERE id = ?`, id); err != nil {
		s.log.Warn("files: committed upload not removed; it expires on its own", "upload", id, "err", err)
	}
	return it, tok, nil
}

func checkParts(parts []part, size int64) error {
	sort.Slice(parts, func(i, j int) bool { return parts[i].offset < parts[j].offset })
	var next int64
	for _, p := range parts {
		switch {
		case p.offset > next:
			return errs.E(errs.FailedPrecondition, "bytes [%d, %d) are missing; append them before committing", next, p.offset)
		case p.offset < next:
			return errs.E(errs.FailedPrecondition, "chunks overlap at [%d, %d); resend the upload without overlaps", p.offset, min(next, p.offset+p.size))
		}
		next = p.offset + p.size
	}
	if size > 0 && next != size {
		return errs.E(errs.FailedPrecondition, "received %d of %d bytes; bytes [%d, %d) are missing", next, size, next, size)
	}
	if len(parts) == 0 {
		return errs.E(errs.FailedPrecondition, "the upload has no chunks")
	}
	return nil
}

func (s *Service) readHead(ctx context.Context, obj content.Object) ([]byte, error) {
	rc := s.content.NewReader(ctx, obj, 0, min(obj.Size, 512))
	defer rc.Close()
	buf := make([]byte, 512)
	n, err := rc.Read(buf)
	if n > 0 {
		return buf[:n], nil
	}
	return nil, fmt.Errorf("reading head: %w", err)
}

// ExpireUploads deletes upload sessions past their expiry; their content
// is then collected by the content GC.
func (s *Service) ExpireUploads(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM files_uploads WHERE expires_at <= ?`, storage.FormatTime(s.now()))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
