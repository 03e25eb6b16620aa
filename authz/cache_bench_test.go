package authz

import (
	"context"
	"fmt"
	nexus "github.com/nexus-authz/nexus"
	"testing"
	"time"
)

// BenchmarkCheck compares a cache hit with the engine's own check:
// go test -run XXX -bench Check -benchmem ./authz/
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cached=%v", cached), func(b *testing.B) {
			e, err := New(ctx, Config{Schema: nexus.Schema, Cache: CacheConfig{Disabled: !cached}})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			var items []CheckItem
			var ups []Update
			for i := range 100 {
				f := Obj("file", fmt.Sprintf("f%d", i))
				ups = append(ups, TouchRel(Rel(f, "viewer", Subject("user", "u"))))
				items = append(items, CheckItem{Resource: f, Permission: "read", Subject: Subject("user", "u")})
			}
			tok, err := e.Write(ctx, ups)
			if err != nil {
				b.Fatal(err)
			}
			for _, it := range items {
				if _, err := e.Check(ctx, it, AtLeastAsFresh(tok)); err != nil {
					b.Fatal(err)
				}
			}
			if cached {
				e.cache.decisions.Wait()
			}
			// Past the quantization window: minimize_latency sees the write.
			time.Sleep(2 * DefaultRevisionQuantization)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					d, err := e.Check(ctx, items[i%len(items)], MinimizeLatency())
					if err != nil || !d.Allowed {
						b.Fatal("wrong answer", err)
					}
					i++
				}
			})
		})
	}
}
