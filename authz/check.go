package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc/status"
)

// maxBulkItems is SpiceDB's limit on one CheckBulkPermissions call.
const maxBulkItems = 10_000

// maxUpdatesPerWrite is the most updates one SpiceDB write takes.
const maxUpdatesPerWrite = 1000

// lookupPageSize is how many results one lookup page asks for.
const lookupPageSize = 1000

// CheckItem is one question: may Subject have Permission on Resource?
type CheckItem struct {
	Resource   ObjectRef
	Permission string
	Subject    SubjectRef
}

func (c CheckItem) String() string {
	return c.Resource.String() + "#" + c.Permission + "@" + c.Subject.String()
}

// Decision is an answer, and the revision it was computed at.
type Decision struct {
	Allowed bool
	At      Token
	// Err, in an answer of CheckBulk, is why the engine could not decide
	// this item (its dispatch depth exceeded by a chain of folders or groups
	// too deep, say). Allowed is then false: the item is denied, fail
	// closed, and the denial is never cached. Callers that only filter may
	// ignore it; the SpiceDB API uses it to answer the item with its own
	// error, as SpiceDB does.
	Err error
}

// Failed reports whether any of ds is an item the engine could not decide.
func Failed(ds []Decision) bool {
	for _, d := range ds {
		if d.Err != nil {
			return true
		}
	}
	return false
}

// Checker answers permission questions. Every method takes a Consistency.
// A conditional answer (a caveat without its context) is a denial: the
// checker fails closed.
type Checker interface {
	Check(ctx context.Context, item CheckItem, c Consistency) (Decision, error)
	// CheckBulk answers each item, in order. It splits large batches itself.
	CheckBulk(ctx context.Context, items []CheckItem, c Consistency) ([]Decision, error)
	// LookupResources returns the ids of the objects of resourceType on which
	// subject has permission.
	LookupResources(ctx context.Context, resourceType, permission string, subject SubjectRef, c Consistency) ([]string, error)
	// LookupSubjects returns the ids of the subjects of subjectType (through
	// subjectRelation, if any) that have permission on resource.
	LookupSubjects(ctx context.Context, resource ObjectRef, permission, subjectType, subjectRelation string, c Consistency) ([]string, error)
}

var _ Checker = (*Engine)(nil)

// Check answers one question, from the decision cache when it may.
func (e *Engine) Check(ctx context.Context, item CheckItem, c Consistency) (Decision, error) {
	if e.cache != nil {
		return e.cache.check(ctx, item, c)
	}
	return e.checkEngine(ctx, item, e.cons(c))
}

// checkEngine asks the engine itself.
func (e *Engine) checkEngine(ctx context.Context, item CheckItem, cons *v1.Consistency) (Decision, error) {
	release, err := e.admission.admit(ctx)
	if err != nil {
		return Decision{}, err
	}
	defer release()
	start := time.Now()
	resp, err := e.perms.CheckPermission(ctx, &v1.CheckPermissionRequest{
		Consistency: cons,
		Resource:    item.Resource.proto(),
		Permission:  item.Permission,
		Subject:     item.Subject.proto(),
	})
	if err != nil {
		e.metrics.observe("check", start, 1, err)
		return Decision{}, wrapErr("check "+item.String(), err)
	}
	d := Decision{
		Allowed: resp.GetPermissionship() == v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION,
		At:      Token(resp.GetCheckedAt().GetToken()),
	}
	e.metrics.observe("check", start, 1, nil)
	e.metrics.decision(d.Allowed)
	return d, nil
}

// CheckBulk answers many questions with as few engine calls as it can:
// from the decision cache and the accessible sets when they may, else one
// engine call per 10,000 items. An item the engine cannot decide is denied
// with its Decision.Err set; the call fails only when the engine fails it
// as a whole.
func (e *Engine) CheckBulk(ctx context.Context, items []CheckItem, c Consistency) ([]Decision, error) {
	if e.cache != nil {
		return e.cache.checkBulk(ctx, items, c)
	}
	return e.checkBulkEngine(ctx, items, e.cons(c))
}

// checkBulkEngine asks the engine itself. Later batches are read at least as
// fresh as the first.
//
// An item the engine cannot decide is denied (Decision.Err), not the whole
// call: data that exceeds the engine's dispatch depth (a folder chain
// deeper than paths.MaxDepth, written before the file plane refused them)
// must not break every zone-wide listing or search for everyone else. And
// since SpiceDB evaluates the items of one resource type, permission and
// subject as one dispatch, where one item past the depth fails them all,
// failed items are asked again in halves until each failure stands alone:
// an innocent item is answered, and a batch with k bad items costs about
// 2k·log2(n) more calls, nothing without them.
func (e *Engine) checkBulkEngine(ctx context.Context, items []CheckItem, cons *v1.Consistency) ([]Decision, error) {
	release, err := e.admission.admit(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	out := make([]Decision, 0, len(items))
	for off := 0; off < len(items); off += maxBulkItems {
		batch := items[off:min(off+maxBulkItems, len(items))]
		ds, err := e.bulkOnce(ctx, batch, cons)
		if err != nil {
			return nil, err
		}
		if err := e.isolate(ctx, batch, ds, cons); err != nil {
			return nil, err
		}
		var failed []int
		for i, d := range ds {
			if d.Err != nil {
				failed = append(failed, i)
				e.metrics.failed()
			} else {
				e.metrics.decision(d.Allowed)
			}
		}
		if len(failed) > 0 {
			e.logger.Warn("authz: bulk check: items the engine could not decide are denied",
				"failed", len(failed), "items", len(batch), "first", batch[failed[0]].String(), "err", ds[failed[0]].Err)
		}
		out = append(out, ds...)
		// Later batches must be at least as fresh as the first.
		if at := ds[0].At; at != "" && !cons.GetFullyConsistent() {
			cons = AtLeastAsFresh(at).proto()
		}
	}
	return out, nil
}

// isolate asks the failed items of ds again, in halves, until each failure
// is an item that fails alone; it updates ds in place.
func (e *Engine) isolate(ctx context.Context, items []CheckItem, ds []Decision, cons *v1.Consistency) error {
	var failed []int
	for i, d := range ds {
		if d.Err != nil {
			failed = append(failed, i)
		}
	}
	if len(failed) == 0 || len(items) == 1 {
		return nil
	}
	if len(failed) == len(items) {
		// All failed together: split them.
		half := len(items) / 2
		for _, part := range [][2]int{{0, half}, {half, len(items)}} {
			sub := items[part[0]:part[1]]
			again, err := e.bulkOnce(ctx, sub, cons)
			if err != nil {
				return err
			}
			if err := e.isolate(ctx, sub, again, cons); err != nil {
				return err
			}
			copy(ds[part[0]:part[1]], again)
		}
		return nil
	}
	sub := make([]CheckItem, len(failed))
	for k, i := range failed {
		sub[k] = items[i]
	}
	again, err := e.bulkOnce(ctx, sub, cons)
	if err != nil {
		return err
	}
	if err := e.isolate(ctx, sub, again, cons); err != nil {
		return err
	}
	for k, i := range failed {
		ds[i] = again[k]
	}
	return nil
}

// bulkOnce is one CheckBulkPermissions call of at most maxBulkItems items.
func (e *Engine) bulkOnce(ctx context.Context, batch []CheckItem, cons *v1.Consistency) ([]Decision, error) {
	start := time.Now()
	req := &v1.CheckBulkPermissionsRequest{Consistency: cons, Items: make([]*v1.CheckBulkPermissionsRequestItem, len(batch))}
	for i, it := range batch {
		req.Items[i] = &v1.CheckBulkPermissionsRequestItem{
			Resource:   it.Resource.proto(),
			Permission: it.Permission,
			Subject:    it.Subject.proto(),
		}
	}
	resp, err := e.perms.CheckBulkPermissions(ctx, req)
	if err != nil {
		e.metrics.observe("check_bulk", start, len(batch), err)
		return nil, wrapErr("bulk check", err)
	}
	pairs := resp.GetPairs()
	if len(pairs) != len(batch) {
		e.metrics.observe("check_bulk", start, len(batch), ErrEngine)
		return nil, fmt.Errorf("authz: bulk check: %w: %d answers for %d items", ErrEngine, len(pairs), len(batch))
	}
	at := Token(resp.GetCheckedAt().GetToken())
	ds := make([]Decision, len(batch))
	for i, p := range pairs {
		if perr := p.GetError(); perr != nil {
			ds[i] = Decision{At: at, Err: wrapErr("bulk check "+batch[i].String(), status.ErrorProto(perr))}
			continue
		}
		ds[i] = Decision{Allowed: p.GetItem().GetPermissionship() == v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, At: at}
	}
	e.metrics.observe("check_bulk", start, len(batch), nil)
	return ds, nil
}

// LookupResources pages through SpiceDB's LookupResources.
func (e *Engine) LookupResources(ctx context.Context, resourceType, permission string, subject SubjectRef, c Consistency) ([]string, error) {
	ids, _, _, err := e.lookupResources(ctx, resourceType, permission, subject, e.cons(c), 0)
	return ids, err
}

// lookupResources pages through SpiceDB's LookupResources, stopping past
// limit ids if limit > 0 (more is then true). at is the revision of the
// answer.
func (e *Engine) lookupResources(ctx context.Context, resourceType, permission string, subject SubjectRef, cons *v1.Consistency, limit int) (ids []string, at Token, more bool, err error) {
	release, err := e.admission.admit(ctx)
	if err != nil {
		return nil, "", false, err
	}
	defer release()
	start := time.Now()
	var cursor *v1.Cursor
	// Every page must repeat the first call's arguments exactly; the cursor
	// keeps the revision of the first page.
	for {
		stream, err := e.perms.LookupResources(ctx, &v1.LookupResourcesRequest{
			Consistency:        cons,
			ResourceObjectType: resourceType,
			Permission:         permission,
			Subject:            subject.proto(),
			OptionalLimit:      lookupPageSize,
			OptionalCursor:     cursor,
		})
		if err != nil {
			e.metrics.observe("lookup_resources", start, 1, err)
			return nil, "", false, wrapErr("lookup resources", err)
		}
		n := 0
		for {
			r, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				e.metrics.observe("lookup_resources", start, 1, err)
				return nil, "", false, wrapErr("lookup resources", err)
			}
			n++
			cursor = r.GetAfterResultCursor()
			if at == "" {
				at = Token(r.GetLookedUpAt().GetToken())
			}
			if r.GetPermissionship() == v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_HAS_PERMISSION {
				ids = append(ids, r.GetResourceObjectId())
			}
		}
		if limit > 0 && len(ids) > limit {
			more = true
			break
		}
		if n < lookupPageSize || cursor == nil {
			break
		}
	}
	e.metrics.observe("lookup_resources", start, 1, nil)
	return ids, at, more, nil
}

// LookupSubjects returns the subjects with permission on resource. Wildcards
// are returned as "*".
func (e *Engine) LookupSubjects(ctx context.Context, resource ObjectRef, permission, subjectType, subjectRelation string, c Consistency) ([]string, error) {
	release, err := e.admission.admit(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	start := time.Now()
	stream, err := e.perms.LookupSubjects(ctx, &v1.LookupSubjectsRequest{
		Consistency:             c.proto(),
		Resource:                resource.proto(),
		Permission:              permission,
		SubjectObjectType:       subjectType,
		OptionalSubjectRelation: subjectRelation,
	})
	if err != nil {
		e.metrics.observe("lookup_subjects", start, 1, err)
		return nil, wrapErr("lookup subjects", err)
	}
	var ids []string
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			e.metrics.observe("lookup_subjects", start, 1, err)
			return nil, wrapErr("lookup subjects", err)
		}
		if r.GetSubject().GetPermissionship() == v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_HAS_PERMISSION {
			ids = append(ids, r.GetSubject().GetSubjectObjectId())
		}
	}
	e.metrics.observe("lookup_subjects", start, 1, nil)
	return ids, nil
}
