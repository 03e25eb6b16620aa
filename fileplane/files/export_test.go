package files

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
