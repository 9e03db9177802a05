package ui

import "sync"

// streamSlots counts the live streams open per client address and in
// total, so open pages (each holding a connection and a poller) cannot
// grow without bound.
type streamSlots struct {
	perClient, total int

	mu       sync.Mutex
	open     int
	byClient map[string]int
}

func newStreamSlots(perClient, total int) *streamSlots {
	return &streamSlots{perClient: perClient, total: total, byClient: map[string]int{}}
}

// take reserves a slot for client; release gives it back.
func (s *streamSlots) take(client string) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open >= s.total || s.byClient[client] >= s.perClient {
		return nil, false
	}
	s.open++
	s.byClient[client]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.open--
		if s.byClient[client]--; s.byClient[client] <= 0 {
			delete(s.byClient, client)
		}
	}, true
}
