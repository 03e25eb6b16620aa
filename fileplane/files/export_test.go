package files

import "time"

// HoldGrepSlots takes every Grep slot of s, as that many running calls
// would; the returned func gives them back.
func HoldGrepSlots(s *Service) (release func()) {
	for range cap(s.grepSlots) {
		s.grepSlots <- struct{}{}
	}
	return func() {
		for range cap(s.grepSlots) {
			<-s.grepSlots
		}
	}
}

// SetNow sets the clock s reads (upload expiry).
func SetNow(s *Service, now func() time.Time) { s.now = now }
