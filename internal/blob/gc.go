package blob

import (
	"context"
	"fmt"
	"time"

	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// Run collects garbage until ctx ends: at start, temporary files abandoned by
// a crash and data files that no index record references; then, every
// GCInterval, uncommitted blocks older than BlockRetention and orphaned files.
func (s *Service) Run(ctx context.Context) error {
	if err := s.collect(ctx, s.started); err != nil && ctx.Err() == nil {
		s.log.ErrorContext(ctx, "blob garbage collection failed", logkey.Err, err)
	}
	tick := time.NewTicker(s.cfg.GCInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			// Files written in the last interval may belong to writes not yet indexed.
			if err := s.collect(ctx, fileCutoff(s.cfg.GCInterval)); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "blob garbage collection failed", logkey.Err, err)
			}
		}
	}
}

// fileCutoff is the wall-clock time age ago, the cutoff for sweeping files.
// It is the one place the blob service reads the wall clock rather than
// Config.Now: files are compared by their modification time, which the kernel
// stamps with the wall clock, so a cutoff from an injected (test) clock would
// sweep files still being written or never sweep at all.
func fileCutoff(age time.Duration) time.Time { return time.Now().Add(-age) }

// collect expires old uncommitted blocks, then removes temporary and data
// files last written before cutoff that nothing references.
func (s *Service) collect(ctx context.Context, cutoff time.Time) error {
	expired := 0
	before := s.now().Add(-s.cfg.BlockRetention)
	for {
		files, err := s.cfg.Store.BlobBlockExpire(ctx, before, 1000)
		if err != nil {
			return fmt.Errorf("expire blocks: %w", err)
		}
		s.files.release(files)
		expired += len(files)
		if len(files) < 1000 {
			break
		}
	}
	tmp, err := s.files.sweepTemp(cutoff)
	if err != nil {
		return fmt.Errorf("sweep temporary files: %w", err)
	}
	refs := map[string]bool{}
	if err := s.cfg.Store.BlobFileRefs(ctx, func(f string) error { refs[f] = true; return nil }); err != nil {
		return fmt.Errorf("list referenced files: %w", err)
	}
	orphans, err := s.files.sweepData(ctx, refs, cutoff)
	if err != nil {
		return fmt.Errorf("sweep data files: %w", err)
	}
	if expired+tmp+orphans > 0 {
		s.log.InfoContext(ctx, "blob garbage collected", logkey.ExpiredBlocks, expired, logkey.TempFiles, tmp, logkey.OrphanFiles, orphans)
	}
	return nil
}
