package revisions

import (
	"context"
	"time"

	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/spiceerrors"
	log "github.com/nexus-authz/nexus/authz/memdb/internal/logging"
)

// RemoteNowFunction queries the datastore to get a current revision and the
// schema hash visible at that revision. Implementations that do not have a
// schema hash on this code path may return "".
type RemoteNowFunction func(context.Context) (datastore.Revision, string, error)

// RemoteNowOnlyFunction queries the datastore to get a current revision only,
// without reading the schema hash. Used by CheckRevision where the hash is
// not needed; allows backends to skip a schema_revision subquery.
type RemoteNowOnlyFunction func(context.Context) (datastore.Revision, error)

// RemoteClockRevisions handles revision calculation for datastores that provide
// their own clocks.
type RemoteClockRevisions struct {
	*CachedOptimizedRevisions

	gcWindowNanos          int64
	nowFunc                RemoteNowFunction
	nowOnlyFunc            RemoteNowOnlyFunction
	followerReadDelayNanos int64
	quantizationNanos      int64
}

// NewRemoteClockRevisions returns a RemoteClockRevisions for the given configuration
func NewRemoteClockRevisions(gcWindow, maxRevisionStaleness, followerReadDelay, quantization time.Duration) *RemoteClockRevisions {
	// Ensure the max revision staleness never exceeds the GC window.
	if maxRevisionStaleness > gcWindow {
		log.Warn().
			Dur("maxRevisionStaleness", maxRevisionStaleness).
			Dur("gcWindow", gcWindow).
			Msg("the configured maximum revision staleness exceeds the configured gc window, so capping to gcWindow")
		maxRevisionStaleness = gcWindow - 1
	}

	revisions := &RemoteClockRevisions{
		CachedOptimizedRevisions: NewCachedOptimizedRevisions(
			maxRevisionStaleness,
		),
		gcWindowNanos:          gcWindow.Nanoseconds(),
		followerReadDelayNanos: followerReadDelay.Nanoseconds(),
		quantizationNanos:      quantization.Nanoseconds(),
	}

	revisions.SetOptimizedRevisionFunc(revisions.optimizedRevisionFunc)

	return revisions
}

func (rcr *RemoteClockRevisions) optimizedRevisionFunc(ctx context.Context) (datastore.Revision, time.Duration, string, error) {
	nowRev, schemaHash, err := rcr.nowFunc(ctx)
	if err != nil {
		return datastore.NoRevision, 0, "", err
	}

	if nowRev == datastore.NoRevision {
		return datastore.NoRevision, 0, "", datastore.NewInvalidRevisionErr(nowRev, datastore.CouldNotDetermineRevision)
	}

	nowTS, ok := nowRev.(WithTimestampRevision)
	if !ok {
		return datastore.NoRevision, 0, "", spiceerrors.MustBugf("expected with-timestamp revision, got %T", nowRev)
	}

	delayedNow := nowTS.TimestampNanoSec() - rcr.followerReadDelayNanos
	quantized := delayedNow
	validForNanos := int64(0)
	if rcr.quantizationNanos > 0 {
		afterLastQuantization := delayedNow % rcr.quantizationNanos
		quantized -= afterLastQuantization
		validForNanos = rcr.quantizationNanos - afterLastQuantization
	}
	log.Ctx(ctx).Debug().
		Time("quantized", time.Unix(0, quantized)).
		Int64("readSkew", rcr.followerReadDelayNanos).
		Int64("totalSkew", nowTS.TimestampNanoSec()-quantized).
		Msg("revision skews")

	return nowTS.ConstructForTimestamp(quantized), time.Duration(validForNanos) * time.Nanosecond, schemaHash, nil
}

// SetNowFunc sets the function used to determine the head revision
func (rcr *RemoteClockRevisions) SetNowFunc(nowFunc RemoteNowFunction) {
	rcr.nowFunc = nowFunc
}

// SetNowOnlyFunc sets a timestamp-only revision function used by CheckRevision.
// Datastores that implement this can elide a schema-hash subquery on
// revision-validation paths. If unset, CheckRevision falls back to nowFunc and
// discards the hash.
func (rcr *RemoteClockRevisions) SetNowOnlyFunc(nowOnlyFunc RemoteNowOnlyFunction) {
	rcr.nowOnlyFunc = nowOnlyFunc
}

func (rcr *RemoteClockRevisions) CheckRevision(ctx context.Context, dsRevision datastore.Revision) error {
	if dsRevision == datastore.NoRevision {
		return datastore.NewInvalidRevisionErr(dsRevision, datastore.CouldNotDetermineRevision)
	}

	revision := dsRevision.(WithTimestampRevision)

	ctx, span := tracer.Start(ctx, "CheckRevision")
	defer span.End()

	// Make sure the system time indicated is within the software GC window.
	// Use nowOnlyFunc when available to avoid reading the schema hash unnecessarily.
	var now datastore.Revision
	var err error
	if rcr.nowOnlyFunc != nil {
		now, err = rcr.nowOnlyFunc(ctx)
	} else {
		now, _, err = rcr.nowFunc(ctx)
	}
	if err != nil {
		return err
	}

	nowTS, ok := now.(WithTimestampRevision)
	if !ok {
		return spiceerrors.MustBugf("expected HLC revision, got %T", now)
	}

	nowNanos := nowTS.TimestampNanoSec()
	revisionNanos := revision.TimestampNanoSec()

	isStale := revisionNanos < (nowNanos - rcr.gcWindowNanos)
	if isStale {
		log.Ctx(ctx).Debug().Stringer("now", now).Stringer("revision", revision).Msg("stale revision")
		return datastore.NewInvalidRevisionErr(revision, datastore.RevisionStale)
	}

	isUnknown := revisionNanos > nowNanos
	if isUnknown {
		log.Ctx(ctx).Debug().Stringer("now", now).Stringer("revision", revision).Msg("unknown revision")
		return datastore.NewInvalidRevisionErr(revision, datastore.CouldNotDetermineRevision)
	}

	return nil
}
